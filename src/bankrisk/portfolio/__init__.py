"""Portfolio scoring: a file of customers in, one row of scores per customer out.

`local` streams a CSV, Parquet or UCI .xls file through a bundle in chunks on one machine;
`spark` runs the same chunk scoring (`columns`) on a Spark cluster. Both give the API's values.
"""
