"""Shared fixtures: tiny study files written into a temporary folder."""

from __future__ import annotations

from pathlib import Path
import textwrap

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

TINY_SPACE = """\
seed: 0
student:
  family: cnn
  width: {type: float, low: 0.25, high: 0.5, step: 0.25}
  depth: 1
optim:
  lr: {type: float, low: 0.03, high: 0.2, log: true}
  epochs: 3
  batch_size: 128
distill:
  temperature: {schedule: constant, value: {type: float, low: 2.0, high: 6.0}}
  alpha:
    schedule:
      type: categorical
      choices:
        constant: {value: {type: float, low: 0.3, high: 0.9}}
        linear:
          start: {type: float, low: 0.0, high: 0.3}
          end: {type: float, low: 0.5, high: 0.9}
  terms:
    kd: {weight: 1.0}
    at:
      enabled:
        type: categorical
        choices:
          true:
            weight: {type: float, low: 10.0, high: 100.0, log: true}
            pair: {type: categorical, choices: ["stages.1 -> stages.1", "stages.2 -> stages.2"]}
          false: null
"""

TINY_STUDY = """\
study:
  name: tiny
  n_trials: {n_trials}
  sampler: {{name: tpe, seed: 0, params: {{n_startup_trials: 3}}}}
  pruner: {{name: median, params: {{n_startup_trials: 2, n_warmup_steps: 0}}}}
  output_dir: {out}
data: {{name: digits}}
teacher:
  model: {{family: cnn, width: 1.0, depth: 1}}
  optim: {{lr: 0.05, epochs: 4, batch_size: 128}}
search_space: space.yaml
device: cpu
"""


def digits_teacher(folder: Path, *, epochs: int = 2, batch_size: int = 128) -> dict:
    """A briefly trained digits CNN teacher (width 1) saved in ``folder``, as a recipe's
    ``teacher`` mapping."""
    import torch

    from autokd.engine import train_recipe
    from autokd.models import file_sha256
    from autokd.recipe import Recipe

    plain = Recipe.from_dict(
        {"student": {"width": 1.0}, "optim": {"epochs": epochs, "batch_size": batch_size}}
    )
    path = Path(folder) / "teacher.pt"
    torch.save(train_recipe(plain).student.state_dict(), path)
    return {
        "model": {"family": "cnn", "width": 1.0},
        "checkpoint": str(path),
        "sha256": file_sha256(path),
    }


def write_study(folder: Path, *, n_trials: int = 4, space: str = TINY_SPACE) -> Path:
    """Writes study.yaml + space.yaml into ``folder``; results go to ``folder/run``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "space.yaml").write_text(textwrap.dedent(space))
    study = folder / "study.yaml"
    study.write_text(TINY_STUDY.format(n_trials=n_trials, out=folder / "run"))
    return study


@pytest.fixture
def tiny_study(tmp_path: Path) -> Path:
    return write_study(tmp_path)
