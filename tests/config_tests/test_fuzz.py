"""Fuzzing the file loaders: whatever a file holds, only autokd's own one-line errors escape.

Study files, search spaces and recipes are read from files a user wrote, so any content must
end either in a loaded object or in an :class:`~autokd.exceptions.AutokdError` whose message
is one line naming the file (DESIGN.md "Errors"). The inputs are arbitrary text and bytes,
arbitrary YAML-able trees, and mutations of valid files: dropped keys, values of another type,
extra keys.
"""

from __future__ import annotations

from collections.abc import Callable
import copy
import os
from pathlib import Path
import tempfile
from typing import Any

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest
import yaml

from autokd.config import StudyConfig
from autokd.exceptions import AutokdError
from autokd.recipe import Recipe
from autokd.space import SearchSpace
from tests.conftest import REPO

#: Examples per test; AUTOKD_FUZZ_EXAMPLES=5000 explores further (the default keeps the file
#: under half a minute on two cores). The shapes of input that need no valid base get half.
EXAMPLES = int(os.environ.get("AUTOKD_FUZZ_EXAMPLES", "100"))
_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,  # no .hypothesis/ folder in the checkout
    "suppress_health_check": [HealthCheck.too_slow],
}
FUZZ = settings(max_examples=EXAMPLES, **_SETTINGS)
QUICK = settings(max_examples=max(EXAMPLES // 2, 1), **_SETTINGS)

SPACE = yaml.safe_load((REPO / "search_spaces" / "digits.yaml").read_text())

STUDY = {
    "study": {
        "name": "fuzz",
        "n_trials": 2,
        "timeout": 60.0,
        "sampler": {"name": "tpe", "seed": 0, "params": {"n_startup_trials": 3}},
        "pruner": {"name": "median", "params": {"n_startup_trials": 2, "n_warmup_steps": 0}},
        "objectives": ["val_acc"],
        "constraints": {"max_params": 100000},
    },
    "data": {"name": "digits", "val_fraction": 0.2, "test_fraction": 0.2, "split_seed": 0},
    "teacher": {
        "model": {"family": "cnn", "width": 1.0, "depth": 1},
        "optim": {"optimizer": "sgd", "lr": 0.05, "epochs": 1, "batch_size": 64},
        "augment": {"crop": 1},
        "seed": 0,
    },
    "search_space": "space.yaml",
    "final": {"optim": {"epochs": 2}, "data": {"train_fraction": 0.5}},
    "final_eval": {"top_k": 2, "seeds": [0, 1]},
    "device": "cpu",
}

RECIPE = {
    "schema_version": 1,
    "data": {"name": "digits", "val_fraction": 0.2, "split_seed": 0},
    "teacher": {
        "model": {"family": "cnn", "width": 1.0, "depth": 1},
        "checkpoint": "teacher.pt",
        "sha256": "0" * 64,
    },
    "student": {"family": "cnn", "width": 0.5, "depth": 1},
    "optim": {
        "lr": 0.05,
        "epochs": 4,
        "batch_size": 64,
        "lr_schedule": "step",
        "lr_milestones": [2, 3],
    },
    "augment": {"crop": 1, "flip": True},
    "distill": {
        "temperature": {"schedule": "linear", "start": 2.0, "end": 4.0},
        "alpha": 0.5,
        "terms": {
            "kd": {"weight": 1.0},
            "at": {"weight": 100.0, "pair": "stages.1 -> stages.1"},
        },
    },
    "seed": 0,
}

# --- strategies --------------------------------------------------------------------------
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "auto", "cnn", "kd", "constant", "categorical", "float", "-1", "1e9"]),
)
_keys = st.one_of(
    st.text(min_size=1, max_size=10),
    st.sampled_from(["type", "low", "high", "choices", "name", "params", "schedule", "extends"]),
)
YAML_VALUES = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(_keys, inner, max_size=4),
    ),
    max_leaves=12,
)


def _entries(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every value inside ``node`` (mapping keys and list indices)."""
    out: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in items:
        out.append((*path, key))
        if isinstance(child, (dict, list)) and child:
            out += _entries(child, (*path, key))
    return out


def _holder(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        tree = tree[key]
    return tree


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` after one to three edits: a key dropped, a value replaced, or a key added."""
    tree = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _entries(tree)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        holder = _holder(tree, path)
        action = draw(st.sampled_from(["drop", "replace", "add"]))
        if action == "drop":
            del holder[path[-1]]
        elif action == "replace":
            holder[path[-1]] = draw(YAML_VALUES)
        elif isinstance(holder, dict):
            holder[draw(_keys)] = draw(YAML_VALUES)
        else:
            holder.append(draw(YAML_VALUES))
    return tree


# --- loaders -----------------------------------------------------------------------------
def _load_study(folder: Path) -> Any:
    return StudyConfig.from_yaml(folder / "study.yaml")


def _load_space(folder: Path) -> Any:
    return SearchSpace.from_yaml(folder / "space.yaml")


def _load_recipe(folder: Path) -> Any:
    return Recipe.from_yaml(folder / "recipe.yaml")


LOADERS: dict[str, tuple[str, Callable[[Path], Any]]] = {
    "study": ("study.yaml", _load_study),
    "space": ("space.yaml", _load_space),
    "recipe": ("recipe.yaml", _load_recipe),
}
BASES = {"study": STUDY, "space": SPACE, "recipe": RECIPE}


def _load(kind: str, content: str | bytes) -> None:
    """Writes ``content`` as the ``kind`` file (next to a valid space) and loads it.

    Either the loader succeeds, or it raises an AutokdError with one non-empty line that
    names the file. Anything else (a bare TypeError, a traceback's worth of text) fails.
    """
    name, loader = LOADERS[kind]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if kind == "study":
            (folder / "space.yaml").write_text(yaml.safe_dump(SPACE))
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", errors="surrogatepass")
        try:
            loader(folder)
        except AutokdError as exc:
            message = str(exc)
            assert message.strip(), repr(exc)
            assert len(message.splitlines()) == 1, message
            assert name in message, message  # the file is named


#: libyaml's dumper where installed: it only writes the inputs, so speed is all it changes.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(tree: Any) -> str:
    return yaml.dump(tree, Dumper=_DUMPER, allow_unicode=True, sort_keys=False)


def test_the_unmutated_files_load() -> None:
    # Rule: the bases are valid, so a mutation is what breaks them (the fuzzing means something).
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for kind, (name, _) in LOADERS.items():
            (folder / name).write_text(_dump(BASES[kind]))
        for _, loader in LOADERS.values():
            assert loader(folder) is not None


@pytest.mark.parametrize("kind", list(LOADERS))
@FUZZ
@given(data=st.data())
def test_mutated_valid_files_fail_cleanly(kind: str, data: st.DataObject) -> None:
    # Rule: a valid file with keys dropped, replaced or added loads or fails in one line.
    _load(kind, _dump(data.draw(mutated(BASES[kind]))))


@pytest.mark.parametrize("kind", list(LOADERS))
@QUICK
@given(tree=YAML_VALUES)
def test_arbitrary_yaml_trees_fail_cleanly(kind: str, tree: Any) -> None:
    # Rule: any YAML document, of any shape, loads or fails in one line.
    _load(kind, _dump(tree))


@pytest.mark.parametrize("kind", list(LOADERS))
@FUZZ
@given(
    section=st.sampled_from(["study", "data", "teacher", "student", "optim", "distill", "seed"]),
    value=YAML_VALUES,
)
def test_arbitrary_top_level_sections_fail_cleanly(kind: str, section: str, value: Any) -> None:
    # Rule: a known section holding anything at all loads or fails in one line.
    _load(kind, _dump({**BASES[kind], section: value}))


@pytest.mark.parametrize("kind", list(LOADERS))
@QUICK
@given(text=st.text(max_size=200))
def test_arbitrary_text_fails_cleanly(kind: str, text: str) -> None:
    # Rule: any text as file content loads or fails in one line (never a YAML traceback).
    _load(kind, text)


@pytest.mark.parametrize("kind", list(LOADERS))
@QUICK
@given(blob=st.binary(max_size=200))
def test_arbitrary_bytes_fail_cleanly(kind: str, blob: bytes) -> None:
    # Rule: any bytes load or fail in one line.
    _load(kind, blob)


@pytest.mark.parametrize("kind", list(LOADERS))
@pytest.mark.parametrize(
    "blob",
    [
        b"\xff\xfe: 1\n",
        b"study: {name: caf\xe9}\n",
        b"\x00",
        b"{a: " * 3000,
        b"a: 2024-13-45\n",
        b"a: !!python/object:os.system ls\n",
        b"a: &x [*x]\n",
        b"a: 1\na: 2\n",
    ],
    ids=["bom", "latin-1", "nul", "deep", "bad-date", "python-tag", "self-alias", "dup-key"],
)
def test_hostile_bytes_fail_cleanly(kind: str, blob: bytes) -> None:
    # Rule: not UTF-8, NUL, deep nesting, an impossible date, a code tag, a cyclic alias and
    # a repeated key each load or fail in one line.
    _load(kind, blob)
