"""Human-readable output: a self-contained HTML report (inline CSS and SVG, no network needed)."""

from samplescope.report.build import build_report, explain_examples, run_full
from samplescope.report.html import SECTIONS, write_report

__all__ = ["SECTIONS", "build_report", "explain_examples", "run_full", "write_report"]
