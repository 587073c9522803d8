"""Runs Spark SQL statements (PyPI `pyspark`, local mode) for the Parquet tests over the
Parquet file(s) named on the command line, registered as the view `events`: a JSON list
of statements on stdin, a JSON list of their result rows on stdout. Bytes are printed as
lowercase hex, times as ISO 8601."""
import datetime
import json
import sys

from pyspark.sql import SparkSession


def plain(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


statements = json.load(sys.stdin)
spark = (
    SparkSession.builder.master("local[2]")
    .appName("auditlog-parquet-test")
    .config("spark.ui.enabled", "false")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.sql.session.timeZone", "UTC")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")
spark.read.parquet(*sys.argv[1:]).createOrReplaceTempView("events")
results = []
for sql in statements:
    rows = spark.sql(sql).collect()
    results.append([[plain(v) for v in row] for row in rows])
spark.stop()
json.dump(results, sys.stdout)
