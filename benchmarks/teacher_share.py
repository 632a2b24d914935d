"""How much of a study's time goes to the teacher, with the teacher-output cache on and off.

Runs the same study twice (same sampler seed, same trials) with `engine.teacher_cache`
enabled and disabled, timing every call that produces the teacher's outputs for a training
batch (the live forward, or the cache read that replaces it). Prints each study's wall time,
the time in teacher outputs and its share, the teacher batches actually run, and the
speed-up of the study as a whole.

    python benchmarks/teacher_share.py [--study studies/digits.yaml] [--n-trials 12]
        [--device cpu]

Relative paths in the study file are read from its folder, as `autokd run` does.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
import tempfile
import time

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autokd.config import StudyConfig  # noqa: E402
from autokd.engine import _trainer  # noqa: E402
from autokd.study import ensure_teacher  # noqa: E402
from autokd.study import run_study  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class TeacherClock:
    """Wraps the engine's per-batch teacher outputs and sums the time spent in them."""

    def __init__(self, device: str) -> None:
        self.seconds, self.live_batches, self.cuda = 0.0, 0, device.startswith("cuda")
        self._real = _trainer._TeacherOutputs.batch

    def __enter__(self) -> TeacherClock:
        clock = self

        def timed(outputs, x, idx):
            if clock.cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            result = clock._real(outputs, x, idx)
            if clock.cuda:
                torch.cuda.synchronize()
            clock.seconds += time.perf_counter() - start
            clock.live_batches += outputs.live
            return result

        _trainer._TeacherOutputs.batch = timed
        return self

    def __exit__(self, *exc) -> None:
        _trainer._TeacherOutputs.batch = self._real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default=str(REPO / "studies/digits.yaml"))
    parser.add_argument("--n-trials", type=int, default=12)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    source = Path(args.study).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        rows = {}
        teacher = None
        for label, enabled in (("cache off", False), ("cache on", True)):
            data = yaml.safe_load(source.read_text())
            data["search_space"] = str((source.parent / data["search_space"]).resolve())
            root = data.get("data", {}).get("root")
            if root is not None and not Path(root).is_absolute():
                data["data"]["root"] = str((source.parent / root).resolve())
            data["study"].update(
                name=label.replace(" ", "_"),
                n_trials=args.n_trials,
                output_dir=str(Path(tmp) / label.replace(" ", "_")),
            )
            data.setdefault("engine", {})["teacher_cache"] = {"enabled": enabled}
            if teacher is not None:
                data["teacher"]["checkpoint"] = teacher.checkpoint
            path = Path(tmp) / f"{label.replace(' ', '_')}.yaml"
            path.write_text(yaml.safe_dump(data, sort_keys=False))
            config = StudyConfig.from_yaml(path)
            teacher = teacher or ensure_teacher(config, device=args.device)
            with TeacherClock(args.device) as clock:
                start = time.perf_counter()
                study = run_study(config, device=args.device, progress=False)
                wall = time.perf_counter() - start
            epochs = sum(len(t.intermediate_values) for t in study.trials)
            rows[label] = (wall, clock.seconds, clock.live_batches, epochs, study.best_value)
        print(f"study {source.name}: {args.n_trials} trials, device {args.device}")
        for label, (wall, teach, live, epochs, best) in rows.items():
            print(
                f"  {label:9s} study {wall:7.1f} s; teacher outputs {teach:6.1f} s "
                f"({100 * teach / wall:4.1f}% of the study); {live} teacher batches run; "
                f"{epochs} student-epochs; best val_acc {best:.4f}"
            )
        off, on = rows["cache off"], rows["cache on"]
        print(
            f"  cache on: study x{off[0] / on[0]:.2f} faster, teacher time x"
            f"{off[1] / max(on[1], 1e-9):.1f} lower, same best value: {off[4] == on[4]}"
        )


if __name__ == "__main__":
    main()
