"""A table of bad inputs through the CLI: exit code 2, one line naming the culprit, no files.

Every row starts from a tiny digits study (one trial, one epoch) that would run in seconds,
breaks one thing, runs a command and checks the rule of DESIGN.md "Errors": the user gets one
line on stderr that names the offending file or key, no traceback, exit code 2, and nothing is
written (the folder holds exactly the input files afterwards). The cases complement
``test_bad_input.py``, which covers other keys.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import os
from pathlib import Path
import subprocess
import sys

import pytest

from autokd.cli import main
from tests.conftest import REPO
from tests.conftest import TINY_SPACE
from tests.conftest import write_study

#: The tiny space with one-epoch trials: a case that slipped past validation stays quick.
SPACE = TINY_SPACE.replace("epochs: 3", "epochs: 1")

#: A recipe that validates (it needs no teacher: alpha 0 and no terms).
RECIPE = """\
schema_version: 1
data: {name: digits}
student: {family: cnn, width: 0.25, depth: 1}
optim: {lr: 0.05, epochs: 1, batch_size: 128}
distill: {alpha: 0.0, terms: {}}
"""


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad input: how to break the tiny study, which command, what the line must name."""

    id: str
    #: Replacements (old, new) in study.yaml, then in space.yaml; each ``old`` must occur.
    study: tuple[tuple[str, str], ...] = ()
    space: tuple[tuple[str, str], ...] = ()
    #: Extra files, by name relative to the folder (str: text, bytes: raw).
    files: tuple[tuple[str, str | bytes], ...] = ()
    #: Builds files that need code (a checkpoint, a dataset); gets the folder.
    make: Callable[[Path], None] | None = None
    #: The command; ``{study}``, ``{space}`` and ``{dir}`` are filled in.
    argv: tuple[str, ...] = ("run", "{study}", "--no-progress")
    #: Each must appear in the error line (the file, the key path, the value).
    names: tuple[str, ...] = ()


def _edit(old: str, new: str) -> tuple[tuple[str, str], ...]:
    return ((old, new),)


def _torch_save(path: Path, family: str, classes: int, **knobs: float) -> None:
    import torch

    from autokd.models import build_model
    from autokd.recipe import ModelSpec

    net = build_model(ModelSpec(family=family, **knobs), in_channels=1, num_classes=classes)
    torch.save(net.state_dict(), path)


def _checkpoint_of(family: str, classes: int, **knobs: float) -> Callable[[Path], None]:
    return lambda folder: _torch_save(folder / "t.pt", family, classes, **knobs)


def _mnist_without(name: str) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        from autokd.testing.fake_data import write_idx

        write_idx(folder / "mnist", n_train=60, n_test=20)
        (folder / "mnist" / name).unlink()

    return make


def _cifar_garbage(folder: Path) -> None:
    from autokd.testing.fake_data import write_cifar

    root = write_cifar(folder / "cifar", num_classes=10, n_train=50, n_test=20)
    victim = next(p for p in root.rglob("data_batch_1") if p.is_file())
    victim.write_bytes(b"\x80\x04 not a pickle at all \x00\xff" * 8)


def _imagefolder_garbage(folder: Path) -> None:
    from autokd.testing.fake_data import write_imagefolder

    root = write_imagefolder(folder / "imgs", classes=("ant", "bee"), per_class=8, size=8)
    (root / "train" / "bee" / "img_0003.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")


CKPT = _edit("teacher:\n", "teacher:\n  checkpoint: t.pt\n")
MNIST = _edit("data: {name: digits}", "data: {name: mnist, root: mnist}")
CIFAR = _edit("data: {name: digits}", "data: {name: cifar10, root: cifar}")

CASES = [
    # --- malformed YAML ----------------------------------------------------------------------
    Case("study-yaml-syntax", study=_edit("  name: tiny", "  name: {tiny"), names=("study.yaml",)),
    Case("space-yaml-syntax", space=_edit("seed: 0\n", "seed: [0\n"), names=("space.yaml",)),
    Case(
        "study-top-level-list", files=(("study.yaml", "- study\n- data\n"),), names=("study.yaml",)
    ),
    Case("study-empty", files=(("study.yaml", ""),), names=("study.yaml", "mapping")),
    Case("space-top-level-scalar", files=(("space.yaml", "42\n"),), names=("space.yaml",)),
    Case(
        "recipe-yaml-syntax",
        files=(("r.yaml", "schema_version: 1\nstudent: {family: cnn\n"),),
        argv=("train", "{dir}/r.yaml"),
        names=("r.yaml",),
    ),
    Case(
        "study-binary-garbage",
        files=(("study.yaml", b"\xff\xfe\x00garbage\x9c"),),
        names=("study.yaml",),
    ),
    # --- unknown keys -----------------------------------------------------------------------
    Case(
        "study-section-unknown-key",
        study=_edit("  n_trials: 1", "  n_trials: 1\n  n_trails: 2"),
        names=("study.yaml", "study.n_trails", "n_trials"),
    ),
    Case(
        "data-unknown-key",
        study=_edit("data: {name: digits}", "data: {name: digits, val_fracton: 0.1}"),
        names=("study.yaml", "data.val_fracton", "val_fraction"),
    ),
    Case(
        "teacher-model-unknown-key",
        study=_edit("width: 1.0, depth: 1}", "widht: 1.0, depth: 1}"),
        names=("study.yaml", "teacher.model.widht", "width"),
    ),
    Case(
        "study-top-level-unknown-key",
        study=_edit("device: cpu", "device: cpu\nsearch_spaces: space.yaml"),
        names=("study.yaml", "search_spaces"),
    ),
    Case(
        "space-unknown-section",
        space=_edit("optim:\n", "optimm:\n"),
        names=("space.yaml", "optimm", "optim"),
    ),
    Case(
        "space-distribution-unknown-key",
        space=_edit("high: 0.2, log: true}", "high: 0.2, lg: true}"),
        names=("space.yaml", "optim.lr.lg"),
    ),
    Case(
        "recipe-unknown-key",
        files=(("r.yaml", RECIPE + "optimiser: {lr: 0.1}\n"),),
        argv=("train", "{dir}/r.yaml"),
        names=("r.yaml", "optimiser"),
    ),
    Case(
        "sampler-unknown-param",
        study=_edit("params: {n_startup_trials: 3}", "params: {n_startup_trails: 3}"),
        names=("study.yaml", "study.sampler.params.n_startup_trails"),
    ),
    # --- wrong types ------------------------------------------------------------------------
    Case(
        "n-trials-text",
        study=_edit("  n_trials: 1", "  n_trials: many"),
        names=("study.yaml", "study.n_trials", "'many'"),
    ),
    Case(
        "val-fraction-list",
        study=_edit("data: {name: digits}", "data: {name: digits, val_fraction: [0.2]}"),
        names=("study.yaml", "data.val_fraction"),
    ),
    Case(
        "teacher-lr-text",
        study=_edit("lr: 0.05", "lr: fast"),
        names=("study.yaml", "teacher.optim.lr", "'fast'"),
    ),
    Case(
        "space-low-text",
        space=_edit("low: 0.03, high: 0.2", "low: small, high: 0.2"),
        names=("space.yaml", "optim.lr.low", "'small'"),
    ),
    Case(
        "space-log-text",
        space=_edit("log: true}", "log: maybe}"),
        names=("space.yaml", "optim.lr.log", "'maybe'"),
    ),
    Case(
        "space-fixed-depth-text",
        space=_edit("  depth: 1\n", "  depth: deep\n"),
        names=("space.yaml", "student.depth", "'deep'"),
    ),
    Case(
        "space-section-is-list",
        space=_edit("seed: 0\n", "seed: 0\naugment: [crop, flip]\n"),
        names=("space.yaml", "augment"),
    ),
    # --- impossible ranges ------------------------------------------------------------------
    Case(
        "teacher-epochs-negative",
        study=_edit("epochs: 1,", "epochs: -1,"),
        names=("study.yaml", "teacher.optim.epochs", "-1"),
    ),
    Case(
        "val-fraction-above-one",
        study=_edit("data: {name: digits}", "data: {name: digits, val_fraction: 1.5}"),
        names=("study.yaml", "data.val_fraction", "1.5"),
    ),
    Case(
        "test-fraction-zero",
        study=_edit("data: {name: digits}", "data: {name: digits, test_fraction: 0}"),
        names=("study.yaml", "data.test_fraction"),
    ),
    Case(
        "train-fraction-negative",
        study=_edit("data: {name: digits}", "data: {name: digits, train_fraction: -0.5}"),
        names=("study.yaml", "data.train_fraction", "-0.5"),
    ),
    Case(
        "study-timeout-negative",
        study=_edit("  n_trials: 1", "  n_trials: 1\n  timeout: -5"),
        names=("study.yaml", "study.timeout", "-5"),
    ),
    Case(
        "space-epochs-negative",
        space=_edit("epochs: 1\n", "epochs: -2\n"),
        names=("space.yaml", "optim.epochs", "-2"),
    ),
    Case(
        "space-int-range-inverted",
        space=_edit("  depth: 1\n", "  depth: {type: int, low: 3, high: 1}\n"),
        names=("space.yaml", "student.depth", "low=3, high=1"),
    ),
    Case(
        "space-log-from-zero",
        space=_edit(
            "start: {type: float, low: 0.0, high: 0.3}",
            "start: {type: float, low: 0.0, high: 0.3, log: true}",
        ),
        names=("space.yaml", "distill.alpha.start.low"),
    ),
    Case(
        "space-alpha-above-one",
        space=_edit(
            "{value: {type: float, low: 0.3, high: 0.9}}",
            "{value: {type: float, low: 0.3, high: 1.9}}",
        ),
        names=("space.yaml", "distill.alpha"),
    ),
    # --- unknown names ----------------------------------------------------------------------
    Case(
        "unknown-loss",
        space=_edit("kd: {weight: 1.0}", "kd: {loss: kdx, weight: 1.0}"),
        names=("space.yaml", "distill.terms.kd.loss", "'kdx'"),
    ),
    Case(
        "unknown-teacher-family",
        study=_edit("family: cnn", "family: resnett"),
        names=("study.yaml", "teacher.model.family", "resnett"),
    ),
    Case(
        "unknown-dataset",
        study=_edit("data: {name: digits}", "data: {name: cifar1000}"),
        names=("study.yaml", "data.name", "cifar1000"),
    ),
    Case(
        "unknown-sampler",
        study=_edit("{name: tpe,", "{name: tpee,"),
        names=("study.yaml", "study.sampler.name", "'tpee'"),
    ),
    Case(
        "unknown-pruner",
        study=_edit("{name: median,", "{name: medain,"),
        names=("study.yaml", "study.pruner.name", "'medain'"),
    ),
    Case(
        "unknown-schedule",
        space=_edit("{schedule: constant, value:", "{schedule: constnat, value:"),
        names=("space.yaml", "distill.temperature", "constnat"),
    ),
    Case(
        "unknown-schedule-in-recipe",
        files=(("r.yaml", RECIPE.replace("alpha: 0.0", "alpha: {schedule: ramp, start: 0}")),),
        argv=("train", "{dir}/r.yaml"),
        names=("r.yaml", "distill.alpha", "ramp"),
    ),
    # --- dataset files ----------------------------------------------------------------------
    Case(
        "mnist-labels-file-missing",
        study=MNIST,
        make=_mnist_without("t10k-labels-idx1-ubyte.gz"),
        names=("t10k-labels-idx1-ubyte",),
    ),
    Case(
        "cifar-batch-garbage",
        study=CIFAR,
        make=_cifar_garbage,
        names=("data_batch_1",),
    ),
    Case(
        "imagefolder-image-garbage",
        study=_edit("data: {name: digits}", "data: {name: imagefolder, root: imgs}"),
        make=_imagefolder_garbage,
        names=("img_0003.png",),
    ),
    # --- teacher checkpoints ----------------------------------------------------------------
    Case(
        "checkpoint-garbage-bytes",
        study=CKPT,
        files=(("t.pt", os.urandom(64) + b"PK\x03\x04 definitely not torch"),),
        names=("teacher.checkpoint", "t.pt"),
    ),
    Case(
        "checkpoint-empty-file",
        study=CKPT,
        files=(("t.pt", b""),),
        names=("teacher.checkpoint", "t.pt"),
    ),
    Case(
        "checkpoint-other-architecture",
        study=CKPT,
        make=_checkpoint_of("mlp", 10, width=0.125, depth=1),
        names=("teacher.checkpoint", "cnn", "t.pt"),
    ),
    Case(
        "checkpoint-other-class-count",
        study=CKPT,
        make=_checkpoint_of("cnn", 3, width=1.0, depth=1),
        names=("teacher.checkpoint", "cnn", "t.pt"),
    ),
    Case(
        "checkpoint-garbage-teacher-command",
        study=CKPT,
        files=(("t.pt", b"\x00" * 300),),
        argv=("teacher", "{study}"),
        names=("teacher.checkpoint", "t.pt"),
    ),
    # --- output folder ----------------------------------------------------------------------
    Case(
        "output-dir-under-a-file",
        study=(("/run\n", "/blocker/sub/run\n"),),
        files=(("blocker", "a plain file\n"),),
        names=("study.output_dir", "blocker"),
    ),
    Case(
        "output-dir-is-a-file",
        study=(("/run\n", "/blocker\n"),),
        files=(("blocker", "a plain file\n"),),
        names=("study.output_dir", "blocker"),
    ),
    Case(
        "output-dir-under-a-file-teacher-command",
        study=(("/run\n", "/blocker/sub/run\n"),),
        files=(("blocker", "a plain file\n"),),
        argv=("teacher", "{study}"),
        names=("study.output_dir", "blocker"),
    ),
    Case(
        "output-dir-under-a-file-validate",
        study=(("/run\n", "/blocker/run\n"),),
        files=(("blocker", "a plain file\n"),),
        argv=("validate", "{study}"),
        names=("study.yaml", "study.output_dir", "blocker"),
    ),
    Case(
        "output-dir-nul",
        study=(("output_dir: ", 'output_dir: "\\0'), ("/run\n", '/run"\n')),
        names=("study.yaml", "study.output_dir", "\\x00"),
    ),
    # --- path fields that no file system accepts --------------------------------------------
    Case(
        "data-root-unknown-user",
        study=_edit("data: {name: digits}", "data: {name: mnist, root: ~no_such_user_autokd}"),
        names=("study.yaml", "data.root", "~no_such_user_autokd"),
    ),
    Case(
        "recipe-checkpoint-nul",
        files=(
            (
                "r.yaml",
                RECIPE
                + 'teacher: {model: {family: cnn}, checkpoint: "t\\0.pt", sha256: "'
                + "0" * 64
                + '"}\n',
            ),
        ),
        argv=("train", "{dir}/r.yaml"),
        names=("r.yaml", "teacher.checkpoint", "NUL"),
    ),
    # --- recipe schema ----------------------------------------------------------------------
    Case(
        "recipe-schema-version-zero",
        files=(("r.yaml", RECIPE.replace("schema_version: 1", "schema_version: 0")),),
        argv=("validate", "{dir}/r.yaml"),
        names=("r.yaml", "schema_version", "0"),
    ),
    Case(
        "recipe-schema-version-text",
        files=(("r.yaml", RECIPE.replace("schema_version: 1", "schema_version: one")),),
        argv=("train", "{dir}/r.yaml"),
        names=("r.yaml", "schema_version", "'one'"),
    ),
    # --- malformed distributions ------------------------------------------------------------
    Case(
        "distribution-unknown-type",
        space=_edit("{type: float, low: 0.03", "{type: gaussian, low: 0.03"),
        names=("space.yaml", "optim.lr.type", "'gaussian'"),
    ),
    Case(
        "distribution-categorical-without-choices",
        space=_edit(
            'pair: {type: categorical, choices: ["stages.1 -> stages.1", "stages.2 -> stages.2"]}',
            "pair: {type: categorical}",
        ),
        names=("space.yaml", "distill.terms.at.pair.choices"),
    ),
    Case(
        "distribution-empty-choices",
        space=_edit('choices: ["stages.1 -> stages.1", "stages.2 -> stages.2"]', "choices: []"),
        names=("space.yaml", "distill.terms.at.pair.choices"),
    ),
    Case(
        "distribution-missing-high",
        space=_edit("{type: float, low: 2.0, high: 6.0}", "{type: float, low: 2.0}"),
        names=("space.yaml", "distill.temperature.value.high"),
    ),
    Case(
        "distribution-step-not-dividing",
        space=_edit("step: 0.25}", "step: 0.3}"),
        names=("space.yaml", "student.width.step"),
    ),
    Case(
        "distribution-type-is-list",
        space=_edit("{type: float, low: 0.03", "{type: [float], low: 0.03"),
        names=("space.yaml", "optim.lr.type"),
    ),
    Case(
        "distribution-choice-is-mapping",
        space=_edit(
            'choices: ["stages.1 -> stages.1", "stages.2 -> stages.2"]',
            'choices: [{a: 1}, "stages.2 -> stages.2"]',
        ),
        names=("space.yaml", "distill.terms.at.pair.choices"),
    ),
]


def _snapshot(folder: Path) -> dict[str, int]:
    """Every path under ``folder`` with its size (a folder: -1)."""
    return {
        str(p.relative_to(folder)): (-1 if p.is_dir() else p.stat().st_size)
        for p in folder.rglob("*")
    }


def _prepare(case: Case, folder: Path) -> dict[str, str]:
    study = write_study(folder, n_trials=1, space=SPACE)
    study.write_text(study.read_text().replace("epochs: 4", "epochs: 1"))
    for name, edits in (("study.yaml", case.study), ("space.yaml", case.space)):
        path = folder / name
        text = path.read_text()
        for old, new in edits:
            assert old in text, (name, old)  # the table must keep up with the fixtures
            text = text.replace(old, new, 1)
        path.write_text(text)
    for name, content in case.files:
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    if case.make is not None:
        case.make(folder)
    return {"study": str(study), "space": str(folder / "space.yaml"), "dir": str(folder)}


def _check_line(err: str, case: Case) -> None:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one line: no traceback, no warning, no second message
    for name in case.names:
        assert name in lines[0], (name, lines[0])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    case: Case,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Rule: bad input -> exit 2, one line naming the file or key, nothing written anywhere.
    folder = tmp_path / "in"
    paths = _prepare(case, folder)
    monkeypatch.chdir(tmp_path)  # default outputs (runs/, mlruns/) would land here
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    before = _snapshot(tmp_path)
    capsys.readouterr()
    code = main([arg.format(**paths) for arg in case.argv])
    err = capsys.readouterr().err
    assert code == 2, err
    _check_line(err, case)
    assert _snapshot(tmp_path) == before  # nothing new, nothing changed


def test_table_is_large_and_distinct() -> None:
    # Rule: at least 30 distinct cases (ids are unique, so none hides another).
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


def test_read_only_output_parent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rule: an output folder that cannot be created is bad input, caught before anything is
    # written. root may write anywhere, so there the parent is a regular file instead.
    study = write_study(tmp_path / "in", n_trials=1, space=SPACE)
    locked = tmp_path / "locked"
    if os.geteuid() == 0:
        locked.write_text("a file, not a folder\n")
    else:
        locked.mkdir()
        locked.chmod(0o500)
    study.write_text(study.read_text().replace(str(tmp_path / "in" / "run"), str(locked / "run")))
    monkeypatch.chdir(tmp_path)
    before = _snapshot(tmp_path)
    try:
        code = main(["run", str(study), "--no-progress"])
    finally:
        if locked.is_dir():
            locked.chmod(0o700)
    err = capsys.readouterr().err
    assert code == 2, err
    _check_line(err, Case("locked", names=("study.output_dir", "locked")))
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("edit", "names"),
    [
        (("seed: 0\n", "seed: 0\nstudent: [\n"), ("space.yaml",)),
        (("  family: cnn\n", "  family: cnnn\n"), ("space.yaml", "student.family")),
    ],
    ids=["yaml-syntax", "unknown-family"],
)
def test_real_process_prints_one_line_and_exits_2(
    tmp_path: Path, edit: tuple[str, str], names: tuple[str, ...]
) -> None:
    # Rule: the installed entry point (a fresh interpreter, real stderr) behaves the same.
    study = write_study(tmp_path / "in", n_trials=1, space=SPACE.replace(*edit))
    before = _snapshot(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "autokd", "run", str(study), "--no-progress"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 2, proc.stderr
    _check_line(proc.stderr, Case("process", names=names))
    assert proc.stdout == ""
    assert _snapshot(tmp_path) == before
