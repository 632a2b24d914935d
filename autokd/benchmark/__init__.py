"""Benchmarks of a study's winner: no distillation and the literature, at equal budget."""

from autokd.benchmark._baselines import LITERATURE
from autokd.benchmark._baselines import NO_KD
from autokd.benchmark._baselines import PAPER_PAIRS
from autokd.benchmark._baselines import baseline_names
from autokd.benchmark._baselines import baseline_recipe
from autokd.benchmark._benchmark import WINNER
from autokd.benchmark._benchmark import BenchmarkResult
from autokd.benchmark._benchmark import SearchCost
from autokd.benchmark._benchmark import lr_grid
from autokd.benchmark._benchmark import run_benchmark
from autokd.benchmark._benchmark import search_cost
from autokd.benchmark._output import render_markdown
from autokd.benchmark._output import render_text
from autokd.benchmark._output import summary
from autokd.benchmark._stats import PairedDifference
from autokd.benchmark._stats import paired_difference

__all__ = [
    "LITERATURE",
    "NO_KD",
    "PAPER_PAIRS",
    "WINNER",
    "BenchmarkResult",
    "PairedDifference",
    "SearchCost",
    "baseline_names",
    "baseline_recipe",
    "lr_grid",
    "paired_difference",
    "render_markdown",
    "render_text",
    "run_benchmark",
    "search_cost",
    "summary",
]
