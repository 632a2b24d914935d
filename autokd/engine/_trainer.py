"""The engine: trains one recipe and reports per-epoch metrics through a callback.

It knows nothing of Optuna. A study passes ``on_epoch`` that reports to its trial and raises
``optuna.TrialPruned``; ``autokd train`` passes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
import copy
import dataclasses
import math
import time
from typing import TYPE_CHECKING

import torch
from torch import nn
import torch.nn.functional as F

from autokd._rng import GLOBAL_RNG_LOCK
from autokd.data import Splits
from autokd.data import load_splits
from autokd.engine._augment import draw_epoch
from autokd.engine._augment import epoch_generator
from autokd.engine._batches import eval_batches
from autokd.engine._batches import train_batches
from autokd.engine._cache import TeacherCache
from autokd.engine._device import resolve_device
from autokd.engine._graph import teacher_graph
from autokd.engine._pairs import build_pair_losses
from autokd.engine._taps import FeatureTaps
from autokd.engine._taps import StopForward
from autokd.exceptions import TrialSetupError
from autokd.losses import LOSSES
from autokd.losses import BaseDistillLoss
from autokd.losses import DistillInputs
from autokd.models import build_model
from autokd.models import load_checkpoint

if TYPE_CHECKING:
    from autokd.recipe import Recipe
    from autokd.recipe import TeacherSpec

__all__ = ["EpochCallback", "TrainResult", "evaluate_accuracy", "load_teacher", "train_recipe"]

EpochCallback = Callable[[int, dict[str, float]], None]
_EVAL_BATCH = 1024
_TEACHERS: dict[str, nn.Module] = {}  # sha256 -> frozen CPU teacher, shared by trials
_INIT_LOCK = GLOBAL_RNG_LOCK  # global-RNG seeding + model building, one run at a time


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What one training run produced.

    Attributes:
        val_acc: Validation accuracy after the last epoch (the value a study optimises).
        test_acc: Test accuracy, only when asked for (exported or trained recipes).
        history: Per-epoch metrics, as passed to ``on_epoch``.
        student_params: Parameters of the student.
        extra_params: Learnable parameters of the loss terms (projectors...), trained with it.
        seconds: Wall-clock time of the run.
        student: The trained student (on the training device).
    """

    val_acc: float
    val_loss: float
    test_acc: float | None
    history: list[dict[str, float]]
    student_params: int
    extra_params: int
    seconds: float
    student: nn.Module


@dataclasses.dataclass
class _Term:
    key: str
    loss: BaseDistillLoss
    weight: Callable[[float], float]


def load_teacher(spec: TeacherSpec, splits: Splits) -> nn.Module:
    """The frozen teacher a recipe names, loaded once per process and checked by SHA-256."""
    if spec.sha256 not in _TEACHERS:
        _TEACHERS[spec.sha256] = load_checkpoint(
            spec.model,
            spec.checkpoint,
            in_channels=splits.in_channels,
            num_classes=splits.num_classes,
            sha256=spec.sha256,
        )
    return _TEACHERS[spec.sha256]


def train_recipe(
    recipe: Recipe,
    *,
    device: str | torch.device = "cpu",
    on_epoch: EpochCallback | None = None,
    evaluate_test: bool = False,
    teacher_cache: TeacherCache | None = None,
    compile: bool = False,
    compile_teacher: bool = False,
    channels_last: bool | None = None,
    bf16: bool | None = None,
) -> TrainResult:
    """Trains the recipe's student (distilled from its teacher when the recipe says so).

    Args:
        recipe: The run to do; fully determines the result on CPU for its seed.
        device: ``cpu``, ``cuda``, ``cuda:N``, ``auto`` or a ``torch.device``.
        on_epoch: Called as ``on_epoch(epoch, metrics)`` after each epoch with ``train_loss``,
            ``val_acc``, ``val_loss``, ``lr``, ``alpha`` and ``temperature``. It may raise to
            stop training (a study raises ``optuna.TrialPruned``).
        evaluate_test: Also measure test accuracy at the end.
        teacher_cache: Teacher outputs shared with other runs (a study passes one); the
            teacher only runs for the epochs and outputs it does not hold yet.
        compile: Compile the student with ``torch.compile`` (compiled code is reused by
            later runs with the same architecture in this process).
        compile_teacher: Run the teacher's live forward as a compiled graph of its tapped
            outputs (see ``autokd.engine._graph``): compiled once per process for each
            teacher, outputs and batch size, then shared by later runs. Worth it where the
            teacher runs online for many steps; falls back to eager for untraceable models.
        channels_last: Keep image batches and conv weights in channels-last layout. None
            (default): on CUDA only. On CPU it is faster for some models and slower for
            others (measured: resnet32x4 forward 1.3x faster on 32x32 images, resnet8 on
            28x28 slower), and changes results in the last bits, so it is opt-in there.
        bf16: Run forward passes and losses under bfloat16 autocast (``torch.autocast``:
            convolutions and matrix products in bf16, reductions and the cross-entropy in
            fp32; weights and optimiser state stay fp32). None (default): on CUDA only. On a
            CPU with AVX-512 BF16 or AMX it is about 2x faster (measured: resnet8x4 training
            step x2.2), on one without it slower; results differ from fp32, so opt-in there.

    Returns:
        The :class:`TrainResult`.

    Raises:
        TrialSetupError: If a layer pair does not exist or does not fit, or the loss becomes
            non-finite.
    """
    start = time.perf_counter()
    dev = device if isinstance(device, torch.device) else resolve_device(str(device))
    cuda = dev.type == "cuda"
    splits = load_splits(recipe.data).to(dev)
    if channels_last is None:
        channels_last = cuda
    if bf16 is None:
        bf16 = cuda
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    # Student, projectors and their taps are built under one lock with the recipe's seed, so
    # concurrent trials (threads) never draw from each other's global RNG state.
    with _INIT_LOCK:
        # The teacher comes first: loading it may draw from torch's global RNG (or not, when
        # it is cached), and the student's initialisation must not depend on that. Each run
        # gets its own copy: taps are hooks on the module, and runs may be concurrent.
        teacher = None
        if recipe.needs_teacher:
            teacher = copy.deepcopy(load_teacher(recipe.teacher, splits))
            teacher = teacher.to(dev, memory_format=fmt)
        torch.manual_seed(recipe.seed)
        student = build_model(
            recipe.student, in_channels=splits.in_channels, num_classes=splits.num_classes
        ).to(dev, memory_format=fmt)
        terms, s_taps, t_taps, t_order = _build_terms(recipe, student, teacher, splits, dev, fmt)
    params = list(student.parameters()) + [p for t in terms for p in t.loss.parameters()]
    optimizer = _optimizer(recipe, params)
    forward = _compiled(student) if compile else student

    distill = recipe.distill
    temperature, alpha = distill.temperature.build(), distill.alpha.build()
    response = [t for t in terms if t.loss.kind == "response"]
    feature = [t for t in terms if t.loss.kind == "feature"]
    alpha_on = distill.alpha.bounds()[1] > 0 and bool(response)
    ce_weight = distill.ce_weight  # None: (1 - alpha) * CE
    use_teacher = teacher is not None and (alpha_on or bool(feature))
    graph = None
    if use_teacher and compile_teacher:
        graph = teacher_graph(
            lambda: copy.deepcopy(load_teacher(recipe.teacher, splits)).to(dev, memory_format=fmt),
            key=(recipe.teacher.sha256, str(dev), str(fmt)),
            names=t_order,
            logits=alpha_on,
        )
    teacher_out = _TeacherOutputs(
        teacher,
        graph,
        t_taps,
        t_order,
        needs_logits=alpha_on,
        cache=teacher_cache if use_teacher else None,
        recipe=recipe,
        splits=splits,
        device=dev,
        fmt=fmt,
        bf16=bf16,
    )

    n, bs, epochs = len(splits.train_y), recipe.optim.batch_size, recipe.optim.epochs
    image_size = tuple(splits.train_x[0].shape[-2:])
    steps_per_epoch = math.ceil(n / bs)
    total_steps = epochs * steps_per_epoch
    workers = recipe.data.num_workers
    aug = recipe.augment
    history: list[dict[str, float]] = []
    step = 0
    try:
        for epoch in range(epochs):
            student.train()
            loss_sum = torch.zeros((), device=dev)
            # Order and every image's augmentation depend on (seed, epoch) only: trials share
            # their views, whatever their batch size.
            draws = draw_epoch(
                n,
                image_size,
                crop=aug.crop,
                flip=aug.flip,
                cutout=aug.cutout,
                generator=epoch_generator(recipe.seed, epoch, dev),
            )
            batches = train_batches(
                splits, batch_size=bs, order=draws.order, device=dev, num_workers=workers
            )
            if use_teacher:
                teacher_out.start_epoch(epoch)
            for raw, y, idx in batches:
                x = draws.views(
                    raw, idx, crop=aug.crop, cutout=aug.cutout, normalise=splits.normalise
                )
                x = x.contiguous(memory_format=fmt)
                progress = step / total_steps
                lr = recipe.optim.lr_at(progress)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                a = alpha(progress) if alpha_on else 0.0
                temp = temperature(progress)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                    t_logits, t_feats = teacher_out.batch(x, idx) if use_teacher else (None, {})
                    s_logits = forward(x)
                    s_feats = s_taps.pop() if s_taps else {}
                    ce = F.cross_entropy(s_logits.float(), y)
                    if ce_weight is not None:
                        loss = ce_weight * ce
                    else:
                        loss = (1.0 - a) * ce if alpha_on else ce
                    if terms:
                        inputs = DistillInputs(
                            student_logits=s_logits,
                            teacher_logits=t_logits,
                            targets=y,
                            student_feats=s_feats,
                            teacher_feats=t_feats,
                            temperature=temp,
                            indices=idx,
                            num_samples=n,
                        )
                        if a > 0:
                            for term in response:
                                loss = loss + a * term.weight(progress) * term.loss(inputs)
                        for term in feature:
                            loss = loss + term.weight(progress) * term.loss(inputs)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if recipe.optim.grad_clip is not None:  # computed on device: no host sync
                    torch.nn.utils.clip_grad_norm_(params, recipe.optim.grad_clip)
                optimizer.step()
                loss_sum += loss.detach()
                step += 1
            if use_teacher:
                teacher_out.end_epoch()
            val_correct, val_loss_sum = _evaluate(forward, splits, "val", fmt, workers, bf16)
            # The one host sync of the epoch.
            train_loss, correct, val_loss = torch.stack(
                [loss_sum, val_correct, val_loss_sum]
            ).tolist()
            if not math.isfinite(train_loss):
                raise TrialSetupError(f"training loss became {train_loss} in epoch {epoch}")
            n_val = len(splits.val_y)
            metrics = {
                "train_loss": train_loss / steps_per_epoch,
                "val_acc": correct / n_val,
                "val_loss": val_loss / n_val,
                "lr": lr,
                "alpha": a,
                "temperature": temp,
            }
            history.append(metrics)
            if on_epoch is not None:
                on_epoch(epoch, metrics)
    except BaseException:
        teacher_out.abandon()  # a stopped epoch stores nothing and frees its reservations
        raise
    finally:
        for taps in (s_taps, t_taps):
            if taps is not None:
                taps.remove()
    test_acc = None
    if evaluate_test:
        correct_t, _ = _evaluate(forward, splits, "test", fmt, workers, bf16)
        test_acc = correct_t.item() / len(splits.test_y)
    return TrainResult(
        val_acc=history[-1]["val_acc"],
        val_loss=history[-1]["val_loss"],
        test_acc=test_acc,
        history=history,
        student_params=sum(p.numel() for p in student.parameters()),
        extra_params=sum(p.numel() for t in terms for p in t.loss.parameters()),
        seconds=time.perf_counter() - start,
        student=student,
    )


def _compiled(student: nn.Module) -> nn.Module:
    """``torch.compile(student)``, with the feature taps (forward hooks) in its guards.

    Compiled code is reused by later students of the same architecture. By default dynamo does
    not guard on module hooks (``skip_nnmodule_hook_guards``), so a student tapped for a
    feature loss would run code compiled for an untapped one and its taps would stay empty;
    with hook guards, a tapped student gets code of its own (compiled once, reused in turn).
    """
    torch._dynamo.config.skip_nnmodule_hook_guards = False
    return torch.compile(student)


class _TeacherOutputs:
    """The teacher's logits and tapped features for each training batch of a run.

    Per epoch, outputs held by the cache are read from it (rows gathered by image index);
    the others come from a live teacher forward, which stops at the deepest tapped layer when
    the logits are not needed from it, and are recorded for the cache while the budget lasts.
    Without a cache every batch runs the teacher.
    """

    def __init__(
        self,
        teacher,
        graph,
        taps,
        order,
        *,
        needs_logits,
        cache,
        recipe,
        splits,
        device,
        fmt,
        bf16,
    ):
        self.teacher, self.graph, self.taps, self.device = teacher, graph, taps, device
        self.batch_size = recipe.optim.batch_size
        self.names = (["logits"] if needs_logits else []) + [f"feat:{m}" for m in order]
        self.order = order
        self.cache = cache
        self.n = len(splits.train_y)
        self.view = None
        if cache is not None:
            self.view = cache.view_key(
                teacher_sha256=recipe.teacher.sha256,
                split_hash=splits.split_hash,
                seed=recipe.seed,
                augment=recipe.augment.model_dump(mode="json"),
                n=self.n,
                device=device,
                # What the teacher computes in: bf16 and fp32 outputs are never mixed.
                output_dtype="bfloat16" if bf16 else "float32",
                layout="channels_last" if fmt == torch.channels_last else "contiguous",
                runner="eager" if graph is None else "compiled",
            )
        self.cached: dict = {}
        self.fill: dict[str, torch.Tensor | None] = {}
        self.grants: dict[str, tuple[str, int]] = {}
        self.live = True

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.cached = {}
        if self.cache is not None:
            self.cached = self.cache.lookup(self.view, epoch, self.names, self.device)
        missing = [m for m in self.names if m not in self.cached]
        self.live = bool(missing)
        # Entries this run will record: buffers are made at the first batch (shapes, dtypes).
        wanted = self.cache is not None
        self.fill = {m: None for m in missing if wanted and self.cache.wants(m)}
        self.grants = {}
        # Without the logits from it, the live forward can stop at the deepest missing tap.
        stop = None
        if missing and "logits" not in missing:
            stop = max((m[5:] for m in missing), key=self.order.index)
        if self.taps is not None:
            self.taps.stop_after = stop

    def batch(self, x: torch.Tensor, idx: torch.Tensor):
        live: dict[str, torch.Tensor] = {}
        if self.live:
            with torch.inference_mode():
                if self.graph is not None:
                    logits, feats = self.graph(x, self.batch_size)
                else:
                    try:
                        logits = self.teacher(x)
                    except StopForward:
                        logits = None
                    feats = self.taps.pop() if self.taps is not None else {}
            # Inference tensors cannot be saved for backward; clone them out of it.
            if logits is not None:
                live["logits"] = logits.clone()
            live.update({f"feat:{k}": v.clone() for k, v in feats.items()})
            if self.cache is not None:
                self.cache.count_teacher_batch()
            for name in list(self.fill):
                self._record(name, live[name], idx)
        out = {}
        for name in self.names:
            entry = self.cached.get(name)
            out[name] = entry.rows(idx) if entry is not None else live[name]
        logits = out.get("logits")
        return logits, {name[5:]: v for name, v in out.items() if name != "logits"}

    def _record(self, name: str, rows: torch.Tensor, idx: torch.Tensor) -> None:
        buf = self.fill[name]
        if buf is None and name not in self.grants:
            shape = (self.n, *rows.shape[1:])
            nbytes = math.prod(shape) * rows.element_size()
            where = self.cache.reserve(nbytes)
            if where is None:  # over budget: this output stays live for the epoch
                del self.fill[name]
                return
            self.grants[name] = (where, nbytes)
            buf = self.fill[name] = torch.empty(shape, dtype=rows.dtype, device=rows.device)
        buf.index_copy_(0, idx, rows.detach())

    def end_epoch(self) -> None:
        for name, buf in self.fill.items():
            if buf is not None:
                where, nbytes = self.grants[name]
                self.cache.store(self.view, self.epoch, name, buf, where, nbytes)
        self.fill, self.grants, self.cached = {}, {}, {}

    def abandon(self) -> None:
        """Releases reservations of an epoch that will not finish."""
        for where, nbytes in self.grants.values():
            self.cache.release(where, nbytes)
        self.fill, self.grants = {}, {}


class _PairSum(nn.Module):
    """One term over several layer pairs: the sum of one loss per pair."""

    def __init__(self, parts: list[BaseDistillLoss]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.kind = parts[0].kind

    def forward(self, inputs: DistillInputs) -> torch.Tensor:
        return torch.stack([part(inputs) for part in self.parts]).sum()


def _build_terms(recipe, student, teacher, splits, dev, fmt):
    """Loss modules built from shapes probed with one small batch, plus the taps they read."""
    active = recipe.distill.active_terms()
    s_names = [s for term in active.values() for _, s in term.pairs]
    t_names = [t for term in active.values() for t, _ in term.pairs]
    s_taps = FeatureTaps(student, s_names, role="student") if s_names else None
    t_taps = FeatureTaps(teacher, t_names, role="teacher") if teacher is not None else None
    s_shapes: dict[str, tuple[int, ...]] = {}
    t_shapes: dict[str, tuple[int, ...]] = {}
    if s_names or t_names:
        probe = splits.normalise(splits.first(2).to(dev)).contiguous(memory_format=fmt)
        student.eval()
        with torch.no_grad():
            student(probe)
            teacher(probe)
        student.train()
        s_shapes = {k: tuple(v.shape[1:]) for k, v in s_taps.pop().items()} if s_taps else {}
        # Recorded in the order the hooks fired: the last one is the deepest tapped layer.
        t_shapes = {k: tuple(v.shape[1:]) for k, v in t_taps.pop().items()}
    terms = []
    for key, term in active.items():
        parts = [
            part.to(dev)
            for part in build_pair_losses(
                LOSSES.get(term.loss or key),
                term.pairs,
                t_shapes,
                s_shapes,
                projector=term.projector,
                params=term.params,
            )
        ]
        for part in parts:
            if hasattr(part, "prepare"):  # e.g. factor transfer pre-trains its paraphraser
                part.prepare(_teacher_batches(teacher, t_taps, splits, dev, fmt, recipe))
        loss = parts[0] if len(parts) == 1 else _PairSum(parts)
        terms.append(_Term(key=key, loss=loss, weight=term.weight.build()))
    return terms, s_taps, t_taps, list(t_shapes)


def _teacher_batches(teacher, taps, splits, dev, fmt, recipe, batch_size: int = 256):
    """A function yielding the teacher's taps over the un-augmented training set, in order."""

    def batches():
        for raw, _ in eval_batches(
            splits.train_x,
            splits.train_y,
            batch_size=batch_size,
            device=dev,
            num_workers=recipe.data.num_workers,
        ):
            with torch.no_grad():  # not inference mode: a loss may train on these tensors
                teacher(splits.normalise(raw).contiguous(memory_format=fmt))
            yield taps.pop()

    return batches


def _optimizer(recipe: Recipe, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """SGD (Nesterov when momentum > 0) or AdamW.

    On CUDA with torch's fused kernels (one kernel per step for all parameters); on CPU with
    the plain per-parameter loop, which measured fastest there (resnet8x4, SGD step on a
    2-core CPU: 23 ms, against 93 ms fused and 132 ms foreach).
    """
    opt = recipe.optim
    params = [p for p in params if p.requires_grad]  # parts a loss pre-trained and froze
    cuda = bool(params) and params[0].is_cuda
    kernel = {"fused": True} if cuda else {"foreach": False}
    if opt.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=opt.lr, weight_decay=opt.weight_decay, **kernel)
    return torch.optim.SGD(
        params,
        lr=opt.lr,
        momentum=opt.momentum,
        weight_decay=opt.weight_decay,
        nesterov=opt.momentum > 0,
        **kernel,
    )


def _evaluate(model, splits, part, fmt, workers, bf16) -> tuple[torch.Tensor, torch.Tensor]:
    """(correct count, summed CE loss) on ``splits``' ``part`` as device tensors: no host sync."""
    dev = splits.train_y.device
    model.eval()
    correct = torch.zeros((), device=dev)
    loss = torch.zeros((), device=dev)
    x, y = getattr(splits, f"{part}_x"), getattr(splits, f"{part}_y")
    with torch.inference_mode(), torch.autocast(dev.type, torch.bfloat16, enabled=bf16):
        for raw, target in eval_batches(
            x, y, batch_size=_EVAL_BATCH, device=dev, num_workers=workers
        ):
            logits = model(splits.normalise(raw).contiguous(memory_format=fmt)).float()
            correct += (logits.argmax(1) == target).sum()
            loss += F.cross_entropy(logits, target, reduction="sum")
    return correct, loss


def evaluate_accuracy(model: nn.Module, splits: Splits, part: str = "val") -> float:
    """Top-1 accuracy of ``model`` on a part (``train``, ``val``, ``test``) of ``splits``.

    The model runs in eval and inference mode on the device the splits' labels are on.
    """
    cuda = splits.train_y.is_cuda
    fmt = torch.channels_last if cuda else torch.contiguous_format
    correct, _ = _evaluate(model, splits, part, fmt, workers=0, bf16=cuda)
    return correct.item() / len(getattr(splits, f"{part}_y"))
