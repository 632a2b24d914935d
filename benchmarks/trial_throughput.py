"""One distillation trial: the autokd engine against a plain PyTorch KD loop, side by side.

The plain loop is written the way KD code usually is: a Dataset that turns each stored image
into a PIL image and runs torchvision's per-sample transforms (pad-4 random crop, flip,
ToTensor, Normalize), a DataLoader with worker processes, the teacher's forward at every
step, and ``loss.item()`` at every step. Both train the same resnet32x4 -> resnet8x4 pair
(random weights: they do not change the cost) on the same synthetic CIFAR-100 files, with
the same batch size, optimiser and epochs, and both validate after every epoch.

Runs, alternated within each repeat:
  plain KD                      the plain loop, logit KD (T=4, alpha=0.9)
  autokd KD, first trial        the engine; the teacher runs and fills the study's cache
  autokd KD, later trial        the engine reading the cached logits (no teacher forward)
  plain KD+AT                   the plain loop with attention transfer on all 3 stages
  autokd KD+AT, teacher online  the engine, logits cached, features live (the teacher's
                                forward is run every step, up to its last tapped layer)
  ... compiled teacher          the same with ``compile_teacher``: the teacher's forward as one
                                compiled graph of its tapped outputs (compiled once per process;
                                the one-time compile is printed apart, not in images/s)
  student alone                 the engine without a teacher: the limit for a trial

On a CPU with native bf16 (AVX-512 BF16 or AMX), and with ``--bf16 on`` anywhere on CPU, the
engine's rows are also run with ``engine.precision: bf16`` (rows ending in ", bf16"; the plain
loop stays fp32, as KD code usually is). On CUDA the engine is in bf16 already.

Prints training images/s (median over epochs after the first, which holds the set-up), the
ratios the targets are stated in, peak RSS of the process during each run, peak CUDA memory,
and hardware efficiency: FLOPs per image (torch's flop counter: student forward + backward,
plus the teacher forward where it runs) x images/s, against the device's peak when known.

    python benchmarks/trial_throughput.py [--device auto] [--n-train N] [--epochs 3]
        [--batch-size 64] [--repeats 1] [--plain-workers 2] [--peak-tflops X]
        [--channels-last] [--bf16 auto|on|off]

Defaults: 50,000 training images on CUDA, 600 on CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path
import statistics
import sys
import tempfile
import threading
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.data import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autokd.data import load_splits  # noqa: E402
from autokd.engine import TeacherCache  # noqa: E402
from autokd.engine import resolve_device  # noqa: E402
from autokd.engine import train_recipe  # noqa: E402
from autokd.models import build_model  # noqa: E402
from autokd.recipe import ModelSpec  # noqa: E402
from autokd.recipe import Recipe  # noqa: E402
from autokd.testing.fake_data import write_cifar  # noqa: E402

STAGES = ("stages.0", "stages.1", "stages.2")
AT_WEIGHT = 1000.0  # per pair, as in the CRD benchmark's attention transfer (beta = 1000)
#: Dense bf16 tensor-core peaks (TFLOP/s) from the vendors' data sheets.
PEAKS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}


# -- the plain loop ---------------------------------------------------------------------------


class PlainCIFAR(Dataset):
    """Like ``torchvision.datasets.CIFAR100``: HWC uint8 array -> PIL image -> transforms."""

    def __init__(self, data: np.ndarray, targets: list[int], transform) -> None:
        self.data, self.targets, self.transform = data, targets, transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.data[i])), self.targets[i]


def _attention(f: torch.Tensor) -> torch.Tensor:
    """Zagoruyko & Komodakis (2017): normalised spatial map of mean squared activations."""
    return F.normalize(f.pow(2).mean(1).flatten(1))


def plain_kd(
    student, teacher, train, val, mean, std, *, args, dev, at: bool, on_epoch, bf16=False
) -> None:
    """The plain loop; calls ``on_epoch()`` after each epoch's validation.

    ``bf16``: forward passes and losses under ``torch.autocast`` in bfloat16, the one-line
    change a KD script can make, to tell the engine's gain from the precision's.
    """
    autocast = lambda: torch.autocast(dev.type, torch.bfloat16, enabled=bf16)  # noqa: E731
    import torchvision.transforms as T

    augment = T.Compose(
        [
            T.RandomCrop(32, padding=4),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(mean, std),
        ]
    )
    plain = T.Compose([T.ToTensor(), T.Normalize(mean, std)])
    workers = args.plain_workers
    kw = {
        "num_workers": workers,
        "pin_memory": dev.type == "cuda",
        "persistent_workers": workers > 0,
    }
    train_loader = DataLoader(
        PlainCIFAR(*train, augment), batch_size=args.batch_size, shuffle=True, **kw
    )
    val_loader = DataLoader(PlainCIFAR(*val, plain), batch_size=256, **kw)
    feats: dict[str, dict[str, torch.Tensor]] = {"s": {}, "t": {}}
    if at:
        for role, model in (("s", student), ("t", teacher)):
            modules = dict(model.named_modules())
            for name in STAGES:
                modules[name].register_forward_hook(
                    lambda m, i, o, role=role, name=name: feats[role].__setitem__(name, o)
                )
    opt = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    temp, alpha = 4.0, 0.9
    teacher.eval()
    for _ in range(args.epochs):
        student.train()
        running = 0.0
        for x, y in train_loader:
            x, y = x.to(dev), y.to(dev)
            with autocast():
                with torch.no_grad():
                    t_logits = teacher(x)
                s_logits = student(x)
                kd = F.kl_div(
                    F.log_softmax(s_logits.float() / temp, 1),
                    F.softmax(t_logits.float() / temp, 1),
                    reduction="batchmean",
                )
                loss = (1 - alpha) * F.cross_entropy(s_logits.float(), y) + alpha * temp**2 * kd
                if at:
                    for name in STAGES:
                        diff = _attention(feats["s"][name].float()) - _attention(
                            feats["t"][name].float()
                        )
                        loss = loss + AT_WEIGHT / 2 * diff.pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            running += loss.item()
        student.eval()
        correct = 0
        with torch.no_grad(), autocast():
            for x, y in val_loader:
                correct += (student(x.to(dev)).argmax(1).cpu() == y).sum().item()
        on_epoch()


# -- measuring ----------------------------------------------------------------------------------


class PeakRSS:
    """Samples this process's resident memory every 20 ms while a block runs."""

    def __enter__(self) -> PeakRSS:
        self.peak, self._stop = _rss(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def flops_per_image(student, teacher, dev, *, teacher_runs: bool) -> float:
    """Student forward + backward (+ teacher forward) FLOPs per image, from one batch of 8."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(8, 3, 32, 32, device=dev)
    with FlopCounterMode(display=False) as counter:
        student(x).sum().backward()
        if teacher_runs:
            with torch.no_grad():
                teacher(x)
    student.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 8


def measure(name: str, run, n: int, dev: torch.device) -> dict:
    marks: list[float] = []

    def on_epoch(*_) -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        marks.append(time.perf_counter())

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    start = time.perf_counter()
    with PeakRSS() as rss:
        run(on_epoch)
    times = [b - a for a, b in zip(marks, marks[1:], strict=False)]  # epoch 0 holds set-up
    epoch_s = statistics.median(times)
    return {
        "name": name,
        "img_s": n / epoch_s,
        "epoch_s": epoch_s,
        "total_s": time.perf_counter() - start,
        "rss_mb": rss.peak / 2**20,
        "cuda_mb": torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None,
    }


def _native_cpu_bf16() -> bool:
    """Whether oneDNN has native bf16 kernels on this CPU (AVX-512 BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"{torch.cuda.get_device_name(dev)} (CUDA {torch.version.cuda})"
    import platform

    return (
        f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch threads"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=3, help="per run; the first is warm-up")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--plain-workers", type=int, default=2)
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument(
        "--channels-last",
        action="store_true",
        help="engine runs in channels-last layout also on CPU (default: on CUDA only)",
    )
    parser.add_argument(
        "--bf16",
        choices=("auto", "on", "off"),
        default="auto",
        help="CPU only: also run the engine in bf16 (auto: where the CPU has native bf16)",
    )
    args = parser.parse_args()
    dev = resolve_device(args.device)
    bf16_rows = dev.type == "cpu" and (
        args.bf16 == "on" or (args.bf16 == "auto" and _native_cpu_bf16())
    )
    n_train = args.n_train or (50_000 if dev.type == "cuda" else 600)
    args.epochs = max(args.epochs, 2)

    with tempfile.TemporaryDirectory() as tmp:
        root = write_cifar(tmp, num_classes=100, n_train=n_train, n_test=200)
        torch.manual_seed(0)
        teacher = build_model(ModelSpec(family="resnet32x4"), in_channels=3, num_classes=100)
        ckpt = Path(tmp) / "teacher.pt"
        torch.save(teacher.state_dict(), ckpt)
        at_pairs = "; ".join(f"{s} -> {s}" for s in STAGES)
        base = {
            # 10% as in the studies; more for small sets, so each class has a val image.
            "data": {
                "name": "cifar100",
                "root": str(root),
                "val_fraction": min(0.45, max(0.1, 150 / n_train)),
            },
            "teacher": {
                "model": {"family": "resnet32x4"},
                "checkpoint": str(ckpt),
                "sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest(),
            },
            "student": {"family": "resnet8x4"},
            "optim": {
                "lr": 0.05,
                "momentum": 0.9,
                "weight_decay": 5e-4,
                "epochs": args.epochs,
                "batch_size": args.batch_size,
            },
            "augment": {"crop": 4, "flip": True},
            "distill": {"temperature": 4.0, "alpha": 0.9, "terms": {"kd": {}}},
        }
        kd = Recipe.from_dict(base)
        kd_at = Recipe.from_dict(
            {
                **base,
                "distill": {
                    "temperature": 4.0,
                    "alpha": 0.9,
                    "terms": {"kd": {}, "at": {"pair": at_pairs, "weight": AT_WEIGHT / 2}},
                },
            }
        )
        splits = load_splits(kd.data)
        n = len(splits.train_y)
        # The plain loop trains on the same images and validates on the same ones, stored as
        # torchvision's CIFAR keeps them (HWC uint8), normalised with the same statistics.
        train = (splits.train_x.permute(0, 2, 3, 1).numpy(), splits.train_y.tolist())
        val = (splits.val_x.permute(0, 2, 3, 1).numpy(), splits.val_y.tolist())
        mean = [m / 255 for m in splits.mean]
        std = [s / 255 for s in splits.std]

        student0 = build_model(kd.student, in_channels=3, num_classes=100).to(dev)
        teacher_dev = teacher.to(dev).eval()
        flops_full = flops_per_image(student0, teacher_dev, dev, teacher_runs=True)
        flops_student = flops_per_image(student0, teacher_dev, dev, teacher_runs=False)

        layout = True if args.channels_last else None

        def plain(at: bool, bf16: bool = False):
            def run(on_epoch) -> None:
                torch.manual_seed(0)
                student = build_model(kd.student, in_channels=3, num_classes=100).to(dev)
                plain_kd(
                    student,
                    teacher_dev,
                    train,
                    val,
                    mean,
                    std,
                    args=args,
                    dev=dev,
                    at=at,
                    on_epoch=on_epoch,
                    bf16=bf16,
                )

            return run

        def engine(
            recipe: Recipe,
            cache: TeacherCache | None,
            compile_teacher: bool = False,
            bf16: bool | None = None,
        ):
            return lambda on_epoch: train_recipe(
                recipe,
                device=dev,
                on_epoch=on_epoch,
                teacher_cache=cache,
                channels_last=layout,
                compile_teacher=compile_teacher,
                bf16=bf16,
            )

        def prefill(cache: TeacherCache, compile_teacher: bool, bf16: bool | None = None):
            """Fills the cache's logits (the run compiles the teacher); returns its seconds."""
            start = time.perf_counter()
            train_recipe(
                kd_at,
                device=dev,
                teacher_cache=cache,
                channels_last=layout,
                compile_teacher=compile_teacher,
                bf16=bf16,
            )
            return time.perf_counter() - start

        results: dict[str, list[dict]] = {}
        prefills: dict[str, list[float]] = {"eager": [], "compiled": []}
        for _ in range(args.repeats):
            kd_cache = TeacherCache(memory_mb=64 * 1024)
            # Logits cached, features not: the AT runs below run the teacher every step.
            at_cache = TeacherCache(memory_mb=64 * 1024, features=False)
            at_cache_c = TeacherCache(memory_mb=64 * 1024, features=False)
            prefills["eager"].append(prefill(at_cache, False))
            prefills["compiled"].append(prefill(at_cache_c, True))
            runs = [
                ("plain KD", plain(False), flops_full),
                ("autokd KD, first trial", engine(kd, kd_cache), flops_full),
                ("autokd KD, later trial", engine(kd, kd_cache), flops_student),
                ("plain KD+AT", plain(True), flops_full),
                ("autokd KD+AT, teacher online", engine(kd_at, at_cache), flops_full),
                ("... compiled teacher", engine(kd_at, at_cache_c, True), flops_full),
                ("student alone", engine(kd.without_distillation(), None), flops_student),
            ]
            if bf16_rows:
                kd_cache_b = TeacherCache(memory_mb=64 * 1024)
                at_cache_b = TeacherCache(memory_mb=64 * 1024, features=False)
                prefill(at_cache_b, False, bf16=True)
                runs += [
                    ("plain KD, bf16 autocast", plain(False, bf16=True), flops_full),
                    ("plain KD+AT, bf16 autocast", plain(True, bf16=True), flops_full),
                    (
                        "autokd KD, first trial, bf16",
                        engine(kd, kd_cache_b, bf16=True),
                        flops_full,
                    ),
                    (
                        "autokd KD, later trial, bf16",
                        engine(kd, kd_cache_b, bf16=True),
                        flops_student,
                    ),
                    (
                        "autokd KD+AT online, bf16",
                        engine(kd_at, at_cache_b, bf16=True),
                        flops_full,
                    ),
                    (
                        "student alone, bf16",
                        engine(kd.without_distillation(), None, bf16=True),
                        flops_student,
                    ),
                ]
            for name, run, flops in runs:
                r = measure(name, run, n, dev)
                r["tflops"] = flops * r["img_s"] / 1e12
                results.setdefault(name, []).append(r)
                print(f"    {name}: {r['img_s']:.0f} img/s", flush=True)

        peak = args.peak_tflops
        if peak is None and dev.type == "cuda":
            peak = next(
                (v for k, v in PEAKS.items() if k in torch.cuda.get_device_name(dev)), None
            )
        print(f"device: {device_name(dev)}; torch {torch.__version__}")
        print(
            f"resnet32x4 -> resnet8x4, synthetic CIFAR-100: {n:,} train images, batch "
            f"{args.batch_size}, {args.epochs} epochs per run ({args.epochs - 1} timed), "
            f"{args.repeats} repeat(s), plain loop with {args.plain_workers} loader workers"
            + ("; engine in channels-last layout" if args.channels_last else "")
        )
        print(
            f"FLOPs per training image: student fwd+bwd {flops_student / 1e9:.2f} G, "
            f"+ teacher fwd {(flops_full - flops_student) / 1e9:.2f} G"
        )
        med = {k: statistics.median(r["img_s"] for r in v) for k, v in results.items()}
        for name, rows in results.items():
            r = rows[-1]
            tflops = statistics.median(x["tflops"] for x in rows)
            eff = f", {100 * tflops / peak:.1f}% of peak" if peak else ""
            cuda_mb = f", peak CUDA {r['cuda_mb']:.0f} MiB" if r["cuda_mb"] is not None else ""
            print(
                f"  {name:32s} {med[name]:8.0f} img/s  {tflops:7.3f} TFLOP/s{eff}; "
                f"peak RSS {r['rss_mb']:.0f} MiB{cuda_mb}"
            )
        ratios = [
            ("autokd KD (later trial) / plain KD", "autokd KD, later trial", "plain KD"),
            ("autokd KD (first trial) / plain KD", "autokd KD, first trial", "plain KD"),
            (
                "autokd KD+AT (teacher online) / plain KD+AT",
                "autokd KD+AT, teacher online",
                "plain KD+AT",
            ),
            (
                "  ... with the compiled teacher",
                "... compiled teacher",
                "plain KD+AT",
            ),
            ("student alone / autokd KD (later trial)", "student alone", "autokd KD, later trial"),
        ]
        if bf16_rows:
            ratios += [
                ("plain KD, bf16 autocast / plain KD", "plain KD, bf16 autocast", "plain KD"),
                (
                    "bf16: autokd KD (later) / plain KD bf16",
                    "autokd KD, later trial, bf16",
                    "plain KD, bf16 autocast",
                ),
                (
                    "bf16: autokd KD+AT online / plain KD+AT bf16",
                    "autokd KD+AT online, bf16",
                    "plain KD+AT, bf16 autocast",
                ),
                (
                    "bf16: autokd KD (later trial) / plain KD",
                    "autokd KD, later trial, bf16",
                    "plain KD",
                ),
                (
                    "bf16: autokd KD (first trial) / plain KD",
                    "autokd KD, first trial, bf16",
                    "plain KD",
                ),
                (
                    "bf16: autokd KD+AT online / plain KD+AT",
                    "autokd KD+AT online, bf16",
                    "plain KD+AT",
                ),
                (
                    "bf16: student alone / autokd KD (later)",
                    "student alone, bf16",
                    "autokd KD, later trial, bf16",
                ),
            ]
        # Each repeat runs every row once, in turn, so a ratio within a repeat cancels the
        # machine's slower and faster spells; the median of those is the figure to quote.
        print("  ratios: median over repeats of the ratio within each repeat (each repeat's)")
        for label, a, b in ratios:
            each = [x["img_s"] / y["img_s"] for x, y in zip(results[a], results[b], strict=True)]
            spread = ", ".join(f"{v:.2f}" for v in each)
            print(f"  {label:48s} x{statistics.median(each):.2f}  ({spread})")
        compile_s = prefills["compiled"][0] - prefills["eager"][0]  # later repeats reuse it
        print(
            f"  one-time teacher compile (first compiled run minus first eager run): "
            f"{compile_s:.0f} s, once per process, teacher, tapped layers and batch size "
            "(less when inductor's on-disk cache holds it from an earlier run)"
        )
        if not peak:
            print("  (peak FLOP/s of this device unknown: pass --peak-tflops for % of peak)")


if __name__ == "__main__":
    main()
