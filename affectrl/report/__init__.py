"""Reports: run folders -> tables, significance tests, plots and an offline HTML page."""

from .build import build_report
from .collect import RunRecord, collect_runs

__all__ = ["RunRecord", "build_report", "collect_runs"]
