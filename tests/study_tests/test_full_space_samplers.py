"""The full digits space (search_spaces/digits_full.yaml) runs with every sampler.

Each sampler gets a 3-trial, 2-epoch study (300 training images) of the full space:
choose-k over the response losses, every feature loss with auto pairs and auto projectors, a
weight schedule, student, optimiser and augmentation knobs. Grid is left out: the space's
float ranges have no step.
"""

from __future__ import annotations

from pathlib import Path
import textwrap

import optuna
from optuna.trial import TrialState
import pytest

from autokd.cli import main
from autokd.config import StudyConfig
from tests.conftest import REPO

SAMPLERS = {
    "tpe": {"n_startup_trials": 1},
    "random": {},
    "cmaes": {"n_startup_trials": 1},
    "gp": {"n_startup_trials": 1},
    "nsgaii": {"population_size": 2},
    "nsgaiii": {"population_size": 2},
    "qmc": {},
}

STUDY = """\
study:
  name: full_{sampler}
  n_trials: 3
  sampler: {{name: {sampler}, seed: 0, params: {params}}}
  output_dir: {out}
data: {{name: digits, train_size: 300}}
teacher:
  model: {{family: cnn, width: 1.0, depth: 1}}
  optim: {{lr: 0.05, epochs: 4, batch_size: 128}}
search_space: space.yaml
device: cpu
"""


@pytest.mark.slow
@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_full_space_runs_with_every_sampler(tmp_path: Path, sampler: str) -> None:
    (tmp_path / "space.yaml").write_text(
        textwrap.dedent(f"""\
        extends: {REPO / "search_spaces" / "digits_full.yaml"}
        optim: {{epochs: 2}}
        """)
    )
    study_file = tmp_path / "study.yaml"
    study_file.write_text(
        STUDY.format(sampler=sampler, params=SAMPLERS[sampler] or "{}", out=tmp_path / "run")
    )
    assert main(["run", str(study_file), "--no-progress"]) == 0
    config = StudyConfig.from_yaml(study_file)
    study = optuna.load_study(study_name=f"full_{sampler}", storage=config.storage_url())
    trials = study.get_trials()
    assert len(trials) == 3
    assert any(t.state == TrialState.COMPLETE for t in trials), [t.state for t in trials]
    # The hidden choose-k parameter decides which response terms are on.
    for t in trials:
        assert "distill.choose" in t.params
