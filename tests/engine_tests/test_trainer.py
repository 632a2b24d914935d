from __future__ import annotations

from pathlib import Path

import pytest
import torch

from autokd.engine import train_recipe
from autokd.engine._trainer import _TEACHERS
from autokd.exceptions import TrialSetupError
from autokd.recipe import Recipe
from tests.conftest import digits_teacher

EPOCHS = 4


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A real (briefly trained) digits teacher saved as a state_dict."""
    return digits_teacher(tmp_path_factory.mktemp("teacher"), epochs=4)


def _recipe(teacher: dict, **distill) -> Recipe:
    return Recipe.from_dict(
        {
            "teacher": teacher,
            "student": {"family": "cnn", "width": 0.5},
            "optim": {"lr": 0.1, "epochs": EPOCHS, "batch_size": 64},
            "distill": distill,
        }
    )


def test_learns_digits(teacher: dict) -> None:
    result = train_recipe(_recipe(teacher, alpha=0.5, terms={"kd": {}}), evaluate_test=True)
    assert result.val_acc > 0.85 and result.test_acc > 0.85
    assert result.history[-1]["val_acc"] == result.val_acc


def test_same_recipe_same_numbers(teacher: dict) -> None:
    recipe = _recipe(
        teacher,
        alpha=0.7,
        terms={"kd": {}, "fitnets": {"pair": "stages.1 -> stages.1", "weight": 0.5}},
    )
    a, b = train_recipe(recipe), train_recipe(recipe)
    assert a.history == b.history
    for p, q in zip(a.student.parameters(), b.student.parameters(), strict=True):
        assert torch.equal(p, q)


def test_result_does_not_depend_on_teacher_cache(teacher: dict) -> None:
    # Rule: a study's trial (teacher cached) and `autokd train` (teacher loaded fresh) agree.
    recipe = _recipe(
        teacher,
        alpha=0.7,
        terms={"kd": {}, "fitnets": {"pair": "stages.2 -> stages.2", "weight": 0.5}},
    )
    _TEACHERS.clear()
    fresh = train_recipe(recipe)
    cached = train_recipe(recipe)
    assert fresh.history == cached.history


def test_seed_changes_the_run(teacher: dict) -> None:
    recipe = _recipe(teacher, alpha=0.5, terms={"kd": {}})
    assert train_recipe(recipe).history != train_recipe(recipe.with_overrides(seed=1)).history


def test_alpha_zero_equals_no_distillation(teacher: dict) -> None:
    # Rule: total = (1 - alpha) CE + alpha KD; alpha 0 must be exactly the plain student.
    with_kd = _recipe(teacher, alpha=0.0, terms={"kd": {}})
    assert train_recipe(with_kd).history == train_recipe(with_kd.without_distillation()).history
    assert train_recipe(_recipe(teacher, alpha=0.9, terms={"kd": {}})).history != (
        train_recipe(with_kd).history
    )


def test_teacher_stays_frozen(teacher: dict) -> None:
    before = torch.load(teacher["checkpoint"], weights_only=True)
    train_recipe(
        _recipe(
            teacher,
            alpha=0.9,
            terms={"kd": {}, "at": {"pair": "stages.1 -> stages.1", "weight": 100.0}},
        )
    )
    model = _TEACHERS[teacher["sha256"]]
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor.cpu(), before[name]), name


def test_on_epoch_gets_metrics_and_can_stop(teacher: dict) -> None:
    seen: list[tuple[int, dict]] = []

    class Stop(Exception):
        pass

    def on_epoch(epoch: int, metrics: dict) -> None:
        seen.append((epoch, metrics))
        if epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        train_recipe(
            _recipe(
                teacher,
                alpha=0.5,
                temperature={"schedule": "linear", "start": 4.0, "end": 1.0},
                terms={"kd": {}},
            ),
            on_epoch=on_epoch,
        )
    assert [e for e, _ in seen] == [0, 1]
    metrics = seen[0][1]
    assert set(metrics) == {"train_loss", "val_acc", "val_loss", "lr", "alpha", "temperature"}
    assert 0.0 <= metrics["val_acc"] <= 1.0
    # The temperature schedule is read at the last step of the epoch: 4 -> 1 linearly.
    assert 1.0 < seen[1][1]["temperature"] < metrics["temperature"] < 4.0


def test_missing_layer_fails_the_trial(teacher: dict) -> None:
    recipe = _recipe(teacher, alpha=0.5, terms={"at": {"pair": "stages.1 -> stages.9"}})
    with pytest.raises(TrialSetupError) as info:
        train_recipe(recipe)
    assert "student has no module named 'stages.9'" in str(info.value)


def test_extra_params_are_counted(teacher: dict) -> None:
    recipe = _recipe(
        teacher,
        alpha=0.5,
        terms={"fitnets": {"pair": "stages.2 -> stages.2", "projector": "conv1x1"}},
    )
    result = train_recipe(recipe.with_overrides(epochs=1))
    # 1x1 conv from the student's 32 to the teacher's 64 channels, with bias.
    assert result.extra_params == 32 * 64 + 64
    assert result.student_params == sum(p.numel() for p in result.student.parameters())


def test_test_split_only_on_request(teacher: dict) -> None:
    assert train_recipe(_recipe(teacher).with_overrides(epochs=1)).test_acc is None


def test_relative_checkpoint_is_found_next_to_the_recipe(teacher: dict, tmp_path: Path) -> None:
    import shutil

    shutil.copy(teacher["checkpoint"], tmp_path / "t.pt")
    data = _recipe(teacher, alpha=0.5, terms={"kd": {}}).to_dict()
    data["teacher"]["checkpoint"] = "t.pt"
    path = tmp_path / "r.yaml"
    Recipe.from_dict(data).to_yaml(path)
    assert Recipe.from_yaml(path).teacher.checkpoint == str(tmp_path / "t.pt")


def test_grad_clip_tames_a_diverging_recipe(teacher: dict) -> None:
    # A FitNets hint on the logits with weight 100 at lr 0.3 blows up; clipping the gradient
    # norm keeps the same recipe finite.
    diverging = _recipe(
        teacher, alpha=0.5, terms={"fitnets": {"pair": "head -> head", "weight": 100.0}}
    ).to_dict()
    diverging["optim"]["lr"] = 0.3
    diverging["optim"]["grad_clip"] = None  # the default clip would tame it
    with pytest.raises(TrialSetupError, match="became nan"):
        train_recipe(Recipe.from_dict(diverging))
    diverging["optim"]["grad_clip"] = 1.0
    result = train_recipe(Recipe.from_dict(diverging))
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in result.history)


def test_several_pairs_sum_like_separate_terms(teacher: dict) -> None:
    # Rule: a term over pairs "a; b" is the sum of one loss per pair, so it trains like two
    # terms of the same loss and weight (up to float summation order).
    joint = _recipe(
        teacher,
        alpha=0.5,
        terms={"at": {"pair": "stages.0 -> stages.0; stages.1 -> stages.1", "weight": 50.0}},
    )
    split = _recipe(
        teacher,
        alpha=0.5,
        terms={
            "at0": {"loss": "at", "pair": "stages.0 -> stages.0", "weight": 50.0},
            "at1": {"loss": "at", "pair": "stages.1 -> stages.1", "weight": 50.0},
        },
    )
    one = _recipe(
        teacher, alpha=0.5, terms={"at": {"pair": "stages.0 -> stages.0", "weight": 50.0}}
    )
    a, b = (
        train_recipe(joint.with_overrides(epochs=1)),
        train_recipe(split.with_overrides(epochs=1)),
    )
    c = train_recipe(one.with_overrides(epochs=1))
    assert a.history[0]["train_loss"] == pytest.approx(b.history[0]["train_loss"], rel=1e-4)
    assert a.history[0]["train_loss"] != pytest.approx(c.history[0]["train_loss"], rel=1e-4)


@pytest.mark.parametrize("bf16", [None, True])
def test_bf16_autocast_only_on_request_on_cpu(teacher: dict, bf16) -> None:
    dtypes: set[torch.dtype] = set()

    def record(module, _inputs, output) -> None:
        if isinstance(module, torch.nn.Conv2d):
            dtypes.add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        result = train_recipe(_recipe(teacher, alpha=0.5, terms={"kd": {}}), bf16=bf16)
    finally:
        handle.remove()
    # Convolutions of the teacher and the student compute in bf16 under autocast; the weights
    # (and so the optimiser's updates) stay fp32, and the run still learns.
    assert dtypes == ({torch.bfloat16} if bf16 else {torch.float32})
    assert {p.dtype for p in result.student.parameters()} == {torch.float32}
    assert result.val_acc > 0.85


def test_compiled_student_keeps_its_taps_after_an_untapped_one_of_its_kind(teacher: dict) -> None:
    # Compiled code is reused per architecture; a student tapped for AT must not run the code
    # compiled for an untapped student of the same architecture (its taps would stay empty
    # and the run would fail), and its loss must include the AT term as the eager run's does.
    def recipe(at: bool) -> Recipe:
        terms: dict = {"kd": {}}
        if at:
            terms["at"] = {"pair": "stages.1 -> stages.1", "weight": 50.0}
        r = _recipe(teacher, alpha=0.7, terms=terms)
        return r.with_overrides(epochs=1)

    train_recipe(recipe(False), compile=True)
    compiled = train_recipe(recipe(True), compile=True)
    eager = train_recipe(recipe(True))
    plain = train_recipe(recipe(False))
    loss = compiled.history[0]["train_loss"]
    assert loss == pytest.approx(eager.history[0]["train_loss"], rel=1e-2)
    assert abs(eager.history[0]["train_loss"] - plain.history[0]["train_loss"]) > 0.05 * loss
