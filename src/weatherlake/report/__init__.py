"""The daily health report: what the lake and the pipeline did on one UTC day, and what
to do about each problem (``weatherlake report``; docs/operations.md)."""
