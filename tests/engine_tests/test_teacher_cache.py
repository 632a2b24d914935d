"""The teacher-output cache: exact on CPU, shared across trials and processes, never stale."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from autokd.data import load_splits
from autokd.engine import TeacherCache
from autokd.engine import train_recipe
from autokd.engine._augment import draw_epoch
from autokd.engine._augment import epoch_generator
from autokd.engine._trainer import load_teacher
from autokd.models import file_sha256
from autokd.recipe import Recipe

EPOCHS = 2


def _save_teacher(folder: Path, width: float, epochs: int) -> dict:
    plain = Recipe.from_dict(
        {"student": {"width": width}, "optim": {"epochs": epochs, "batch_size": 128}}
    )
    path = folder / f"teacher_{width}_{epochs}.pt"
    torch.save(train_recipe(plain).student.state_dict(), path)
    return {
        "model": {"family": "cnn", "width": width},
        "checkpoint": str(path),
        "sha256": file_sha256(path),
    }


@pytest.fixture(scope="module")
def teachers(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    folder = tmp_path_factory.mktemp("teachers")
    return _save_teacher(folder, 1.0, 3), _save_teacher(folder, 1.0, 2)


def _recipe(teacher: dict, *, batch_size: int = 64, fitnets: bool = True, **over) -> Recipe:
    terms: dict = {"kd": {}}
    if fitnets:
        terms["fitnets"] = {"pair": "stages.1 -> stages.1", "weight": 0.5}
    data = {
        "student": {"family": "cnn", "width": 0.5},
        "optim": {"lr": 0.1, "epochs": EPOCHS, "batch_size": batch_size},
        "augment": {"crop": 1},
        "teacher": teacher,
        "distill": {"alpha": 0.7, "terms": terms},
    }
    for key, value in over.items():
        data[key] = value
    return Recipe.from_dict(data)


def _same_student(a, b) -> bool:
    return a.history == b.history and all(
        torch.equal(p, q)
        for p, q in zip(a.student.parameters(), b.student.parameters(), strict=True)
    )


def test_cached_run_trains_exactly_the_live_student(teachers) -> None:
    recipe = _recipe(teachers[0])
    live = train_recipe(recipe)
    cache = TeacherCache(memory_mb=64)
    filling = train_recipe(recipe, teacher_cache=cache)
    forwards = cache.stats.teacher_batches
    assert forwards == EPOCHS * 18  # 1,149 training images in batches of 64
    reading = train_recipe(recipe, teacher_cache=cache)
    assert cache.stats.teacher_batches == forwards  # the second run never ran the teacher
    assert cache.stats.hits == EPOCHS * 2  # logits and one feature, per epoch
    assert _same_student(live, filling) and _same_student(live, reading)


def test_entries_are_the_teacher_on_the_views_of_every_image(teachers) -> None:
    # Independent check: recompute epoch 1's views from the augmentation draws and run the
    # teacher on them in one batch; the cached rows must be those outputs, image by image.
    recipe = _recipe(teachers[0], fitnets=False)
    cache = TeacherCache(memory_mb=64)
    train_recipe(recipe, teacher_cache=cache)
    splits = load_splits(recipe.data)
    n = len(splits.train_y)
    draws = draw_epoch(
        n, (8, 8), crop=1, flip=False, cutout=0, generator=epoch_generator(0, 1, "cpu")
    )
    idx = torch.arange(n)
    views = draws.views(splits.train_x, idx, crop=1, cutout=0, normalise=splits.normalise)
    teacher = load_teacher(recipe.teacher, splits)
    with torch.no_grad():
        expected = teacher(views)
    (view,) = {key[0] for key in cache._entries}
    entry = cache.lookup(view, 1, ["logits"], torch.device("cpu"))["logits"]
    torch.testing.assert_close(entry.rows(idx), expected, rtol=1e-5, atol=1e-5)
    assert not torch.equal(
        entry.rows(idx), cache.lookup(view, 0, ["logits"], torch.device("cpu"))["logits"].rows(idx)
    )


def test_other_batch_size_reads_the_same_entries(teachers) -> None:
    cache = TeacherCache(memory_mb=64)
    train_recipe(_recipe(teachers[0], fitnets=False), teacher_cache=cache)
    before = cache.stats.teacher_batches
    train_recipe(_recipe(teachers[0], fitnets=False, batch_size=100), teacher_cache=cache)
    assert cache.stats.teacher_batches == before  # views do not depend on the batch size
    assert cache.stats.hits == EPOCHS


@pytest.mark.parametrize(
    "change",
    ["teacher", "split", "augment", "seed", "layout", "precision"],
)
def test_a_different_teacher_split_augmentation_or_seed_never_reads_stale_entries(
    teachers, change
) -> None:
    cache = TeacherCache(memory_mb=64)
    base = _recipe(teachers[0], fitnets=False)
    train_recipe(base, teacher_cache=cache)
    other = {
        "teacher": lambda: _recipe(teachers[1], fitnets=False),
        "split": lambda: _recipe(
            teachers[0], fitnets=False, data={"name": "digits", "split_seed": 1}
        ),
        "augment": lambda: _recipe(teachers[0], fitnets=False, augment={"crop": 1, "flip": True}),
        "seed": lambda: _recipe(teachers[0], fitnets=False, seed=1),
        "layout": lambda: base,
        "precision": lambda: base,
    }[change]()
    layout = {"layout": {"channels_last": True}, "precision": {"bf16": True}}.get(change, {})
    hits = cache.stats.hits
    result = train_recipe(other, teacher_cache=cache, **layout)
    assert cache.stats.hits == hits  # nothing read
    assert _same_student(result, train_recipe(other, **layout))  # and the run is the live one


def test_bf16_cached_run_trains_exactly_the_bf16_live_student(teachers) -> None:
    # bf16 autocast on CPU is deterministic too, so the cache stays exact in bf16.
    recipe = _recipe(teachers[0])
    live = train_recipe(recipe, bf16=True)
    cache = TeacherCache(memory_mb=64)
    train_recipe(recipe, teacher_cache=cache, bf16=True)
    forwards = cache.stats.teacher_batches
    reading = train_recipe(recipe, teacher_cache=cache, bf16=True)
    assert cache.stats.teacher_batches == forwards and cache.stats.hits == EPOCHS * 2
    assert _same_student(live, reading)
    assert not _same_student(live, train_recipe(recipe))  # bf16 is not fp32


def test_over_budget_runs_live_and_gives_the_same_student(teachers) -> None:
    recipe = _recipe(teachers[0])
    cache = TeacherCache(memory_mb=0.05)  # 52 kB: logits (46 kB) fit once, nothing else
    first = train_recipe(recipe, teacher_cache=cache)
    second = train_recipe(recipe, teacher_cache=cache)
    assert cache.stats.stored == 1 and cache.stats.over_budget > 0
    assert cache.memory_used <= cache.memory_bytes
    assert _same_student(first, second) and _same_student(first, train_recipe(recipe))


def test_a_second_process_reads_the_folder(teachers, tmp_path: Path) -> None:
    recipe = _recipe(teachers[0])
    writer = TeacherCache(memory_mb=64, folder=tmp_path, disk_mb=64)
    first = train_recipe(recipe, teacher_cache=writer)
    files = sorted(p.name for p in tmp_path.rglob("*.pt"))
    assert files == [
        f"epoch{e:04d}_{k}.pt" for e in range(EPOCHS) for k in ("feat_stages.1", "logits")
    ]
    reader = TeacherCache(memory_mb=64, folder=tmp_path, disk_mb=64)  # a fresh process's view
    second = train_recipe(recipe, teacher_cache=reader)
    assert reader.stats.teacher_batches == 0 and reader.stats.disk_reads == EPOCHS * 2
    assert _same_student(first, second)


def test_a_corrupt_file_is_recomputed_not_trusted(teachers, tmp_path: Path) -> None:
    recipe = _recipe(teachers[0], fitnets=False)
    train_recipe(recipe, teacher_cache=TeacherCache(folder=tmp_path, disk_mb=64))
    for path in tmp_path.rglob("*.pt"):
        path.write_bytes(b"not a tensor file")
    reader = TeacherCache(folder=tmp_path, disk_mb=64)
    result = train_recipe(recipe, teacher_cache=reader)
    assert reader.stats.hits == 0 and reader.stats.teacher_batches == EPOCHS * 18
    assert _same_student(result, train_recipe(recipe))


def test_cached_logits_stop_the_teacher_at_its_deepest_tapped_layer(teachers) -> None:
    recipe = _recipe(teachers[0])  # taps teacher stages.1; the cnn has stages 0..2 and a head
    cache = TeacherCache(memory_mb=64, features=False)  # logits cached, features always live
    train_recipe(recipe, teacher_cache=cache)
    splits = load_splits(recipe.data)
    teacher = load_teacher(recipe.teacher, splits)
    calls = {"stages.1": 0, "stages.2": 0}
    modules = dict(teacher.named_modules())
    # Each run copies the shared teacher, hooks included: these count the copy's calls.
    handles = [
        modules[name].register_forward_hook(lambda *_, n=name: calls.__setitem__(n, calls[n] + 1))
        for name in calls
    ]
    try:
        second = train_recipe(recipe, teacher_cache=cache)
    finally:
        for handle in handles:
            handle.remove()
    # One full forward probes the layer shapes; then 18 batches per epoch stop at stages.1.
    assert calls["stages.1"] == EPOCHS * 18 + 1 and calls["stages.2"] == 1
    assert _same_student(second, train_recipe(recipe))


def test_topk_keeps_the_k_largest_logits_and_floors_the_rest() -> None:
    cache = TeacherCache(topk=2)
    full = torch.tensor([[1.0, 5.0, 3.0, -2.0], [0.5, -1.0, 4.0, 2.0]])
    rows = cache.stored_form("logits", full).rows(torch.tensor([0, 1]))
    expected = torch.tensor([[-2.0, 5.0, 3.0, -2.0], [-1.0, -1.0, 4.0, 2.0]])
    assert torch.equal(rows, expected)
    # features are never compressed, and a lower-precision dtype is handed back as the original
    half = TeacherCache(dtype="bfloat16").stored_form("feat:x", full)
    assert (
        half.dense.dtype == torch.bfloat16 and half.rows(torch.tensor([1])).dtype == torch.float32
    )


def test_reservations_are_bounded_and_released() -> None:
    cache = TeacherCache(memory_mb=1)
    assert cache.reserve(2**20) == "memory"
    assert cache.reserve(1) is None and cache.stats.over_budget == 1
    cache.release("memory", 2**20)
    assert cache.memory_used == 0
    with pytest.raises(ValueError, match="dtype"):
        TeacherCache(dtype="int8")


@pytest.mark.slow
def test_compiled_student_trains_like_the_eager_one_and_compiles_once() -> None:
    import torch._dynamo.utils as dynamo_utils

    recipe = Recipe.from_dict(
        {"student": {"width": 0.5}, "optim": {"epochs": 1, "batch_size": 128}}
    )
    compiled = train_recipe(recipe, compile=True)
    graphs = dynamo_utils.counters["stats"]["unique_graphs"]
    again = train_recipe(recipe.with_overrides(seed=1), compile=True)
    assert dynamo_utils.counters["stats"]["unique_graphs"] == graphs  # reused, not recompiled
    for got, want in (
        (compiled, train_recipe(recipe)),
        (again, train_recipe(recipe.with_overrides(seed=1))),
    ):
        assert got.history[0]["train_loss"] == pytest.approx(
            want.history[0]["train_loss"], rel=1e-3
        )
        assert got.val_acc == pytest.approx(want.val_acc, abs=2 / 288)
