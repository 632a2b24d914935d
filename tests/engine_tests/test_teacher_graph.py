"""The compiled teacher: the tapped outputs as one graph, equal to the hooked eager teacher."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from autokd.engine import TeacherCache
from autokd.engine import train_recipe
from autokd.engine._graph import _trace
from autokd.engine._graph import teacher_graph
from autokd.engine._taps import FeatureTaps
from autokd.models import build_model
from autokd.models import file_sha256
from autokd.recipe import ModelSpec
from autokd.recipe import Recipe

TAPS = ["stages.0", "stages.1"]


def _resnet8() -> nn.Module:
    torch.manual_seed(0)
    model = build_model(ModelSpec(family="resnet8"), in_channels=3, num_classes=10).eval()
    # Non-trivial BatchNorm statistics, so a wrong fold or a dropped layer shows.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model


def _eager(model: nn.Module, x: torch.Tensor, names: list[str]):
    taps = FeatureTaps(model, names, role="teacher")
    with torch.no_grad():
        logits = model(x)
    feats = taps.pop()
    taps.remove()
    return logits, feats


def _called_modules(module: torch.fx.GraphModule) -> set[str]:
    return {str(n.target) for n in module.graph.nodes if n.op == "call_module"}


def test_traced_graph_returns_the_hooked_outputs_and_stops_at_the_last_tap() -> None:
    model = _resnet8()
    x = torch.randn(6, 3, 32, 32)
    want_logits, want = _eager(model, x, TAPS)
    logits, feats = _trace(model, tuple(TAPS), True)(x)
    assert torch.equal(logits, want_logits)  # the same modules in the same order: bit-equal
    assert all(torch.equal(f, want[name]) for name, f in zip(TAPS, feats, strict=True))
    full = _called_modules(_trace(model, tuple(TAPS), True))
    cut = _called_modules(_trace(model, tuple(TAPS), False))

    def later(names: set[str]) -> set[str]:
        return {n for n in names if n.startswith(("stages.2", "pool", "head"))}

    assert "head" in full and later(full)  # the logits need every later layer
    assert {"stages.0", "stages.1"} <= cut and not later(cut)  # nothing after stages.1 runs


class _TwiceUsed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Linear(4, 4)

    def forward(self, x):
        return self.block(self.block(x))


class _Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x):
        return self.a(x) if x.sum() > 0 else -self.a(x)  # data-dependent: not traceable


@pytest.mark.parametrize(
    ("model", "names"), [(_TwiceUsed(), ["block"]), (_Branchy(), ["a"])], ids=["twice", "branch"]
)
def test_untraceable_teachers_run_eagerly(model: nn.Module, names: list[str]) -> None:
    # A module called twice has no single output to return (the hook keeps the last one);
    # data-dependent control flow cannot be traced. Both give None: the run stays eager.
    key = ("test-untraceable", id(model))
    assert teacher_graph(lambda: model, key=key, names=names, logits=True) is None


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> dict:
    plain = Recipe.from_dict({"student": {"width": 1.0}, "optim": {"epochs": 2}})
    path = Path(tmp_path_factory.mktemp("graph")) / "teacher.pt"
    torch.save(train_recipe(plain).student.state_dict(), path)
    return {
        "model": {"family": "cnn", "width": 1.0},
        "checkpoint": str(path),
        "sha256": file_sha256(path),
    }


def test_compiled_teacher_pads_the_last_batch_and_trains_like_the_eager_one(teacher) -> None:
    recipe = Recipe.from_dict(
        {
            "student": {"family": "cnn", "width": 0.5},
            # 1,149 training images in batches of 100: the last batch (49) is padded.
            "optim": {"lr": 0.1, "epochs": 2, "batch_size": 100},
            "augment": {"crop": 1},
            "teacher": teacher,
            "distill": {
                "alpha": 0.7,
                "terms": {"kd": {}, "fitnets": {"pair": "stages.1 -> stages.1", "weight": 0.5}},
            },
        }
    )
    eager_cache = TeacherCache(memory_mb=64)
    eager = train_recipe(recipe, teacher_cache=eager_cache)
    cache = TeacherCache(memory_mb=64)
    compiled = train_recipe(recipe, teacher_cache=cache, compile_teacher=True)
    # Same teacher outputs up to float rounding, entry by entry (all 1,149 rows per epoch).
    for name in ("logits", "feat:stages.1"):
        for epoch in (0, 1):
            (view_e,) = {v for v, e, n in eager_cache._entries if (e, n) == (epoch, name)}
            (view_c,) = {v for v, e, n in cache._entries if (e, n) == (epoch, name)}
            assert view_e != view_c  # compiled and eager entries are kept apart
            got = cache._entries[(view_c, epoch, name)].dense
            want = eager_cache._entries[(view_e, epoch, name)].dense
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert compiled.history[-1]["train_loss"] == pytest.approx(
        eager.history[-1]["train_loss"], rel=1e-3
    )
    # An eager run never reads the compiled entries: it runs the teacher itself.
    before = cache.stats.teacher_batches
    train_recipe(recipe, teacher_cache=cache)
    assert cache.stats.teacher_batches == before + 2 * 12
