"""Reports on a study: best-recipe export, parameter importances, tables and plots."""

from autokd.report._analysis import Analysis
from autokd.report._analysis import analyse_study
from autokd.report._export import export_best
from autokd.report._export import load_study
from autokd.report._report import compute_importances
from autokd.report._report import write_report

__all__ = [
    "Analysis",
    "analyse_study",
    "compute_importances",
    "export_best",
    "load_study",
    "write_report",
]
