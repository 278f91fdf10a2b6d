"""Human-readable output: a self-contained HTML report."""

from samplescope.report.html import write_report

__all__ = ["write_report"]
