"""Runs SQL statements for the Parquet tests: `sql_query.py duckdb` with DuckDB (PyPI
`duckdb`), `sql_query.py spark VIEW=PATH…` with Spark (PyPI `pyspark`, local mode), each
view over the Parquet at PATH (a file, or a glob of files). A JSON list of statements on
stdin, a JSON list of their result rows on stdout; bytes printed as lowercase hex, times
as ISO 8601."""
import datetime
import json
import sys


def plain(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


def duckdb_runner():
    import duckdb

    connection = duckdb.connect()
    return lambda sql: connection.execute(sql).fetchall(), lambda: None


def spark_runner(views):
    from pyspark.sql import SparkSession

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
    for view in views:
        name, path = view.split("=", 1)
        spark.read.parquet(path).createOrReplaceTempView(name)
    return lambda sql: spark.sql(sql).collect(), spark.stop


statements = json.load(sys.stdin)
engine = sys.argv[1]
run, stop = duckdb_runner() if engine == "duckdb" else spark_runner(sys.argv[2:])
results = [[[plain(v) for v in row] for row in run(sql)] for sql in statements]
stop()
json.dump(results, sys.stdout)
