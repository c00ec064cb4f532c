"""tinymoat.export.latency: latency harnesses (host, Android phones, Linux boards) and reports.

Every harness writes the same result format, `tinymoat.latency/1` (`schema.py`,
`result.schema.json`), with statistics defined once in `stats.py`.
Command-line tools: `tinymoat-bench` (`cli.py`) and `tinymoat-report` (`report.py`).
"""

from .schema import SCHEMA, SchemaError, build_result, validate

__all__ = ["SCHEMA", "SchemaError", "build_result", "validate"]
