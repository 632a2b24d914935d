"""The study file: what to search, on which data, against which teacher, and where to write."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from typing import Literal

import pydantic
from pydantic import Field

from autokd._config import FrozenModel
from autokd._config import load_yaml
from autokd._config import parse_model
from autokd.exceptions import ConfigError
from autokd.recipe import AugmentSpec
from autokd.recipe import DataSpec
from autokd.recipe import ModelSpec
from autokd.recipe import OptimSpec

__all__ = [
    "Constraints",
    "FinalEval",
    "FinalTraining",
    "HeartbeatSettings",
    "PrunerSpec",
    "SamplerSpec",
    "StudyConfig",
    "StudySection",
    "TeacherConfig",
]


class SamplerSpec(FrozenModel):
    """An Optuna sampler by registered name (``autokd list samplers``), seeded."""

    name: str = "tpe"
    seed: int | None = 0
    params: dict[str, Any] = Field(default_factory=dict)

    @pydantic.model_validator(mode="after")
    def _buildable(self) -> SamplerSpec:
        from autokd.study._factories import build_sampler

        build_sampler(self)
        return self


class PrunerSpec(FrozenModel):
    """An Optuna pruner by registered name (``autokd list pruners``).

    Without ``params``, the median pruner waits for 5 trials and 2 epochs; any other pruner
    gets Optuna's defaults.
    """

    name: str = "median"
    params: dict[str, Any] = Field(default_factory=dict)

    @pydantic.model_validator(mode="before")
    @classmethod
    def _median_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("name", "median") == "median":
            if "params" not in data:
                return {**data, "params": {"n_startup_trials": 5, "n_warmup_steps": 2}}
        return data

    @pydantic.model_validator(mode="after")
    def _buildable(self) -> PrunerSpec:
        from autokd.study._factories import build_pruner

        build_pruner(self)
        return self


class TeacherConfig(FrozenModel):
    """The teacher: a checkpoint to load, or a recipe to train it once and cache it."""

    model: ModelSpec = Field(default_factory=lambda: ModelSpec(width=2.0, depth=2))
    checkpoint: str | None = None
    optim: OptimSpec = Field(default_factory=lambda: OptimSpec(epochs=30, grad_clip=None))
    augment: AugmentSpec = Field(default_factory=AugmentSpec)
    seed: int = Field(0, ge=0)

    @pydantic.field_validator("optim", mode="before")
    @classmethod
    def _no_default_clip(cls, optim: Any) -> Any:
        # A teacher trains on the cross-entropy alone, whose gradients stay far below the
        # students' default clip; leaving it off keeps every cached teacher's key and weights
        # as they were before students got one.
        if isinstance(optim, dict) and "grad_clip" not in optim:
            return {**optim, "grad_clip": None}
        return optim


class FinalTraining(FrozenModel):
    """How the exported recipe trains, where it differs from the (shorter) search trials.

    The search may run at a lower fidelity (fewer epochs) than the final run; ``autokd export``
    writes the best trial's recipe with these fields replaced, e.g. the CIFAR benchmark's
    ``optim: {epochs: 240, lr_schedule: step, lr_milestones: [150, 180, 210]}``. Fields left
    out keep the searched values.

    ``data`` may hold ``train_size`` and/or ``train_fraction`` only: the search can run on a
    subset of the training images (``data.train_fraction: 0.25``) and the exported recipe
    train on another, e.g. ``data: {train_fraction: null}`` for all of them (``null`` clears
    the subset). Naming either key replaces the searched subset as a whole: the key left out
    is cleared, so the two never meet. Validation and test images stay the searched ones.
    """

    optim: dict[str, Any] = Field(default_factory=dict)
    augment: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)

    @pydantic.field_validator("optim")
    @classmethod
    def _optim_keys(cls, optim: dict[str, Any]) -> dict[str, Any]:
        _check_keys(optim, OptimSpec, "optim")
        if optim.get("lr_milestones") and "epochs" not in optim:
            # Milestones are epochs of one budget: without it they would meet the searched one.
            raise ConfigError(
                "epochs",
                "the number of epochs the final lr_milestones refer to",
                "nothing",
            )
        return optim

    @pydantic.field_validator("augment")
    @classmethod
    def _augment_keys(cls, augment: dict[str, Any]) -> dict[str, Any]:
        _check_keys(augment, AugmentSpec, "augment")
        return augment

    @pydantic.field_validator("data")
    @classmethod
    def _data_keys(cls, data: dict[str, Any]) -> dict[str, Any]:
        from autokd._registry import closest

        for name in data:
            if name not in FINAL_DATA_KEYS:
                raise ConfigError(
                    f"{name}",
                    f"one of {', '.join(FINAL_DATA_KEYS)} (the final run keeps the searched "
                    "dataset and its validation and test parts)",
                    repr(name),
                    hint=closest(str(name), list(FINAL_DATA_KEYS)).strip(),
                )
        parse_model(DataSpec, data, file="")  # types, ranges, and not both set
        return data

    def apply(self, recipe_dict: dict[str, Any]) -> dict[str, Any]:
        """A copy of a recipe's dict with the final-training fields put in.

        With ``data`` set, the training subset is replaced and ``data.split_hash`` cleared:
        the caller records the final split's hash.
        """
        out = {**recipe_dict}
        out["optim"] = {**recipe_dict.get("optim", {}), **self.optim}
        out["augment"] = {**recipe_dict.get("augment", {}), **self.augment}
        if self.data:
            subset = {key: self.data.get(key) for key in FINAL_DATA_KEYS}
            out["data"] = {**recipe_dict.get("data", {}), **subset, "split_hash": None}
        return out


#: The data fields a study's ``final`` section may change: the training subset only.
FINAL_DATA_KEYS = ("train_size", "train_fraction")


def _check_keys(values: dict[str, Any], spec: type[FrozenModel], key: str) -> None:
    """Each key must be a field of ``spec``, and the values must validate on their own."""
    from autokd._registry import closest

    for name in values:
        if name not in spec.model_fields:
            raise ConfigError(
                f"{name}",
                f"a field of {key} ({', '.join(spec.model_fields)})",
                repr(name),
                hint=closest(name, list(spec.model_fields)).strip(),
            )
    parse_model(spec, values, file="")


#: What a study can optimise: the first objective is always ``val_acc`` (maximised); the
#: others are costs of the student (minimised).
Objective = Literal["val_acc", "params", "macs", "latency_ms"]


class Constraints(FrozenModel):
    """Limits on the sampled student, checked before any training (``None``: no limit).

    A trial whose student exceeds a limit is pruned at once, without training; every trial
    records its constraint values so the sampler learns where the feasible region is.
    ``max_latency_ms`` is the median forward time of a batch of ``latency_batch`` images on
    the trial's device.
    """

    max_params: int | None = Field(None, gt=0)
    max_macs: int | None = Field(None, gt=0)
    max_latency_ms: float | None = Field(None, gt=0)
    latency_batch: int = Field(1, ge=1)

    @property
    def active(self) -> bool:
        """Whether any limit is set."""
        return any(v is not None for v in (self.max_params, self.max_macs, self.max_latency_ms))


class HeartbeatSettings(FrozenModel):
    """Crash recovery on RDB storages (SQLite, PostgreSQL, MySQL): Optuna's trial heartbeats.

    A running trial records a heartbeat every ``interval`` seconds. A trial whose last
    heartbeat is older than ``grace_period`` seconds (its worker was killed, its machine lost)
    is set to FAIL by the next worker that looks, its MLflow run is ended FAILED with the
    reason, and the trial is queued again with the same parameters, at most ``max_retry``
    times (Optuna's ``RetryHeartbeatStaleTrialCallback``). A retried trial does not count
    towards ``n_trials``; its retry does. Journal and gRPC storages have no heartbeat.
    """

    interval: int = Field(10, ge=1)
    grace_period: int = Field(60, ge=2)
    max_retry: int = Field(3, ge=0)

    @pydantic.model_validator(mode="after")
    def _grace_after_interval(self) -> HeartbeatSettings:
        if self.grace_period <= self.interval:
            raise ConfigError(
                "grace_period",
                f"more seconds than the heartbeat interval ({self.interval})",
                repr(self.grace_period),
            )
        return self


class StudySection(FrozenModel):
    """Name, budget, objectives, constraints, sampler, pruner and where results go."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    n_trials: int = Field(30, ge=1)
    timeout: float | None = Field(None, gt=0)
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    storage: str | None = None
    #: Trial heartbeats and retries of trials whose worker died (RDB storages only).
    heartbeat: HeartbeatSettings = Field(default_factory=HeartbeatSettings)
    tracking_uri: str | None = None
    output_dir: str | None = None
    objectives: list[Objective] = Field(default_factory=lambda: ["val_acc"], min_length=1)
    constraints: Constraints = Field(default_factory=Constraints)

    @pydantic.field_validator("objectives")
    @classmethod
    def _objectives(cls, objectives: list[str]) -> list[str]:
        if objectives[0] != "val_acc":
            raise ConfigError("0", "'val_acc' as the first objective", repr(objectives[0]))
        for i, name in enumerate(objectives):
            if name in objectives[:i]:
                raise ConfigError(str(i), "each objective once", f"{name!r} again")
        return objectives

    @property
    def directions(self) -> list[str]:
        """Optuna directions: maximise val_acc, minimise every cost."""
        return ["maximize"] + ["minimize"] * (len(self.objectives) - 1)


class FinalEval(FrozenModel):
    """Re-train the best trials with several seeds before naming a winner (``final_eval``).

    A study ranks trials by one run each, so its best trial is partly luck (the winner's
    curse). After the search, the ``top_k`` completed trials by value are trained again
    with each seed (validation only); the winner has the best mean validation accuracy, and
    only the winner is then measured on the test split. ``seeds: 3`` means seeds 0, 1, 2.
    Single-objective studies only.
    """

    top_k: int = Field(3, ge=1)
    seeds: list[pydantic.StrictInt] = Field(default_factory=lambda: [0, 1, 2])

    @pydantic.field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, seeds: Any) -> Any:
        expected = "an integer n >= 2 (seeds 0..n-1) or a list of >= 2 distinct integers >= 0"
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            if seeds < 2:
                raise ConfigError("", expected, repr(seeds))
            return list(range(seeds))
        if not isinstance(seeds, list):
            raise ConfigError("", expected, repr(seeds))
        bad = [s for s in seeds if not isinstance(s, int) or isinstance(s, bool) or s < 0]
        if bad or len(seeds) < 2 or len(set(seeds)) != len(seeds):
            raise ConfigError("", expected, repr(seeds))
        return seeds


class TeacherCacheSettings(FrozenModel):
    """The study's teacher-output cache (see :class:`autokd.engine.TeacherCache`).

    ``memory_mb`` holds entries on the training device; ``disk_mb`` > 0 also writes them to
    ``<output_dir>/teacher_cache`` so worker processes on the machine share them. ``dtype``
    ``auto`` stores the teacher's own outputs (exact); ``float16``/``bfloat16`` halve memory
    on CPU at a small loss of precision. ``topk`` keeps only the k largest logits per image
    (approximate). ``features: false`` caches logits only.
    """

    enabled: bool = True
    memory_mb: float = Field(1024.0, ge=0)
    disk_mb: float = Field(0.0, ge=0)
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    topk: int | None = Field(None, ge=1)
    features: bool = True


class EngineSettings(FrozenModel):
    """How trials run: the teacher cache, ``torch.compile``, memory layout, concurrent trials.

    ``n_jobs``: trials run at once in this process (threads). Several small students fill a
    large GPU; on CUDA the first trial runs alone to measure its peak memory, and no more
    trials run together than 80% of the free device memory holds. ``auto``: up to 8 on CUDA,
    1 on CPU (where concurrent trials only share the same cores).
    """

    teacher_cache: TeacherCacheSettings = Field(default_factory=TeacherCacheSettings)
    #: ``torch.compile``: ``student`` (each student; compiled once per architecture),
    #: ``teacher`` (its live forward, as one graph of the tapped outputs), ``true`` (both).
    compile: bool | Literal["student", "teacher"] = False
    #: Channels-last layout: ``auto`` on CUDA only; ``true`` also on CPU (faster for some
    #: models, slower for others: measure with benchmarks/trial_throughput.py).
    channels_last: bool | Literal["auto"] = "auto"
    #: Forward passes and losses: ``bf16`` (bfloat16 autocast) or ``fp32``; ``auto``: bf16 on
    #: CUDA, fp32 on CPU. On a CPU with AVX-512 BF16 or AMX, ``bf16`` trains about 2x faster
    #: (results differ from fp32; on a CPU without it, bf16 is slower).
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    n_jobs: int | Literal["auto"] = 1

    @property
    def compile_student(self) -> bool:
        return self.compile in (True, "student")

    @property
    def compile_teacher(self) -> bool:
        return self.compile in (True, "teacher")

    @property
    def bf16(self) -> bool | None:
        """``train_recipe``'s ``bf16``: None (auto) leaves it to the device."""
        return None if self.precision == "auto" else self.precision == "bf16"

    def train_options(self) -> dict[str, bool | None]:
        """``train_recipe``'s keyword arguments for how a run computes (the study's trials
        and ``final_eval`` train alike)."""
        return {
            "compile": self.compile_student,
            "compile_teacher": self.compile_teacher,
            "channels_last": None if self.channels_last == "auto" else self.channels_last,
            "bf16": self.bf16,
        }

    @pydantic.field_validator("n_jobs")
    @classmethod
    def _n_jobs(cls, n_jobs: int | str) -> int | str:
        if isinstance(n_jobs, int) and n_jobs < 1:
            raise ConfigError("", "an integer >= 1 or 'auto'", repr(n_jobs))
        return n_jobs


class StudyConfig(FrozenModel):
    """A parsed study file. Paths inside it are relative to the file's folder.

    Example:
        >>> cfg = StudyConfig.from_yaml("studies/digits.yaml")  # doctest: +SKIP
        >>> cfg.study.name  # doctest: +SKIP
        'digits'
    """

    study: StudySection
    data: DataSpec = Field(default_factory=DataSpec)
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    search_space: str
    final: FinalTraining = Field(default_factory=FinalTraining)
    #: Re-train the top trials with several seeds, then test the winner once (None: off).
    final_eval: FinalEval | None = None
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    #: Trials to run first: literature recipe names (search_spaces/literature/), recipe files
    #: or study files (their best trial), paths relative to the study file.
    warm_start: list[str] = Field(default_factory=list)
    #: Teacher-output cache, torch.compile, concurrent trials.
    engine: EngineSettings = Field(default_factory=EngineSettings)
    file: str = Field("<study>", exclude=True)

    @pydantic.model_validator(mode="after")
    def _final_eval_single_objective(self) -> StudyConfig:
        # One winner by mean val_acc only makes sense when val_acc is the one objective.
        if self.final_eval is not None and len(self.study.objectives) > 1:
            raise ConfigError(
                "final_eval",
                "a single-objective study (objectives: [val_acc])",
                f"objectives {self.study.objectives}",
                hint="Remove final_eval, or export the Pareto set with `autokd export --pareto`.",
            )
        return self

    @classmethod
    def from_yaml(cls, path: str | Path) -> StudyConfig:
        """Loads and validates a study file.

        Raises:
            MissingFileError: If the file or its search space is missing.
            ConfigError: For a wrong key, type or value, naming the key path.
        """
        data = load_yaml(path)
        if "file" in data:
            raise ConfigError("file", "no such key", "unknown key 'file'", file=str(path))
        config = parse_model(cls, {**data, "file": str(path)}, file=str(path))
        root = config.data.root
        if root is not None and not Path(root).expanduser().is_absolute():
            # A relative data root means "relative to the study file", like every other path.
            absolute = str((config.base_dir / Path(root)).resolve())
            data = config.data.model_copy(update={"root": absolute})
            config = config.model_copy(update={"data": data})
        if not config.space_path.is_file():
            raise ConfigError(
                "search_space",
                "a path to a search-space file (relative to the study file)",
                f"'{config.search_space}', which does not exist ({config.space_path})",
                file=str(path),
            )
        if config.teacher.checkpoint is not None and not config.checkpoint_path.is_file():
            raise ConfigError(
                "teacher.checkpoint",
                "an existing checkpoint file",
                f"'{config.teacher.checkpoint}' ({config.checkpoint_path} does not exist)",
                file=str(path),
            )
        return config

    @property
    def base_dir(self) -> Path:
        return Path(self.file).resolve().parent

    @property
    def space_path(self) -> Path:
        return self.base_dir / self.search_space

    @property
    def checkpoint_path(self) -> Path | None:
        ckpt = self.teacher.checkpoint
        return None if ckpt is None else self.base_dir / ckpt

    @property
    def output_dir(self) -> Path:
        """The study folder; default ``runs/<study name>`` under the current directory."""
        if self.study.output_dir is not None:
            return Path(self.study.output_dir).expanduser()
        return Path("runs") / self.study.name

    def storage_url(self, override: str | None = None) -> str:
        """Optuna storage: the flag, the study file, or an SQLite file in the study folder."""
        if override:
            return override
        if self.study.storage:
            return self.study.storage
        return f"sqlite:///{(self.output_dir / 'optuna.db').resolve()}"
