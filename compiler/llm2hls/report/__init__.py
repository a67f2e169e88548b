"""Compile reports: per-stage shapes, types, costs (from each op kind's ``cost``) and results."""

from .build import build_report, render_markdown, write_report

__all__ = ["build_report", "render_markdown", "write_report"]
