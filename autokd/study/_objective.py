"""The Optuna objective: trial -> recipe -> engine, with MLflow tracking and pruning."""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import gc
import os
import socket

import optuna
import torch

from autokd._signals import raise_if_interrupted
from autokd.config._study import Constraints
from autokd.data import dataset_shape
from autokd.engine import TeacherCache
from autokd.engine import train_recipe
from autokd.exceptions import ConfigError
from autokd.exceptions import TrialSetupError
from autokd.recipe import DataSpec
from autokd.recipe import Recipe
from autokd.recipe import TeacherSpec
from autokd.space import SearchSpace
from autokd.study._concurrency import DeviceGate
from autokd.study._constraints import StudentCost
from autokd.study._constraints import check_constraints
from autokd.study._constraints import constraint_names
from autokd.study._constraints import measure_student
from autokd.study._recipes import recipe_from_trial
from autokd.tracking import MlflowTracker
from autokd.tracking._mlflow import WORKER_TAG

__all__ = ["SURPLUS_REASON", "TRIAL_ERRORS", "Objective", "free_memory_after_oom"]

#: Failures of one trial that the study records (state FAIL + reason) before going on.
TRIAL_ERRORS: tuple[type[BaseException], ...] = (
    TrialSetupError,
    ConfigError,
    FloatingPointError,
    RuntimeError,
    torch.OutOfMemoryError,
)

#: ``fail_reason`` of a trial a worker started after the study had all its trials (two
#: workers raced for the last one); it never trains and never counts.
SURPLUS_REASON = "surplus: the study already holds n_trials trials"

#: Written on every trial (user attribute ``worker``): which process ran it.
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def free_memory_after_oom(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Optuna callback: after a trial ran out of memory, frees what it left behind.

    The failed trial's tensors are kept alive by reference cycles through the exception's
    traceback until the garbage collector runs; ``torch.cuda.empty_cache`` then returns the
    cached blocks to the driver, so the next trial starts from the same free memory.
    """
    if not str(trial.user_attrs.get("fail_reason", "")).startswith("OutOfMemoryError"):
        return
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


class Objective:
    """Trains the recipe a trial samples; reports val accuracy per epoch; tracks in MLflow.

    Before training, the sampled student is built and measured (params, MACs, and latency
    when an objective or a limit needs it); the trial records them as user attributes
    ``student_params``, ``student_macs`` and ``student_latency_ms``. With ``constraints``,
    every trial records its constraint values (user attribute ``constraints`` and Optuna's
    ``Trial.set_constraint``, which the TPE, NSGA-II/III and GP samplers read; <= 0 is
    feasible), and a student over a limit is pruned at once with the reason, costing no epoch.

    With more than one objective the trial returns ``(val_acc, cost, ...)`` and is never
    pruned on its learning curve (Optuna cannot prune multi-objective trials); per-epoch
    metrics still go to MLflow.

    Args:
        space: The search space.
        data: The study's dataset and split.
        teacher: The study's frozen teacher.
        tracker: MLflow adapter; each trial gets a child run of ``parent_run_id``.
        parent_run_id: The study's MLflow run.
        device: Training device.
        objectives: ``val_acc`` first, then the costs to minimise (``params``, ``macs``,
            ``latency_ms``).
        constraints: Limits on the student (default: none).
        teacher_cache: Teacher outputs shared by the trials (None: the teacher always runs).
        compile: Compile each student with ``torch.compile``.
        compile_teacher: Run the teacher's live forward as a compiled graph.
        gate: Admits concurrent trials (None: no limit beyond Optuna's ``n_jobs``).
        channels_last: Memory layout (None: channels-last on CUDA only).
        bf16: bfloat16 autocast (None: on CUDA only).
        budget: The study's ``n_trials`` when several workers share it: a trial whose lower
            numbered trials already take the whole budget fails at once, untrained, as
            surplus (None: no check; one process stops by itself).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        data: DataSpec,
        teacher: TeacherSpec,
        tracker: MlflowTracker,
        parent_run_id: str,
        device: torch.device,
        objectives: Sequence[str] = ("val_acc",),
        constraints: Constraints | None = None,
        teacher_cache: TeacherCache | None = None,
        compile: bool = False,
        compile_teacher: bool = False,
        gate: DeviceGate | None = None,
        channels_last: bool | None = None,
        bf16: bool | None = None,
        budget: int | None = None,
    ) -> None:
        self.space = space
        self.data = data
        self.teacher = teacher
        self.tracker = tracker
        self.parent_run_id = parent_run_id
        self.device = device
        self.objectives = tuple(objectives)
        self.constraints = constraints or Constraints()
        self.teacher_cache = teacher_cache
        self.compile = compile
        self.compile_teacher = compile_teacher
        self.gate = gate
        self.channels_last = channels_last
        self.bf16 = bf16
        self.budget = budget
        self._shape: tuple[tuple[int, int, int], int] | None = None

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        raise_if_interrupted()
        trial.set_user_attr("worker", WORKER_ID)
        if self.budget is not None:
            self._check_budget(trial)
        try:
            recipe = recipe_from_trial(self.space, trial, data=self.data, teacher=self.teacher)
        except ConfigError as exc:  # a sampled combination the recipe rejects
            trial.set_user_attr("fail_reason", str(exc))
            raise
        run_id = self.tracker.start_trial_run(
            # The recipe's own paths, plus the sampled names where they differ (a bare number
            # sampled as ``distill.terms.at.weight`` is the recipe's constant schedule).
            self.parent_run_id,
            trial.number,
            params={**recipe.flat_params(), **trial.params},
            recipe_yaml=recipe.to_yaml(),
            tags={WORKER_TAG: WORKER_ID},
        )
        trial.set_user_attr("mlflow_run_id", run_id)
        with self._ending_run(trial, run_id):
            cost = self._measure(recipe)
        self._record_cost(trial, run_id, cost)
        single = len(self.objectives) == 1
        last = recipe.optim.epochs - 1

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            raise_if_interrupted()
            self.tracker.log_metrics(run_id, metrics, step=epoch)
            if single:
                trial.report(metrics["val_acc"], epoch)
                # Never after the last epoch: the training is paid for, and a pruned trial
                # could be neither exported nor re-evaluated (the median pruner did this).
                if epoch < last and trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {epoch}")

        gate = self.gate.admit() if self.gate is not None else contextlib.nullcontext()
        with self._ending_run(trial, run_id), gate:
            result = train_recipe(
                recipe,
                device=self.device,
                on_epoch=on_epoch,
                teacher_cache=self.teacher_cache,
                compile=self.compile,
                compile_teacher=self.compile_teacher,
                channels_last=self.channels_last,
                bf16=self.bf16,
            )
        self.tracker.log_metrics(
            run_id,
            {
                "student_params": result.student_params,
                "extra_params": result.extra_params,
                "train_seconds": result.seconds,
            },
            step=len(result.history),
        )
        # Learnable parts of the losses (projectors, heads, banks' heads) count as extra
        # parameters of the recipe; export copies these into its provenance.
        trial.set_user_attr("student_params", result.student_params)
        trial.set_user_attr("extra_params", result.extra_params)
        self.tracker.end_run(run_id, "FINISHED")
        if single:
            return result.val_acc
        return (result.val_acc, *(cost.objective(name) for name in self.objectives[1:]))

    def _check_budget(self, trial: optuna.Trial) -> None:
        from autokd.study._optimize import trials_before

        if trials_before(trial.study.get_trials(deepcopy=False), trial.number) >= self.budget:
            trial.set_user_attr("fail_reason", SURPLUS_REASON)
            raise TrialSetupError(SURPLUS_REASON)

    def _measure(self, recipe: Recipe) -> StudentCost:
        if self._shape is None:
            self._shape = dataset_shape(self.data)
        image, classes = self._shape
        timed = "latency_ms" in self.objectives or self.constraints.max_latency_ms is not None
        return measure_student(
            recipe.student,
            image,
            classes,
            device=self.device,
            latency_batch=self.constraints.latency_batch if timed else None,
        )

    def _record_cost(self, trial: optuna.Trial, run_id: str, cost: StudentCost) -> None:
        """Stores the student's cost; prunes the trial (no training) if it breaks a limit."""
        trial.set_user_attr("student_params", cost.params)
        trial.set_user_attr("student_macs", cost.macs)
        metrics = {"student_params": float(cost.params), "student_macs": float(cost.macs)}
        if cost.latency_ms is not None:
            trial.set_user_attr("student_latency_ms", cost.latency_ms)
            metrics["student_latency_ms"] = cost.latency_ms
        self.tracker.log_metrics(run_id, metrics, step=0)
        if not self.constraints.active:
            return
        values, violations = check_constraints(cost, self.constraints)
        trial.set_user_attr("constraints", values)
        for name, value in zip(constraint_names(self.constraints), values, strict=True):
            trial.set_constraint(name, value)
        if violations:
            reason = "; ".join(violations)
            trial.set_user_attr("pruned_reason", reason)
            self.tracker.end_run(run_id, "KILLED", reason=reason)
            raise optuna.TrialPruned(reason)

    @contextlib.contextmanager
    def _ending_run(self, trial: optuna.Trial, run_id: str) -> Iterator[None]:
        """Ends the trial's MLflow run with the state and reason of whatever stops the block."""
        try:
            yield
        except optuna.TrialPruned as exc:
            trial.set_user_attr("pruned_reason", str(exc))
            self.tracker.end_run(run_id, "KILLED")
            raise
        except BaseException as exc:
            interrupted = isinstance(exc, KeyboardInterrupt)
            reason = "interrupted" if interrupted else f"{type(exc).__name__}: {exc}"
            trial.set_user_attr("fail_reason", reason)
            self.tracker.end_run(run_id, "FAILED", reason=reason)
            raise
