"""The README's claim on the embedded default, end to end (slow: a full study and benchmark)."""

from __future__ import annotations

from pathlib import Path
import shutil

import pytest

from autokd.benchmark import run_benchmark
from autokd.config import StudyConfig
from autokd.study import run_study

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_default_study_beats_no_kd_and_kd_beyond_the_interval(tmp_path: Path) -> None:
    # Rule (README, "What you get"): on studies/digits.yaml the winner beats no distillation
    # and KD T=4/alpha=0.9 with the 95% interval of the paired difference over the README's 20
    # seeds above zero (CPU training is deterministic per machine, not across machines).
    for folder in ("studies", "search_spaces"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    config = StudyConfig.from_yaml(tmp_path / "studies" / "digits.yaml")
    section = config.study.model_copy(update={"output_dir": str(tmp_path / "run")})
    config = config.model_copy(update={"study": section})
    run_study(config, progress=False)
    result = run_benchmark(config, seeds=list(range(20)), baselines=["no_kd", "kd"])
    for name in ("no_kd", "kd"):
        diff = result.diffs[name]
        assert diff.verdict == "better", (name, diff)
