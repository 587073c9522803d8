"""Runs SQL statements with DuckDB (PyPI `duckdb`) for the Parquet tests: a JSON list of
statements on stdin, a JSON list of their result rows on stdout. Bytes are printed as
lowercase hex, times as ISO 8601."""
import datetime
import json
import sys

import duckdb


def plain(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


statements = json.load(sys.stdin)
connection = duckdb.connect()
results = []
for sql in statements:
    rows = connection.execute(sql).fetchall()
    results.append([[plain(v) for v in row] for row in rows])
json.dump(results, sys.stdout)
