"""Registries of Optuna samplers and pruners, built from the study file by name."""

from __future__ import annotations

from collections.abc import Mapping
import inspect
from typing import TYPE_CHECKING
from typing import Any
import warnings

import optuna

from autokd._registry import Registry
from autokd._registry import closest
from autokd.exceptions import ConfigError
from autokd.study._storage import open_storage

if TYPE_CHECKING:
    from autokd.config import PrunerSpec
    from autokd.config import SamplerSpec
    from autokd.space import SearchSpace

__all__ = ["PRUNERS", "SAMPLERS", "build_pruner", "build_sampler", "open_storage"]

SAMPLERS: Registry = Registry("sampler")
PRUNERS: Registry = Registry("pruner")

for _name, _cls in {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "qmc": optuna.samplers.QMCSampler,
    "gp": optuna.samplers.GPSampler,
    "nsgaii": optuna.samplers.NSGAIISampler,
    "nsgaiii": optuna.samplers.NSGAIIISampler,
    "cmaes": optuna.samplers.CmaEsSampler,  # needs the `cmaes` package; categoricals go random
    "grid": optuna.samplers.GridSampler,  # its grid comes from the search space
}.items():
    SAMPLERS.register(_name)(_cls)

for _name, _cls in {
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "threshold": optuna.pruners.ThresholdPruner,
    "nop": optuna.pruners.NopPruner,
    "wilcoxon": optuna.pruners.WilcoxonPruner,
    "patient": optuna.pruners.PatientPruner,  # wraps another pruner: see _build_patient
}.items():
    PRUNERS.register(_name)(_cls)


def _build(registry: Registry, name: str, params: dict[str, Any], seed: int | None = None) -> Any:
    if name not in registry:
        raise ConfigError(
            "name",
            f"one of {', '.join(registry.list())}",
            repr(name),
            hint=closest(name, registry.list()).strip(),
        )
    cls = registry.get(name)
    signature = inspect.signature(cls).parameters
    accepted = [p for p in signature if p not in ("self", "seed")]
    for key in params:
        if key not in accepted:
            raise ConfigError(
                f"params.{key}",
                f"a parameter of {cls.__name__} ({', '.join(accepted)})",
                f"unknown key '{key}'",
                hint=closest(key, accepted).strip(),
            )
    kwargs = {**params, **({"seed": seed} if "seed" in signature else {})}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        # Optuna's messages name the bad argument ("p_threshold must be between 0 and 1").
        named = [key for key in params if key in str(exc)]
        key = f"params.{named[0]}" if len(named) == 1 else "params"
        raise ConfigError(key, f"valid {cls.__name__} parameters", str(exc)) from None


def build_sampler(
    spec: SamplerSpec, *, space: SearchSpace | None = None
) -> optuna.samplers.BaseSampler:
    """A fresh sampler for ``spec`` (``seed`` passed where the sampler takes one).

    Args:
        spec: The study file's sampler section.
        space: The study's search space. Only ``grid`` uses it: its grid is
            :meth:`SearchSpace.grid_values`. Without a space, ``grid`` checks its parameters
            and returns a placeholder that raises :class:`ConfigError` when asked to sample.

    Returns:
        The sampler.

    Raises:
        ConfigError: For an unknown name or parameter, or a bad value (key ``params.NAME``);
            for ``grid``, a ``params.search_space`` or a space without a finite grid.
    """
    if spec.name == "grid":
        return _build_grid(dict(spec.params), spec.seed, space)
    # Options Optuna marks experimental (TPE's ``group``, ``constant_liar``...) are opted into
    # by name in the study file: no warning on every run and every `autokd validate`.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _build(SAMPLERS, spec.name, dict(spec.params), spec.seed)


def build_pruner(spec: PrunerSpec) -> optuna.pruners.BasePruner:
    """A fresh pruner for ``spec``.

    ``patient`` takes ``{wrapped: {name: NAME, params: {...}} | null, patience: N,
    min_delta: X}`` and builds the wrapped pruner through this same registry.

    Raises:
        ConfigError: For an unknown name or parameter or a bad value, keyed by its path
            (``params.wrapped.params.n_startup_trials`` inside a patient pruner).
    """
    return _build_pruner(spec.name, dict(spec.params))


def _build_pruner(name: str, params: dict[str, Any]) -> optuna.pruners.BasePruner:
    if name == "patient":
        return _build_patient(params)
    return _build(PRUNERS, name, params)


_PATIENT_KEYS = ("wrapped", "patience", "min_delta")


def _build_patient(params: dict[str, Any]) -> optuna.pruners.BasePruner:
    for key in params:
        if key not in _PATIENT_KEYS:
            raise ConfigError(
                f"params.{key}",
                f"a parameter of PatientPruner ({', '.join(_PATIENT_KEYS)})",
                f"unknown key '{key}'",
                hint=closest(key, _PATIENT_KEYS).strip(),
            )
    patience = params.get("patience")
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
        got = "nothing" if "patience" not in params else repr(patience)
        raise ConfigError("params.patience", "an integer >= 0 (epochs without improvement)", got)
    min_delta = params.get("min_delta", 0.0)
    if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or min_delta < 0:
        raise ConfigError("params.min_delta", "a number >= 0", repr(min_delta))
    wrapped = params.get("wrapped")
    inner = None if wrapped is None else _build_wrapped(wrapped)
    return optuna.pruners.PatientPruner(inner, patience, min_delta=float(min_delta))


def _build_wrapped(wrapped: object) -> optuna.pruners.BasePruner:
    if not isinstance(wrapped, Mapping):
        raise ConfigError(
            "params.wrapped", "a pruner {name: NAME, params: {...}} or null", repr(wrapped)
        )
    for key in wrapped:
        if key not in ("name", "params"):
            raise ConfigError(
                f"params.wrapped.{key}", "one of the keys name, params", f"unknown key '{key}'"
            )
    if "name" not in wrapped:
        raise ConfigError("params.wrapped.name", "a registered pruner name", "nothing")
    inner_params = wrapped.get("params") or {}
    if not isinstance(inner_params, Mapping):
        raise ConfigError("params.wrapped.params", "a mapping", repr(inner_params))
    try:
        return _build_pruner(str(wrapped["name"]), dict(inner_params))
    except ConfigError as exc:
        key = f"params.wrapped.{exc.key}" if exc.key else "params.wrapped"
        raise ConfigError(key, exc.expected, exc.got, hint=exc.hint) from None


def _build_grid(
    params: dict[str, Any], seed: int | None, space: SearchSpace | None
) -> optuna.samplers.BaseSampler:
    for key in params:
        if key == "search_space":
            raise ConfigError(
                "params.search_space",
                "no search_space: the grid sampler takes its grid from the search-space file",
                "a search_space parameter",
                hint="Give each searched parameter choices, or a step for float ranges.",
            )
        raise ConfigError(
            f"params.{key}",
            "no parameters (GridSampler takes its grid from the search space and its seed "
            "from the sampler's seed)",
            f"unknown key '{key}'",
        )
    if space is None:
        return _UnboundGridSampler()
    return optuna.samplers.GridSampler(space.grid_values(), seed=seed)


class _UnboundGridSampler(optuna.samplers.BaseSampler):
    """``grid`` built without a search space (the study file's own check): fails when used."""

    def _unbound(self, *args: Any, **kwargs: Any) -> Any:
        raise ConfigError(
            "sampler",
            "a grid sampler built with its search space (build_sampler(spec, space=space))",
            "one built without a space",
        )

    infer_relative_search_space = sample_relative = sample_independent = _unbound
