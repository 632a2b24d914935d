"""Search spaces: every recipe field is fixed or a distribution; conditionals nest under choices.

A search-space file mirrors the recipe. A mapping with a ``type`` key is a distribution in
Optuna's vocabulary; anything else is a fixed value or a nested section::

    distill:
      alpha:
        schedule:
          type: categorical
          choices:                  # a mapping: each choice enables its own fields
            constant: {value: {type: float, low: 0.1, high: 0.99}}
            linear:
              start: {type: float, low: 0.0, high: 0.5}
              end: {type: float, low: 0.5, high: 0.99}
    optim:
      lr: {type: float, low: 0.01, high: 0.3, log: true}

The fields under a choice belong to the mapping that holds the categorical (here
``distill.alpha.start``). Every Optuna parameter is named by its dotted recipe path.
"""

from __future__ import annotations

from collections.abc import Mapping
import copy
import dataclasses
from pathlib import Path
from typing import Any

import optuna

from autokd._config import load_yaml
from autokd._registry import closest
from autokd.exceptions import ConfigError

__all__ = ["SearchSpace"]

_SECTIONS = ("student", "optim", "augment", "distill", "seed")
_KEYS = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}


@dataclasses.dataclass(frozen=True)
class _Range:
    kind: str  # "float" or "int"
    low: float
    high: float
    log: bool
    step: float | None

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        if self.kind == "int":
            return trial.suggest_int(
                name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)

    def extremes(self) -> tuple[Any, Any]:
        return self.low, self.high


@dataclasses.dataclass(frozen=True)
class _Choice:
    choices: tuple[Any, ...]
    branches: dict[Any, dict[str, Any]]  # choice -> parsed fields it enables

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_categorical(name, self.choices)

    def extremes(self) -> tuple[Any, Any]:
        return self.choices[0], self.choices[-1]


def _load_extended(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The file's tree merged over its bases, and ``{dotted key: file}`` of where each is set."""
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for file, tree in _linearise(path, ()):
        merged = _deep_merge(merged, tree, "", origins, file)
    return merged, origins


def _linearise(path: Path, chain: tuple[Path, ...]) -> list[tuple[str, dict[str, Any]]]:
    """(file, own tree) for the bases in order, then the file itself."""
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(resolved) :], resolved))
        raise ConfigError(
            "extends",
            "search-space files that do not extend themselves",
            f"a cycle: {cycle}",
            file=str(path),
        )
    tree = load_yaml(path)
    bases = tree.pop("extends", [])
    bases = [bases] if isinstance(bases, str) else bases
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(
            "extends", "a file name or a list of file names", repr(bases), file=str(path)
        )
    out: list[tuple[str, dict[str, Any]]] = []
    for base in bases:
        base_path = path.parent / base
        if not base_path.is_file():
            raise ConfigError(
                "extends",
                "a search-space file (relative to the extending file)",
                f"'{base}', which does not exist ({base_path})",
                file=str(path),
            )
        out += _linearise(base_path, (*chain, resolved))
    return [*out, (str(path), tree)]


def _deep_merge(
    base: dict[str, Any], over: Mapping[str, Any], prefix: str, origins: dict, file: str
) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``: mappings merge key by key; a distribution (a
    mapping with ``type``), a fixed value or a list replaces; ``None`` removes the key."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if value is not None and _mergeable(out.get(key), value):
            out[key] = _deep_merge(out[key], value, path, origins, file)
            continue
        for known in [k for k in origins if k == path or k.startswith(f"{path}.")]:
            del origins[known]
        if value is None:
            out.pop(key, None)
        else:
            out[key] = copy.deepcopy(value)
            origins[path] = file
    return out


def _mergeable(base: Any, over: Any) -> bool:
    return (
        isinstance(base, Mapping)
        and isinstance(over, Mapping)
        and "type" not in base
        and "type" not in over
    )


def _origin_of(key: str, origins: Mapping[str, str]) -> str | None:
    """The file that holds ``key`` (the longest recorded prefix of it)."""
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        file = origins.get(".".join(parts[:n]))
        if file is not None:
            return file
    return None


class SearchSpace:
    """A parsed search space.

    Args:
        tree: The YAML mapping.
        file: Where it came from, for error messages.

    Raises:
        ConfigError: On an unknown section, a malformed distribution, an empty or inverted
            range, or a conditional field that clashes with its siblings.

    Example:
        >>> space = SearchSpace.from_yaml("search_spaces/digits.yaml")  # doctest: +SKIP
        >>> nested = space.sample(optuna.trial.FixedTrial(best_params))  # doctest: +SKIP
    """

    def __init__(self, tree: Mapping[str, Any], *, file: str = "<space>") -> None:
        self.file = file
        for key in tree:
            if key not in _SECTIONS:
                raise ConfigError(
                    str(key),
                    f"one of the sections {', '.join(_SECTIONS)}",
                    f"unknown key '{key}'",
                    file=file,
                    hint=closest(str(key), _SECTIONS).strip(),
                )
        self.distributions: dict[str, _Range | _Choice] = {}
        #: ``pair: auto`` leaves: (holding mapping, dotted path, loss name), resolved by
        #: :meth:`resolve_auto_pairs` once the models' shapes are known.
        self.auto_pairs: list[tuple[dict[str, Any], str, str]] = []
        self._term_loss: str | None = None
        self._tree = self._parse_mapping(tree, "")

    @classmethod
    def from_yaml(cls, path: str | Path) -> SearchSpace:
        """Loads a search-space file, merged over the files its ``extends:`` names.

        ``extends: base.yaml`` (or a list, applied in order; paths relative to the extending
        file) deep-merges this file over its bases: mappings merge key by key, anything else
        (a fixed value, a list, a distribution) replaces, and ``null`` removes the key.

        Raises:
            ConfigError: On a missing base, an ``extends`` cycle, or a bad field (naming the
                file that holds it).
        """
        tree, origins = _load_extended(Path(path))
        try:
            return cls(tree, file=str(path))
        except ConfigError as exc:
            file = _origin_of(exc.key, origins)
            if file is None or exc.file != str(path):
                raise
            raise ConfigError(exc.key, exc.expected, exc.got, file=file, hint=exc.hint) from None

    @property
    def param_names(self) -> list[str]:
        """Every Optuna parameter the space can sample, by dotted recipe path."""
        return list(self.distributions)

    # --- parsing -------------------------------------------------------------------------
    def _error(self, key: str, expected: str, got: Any) -> ConfigError:
        return ConfigError(
            key, expected, got if isinstance(got, str) else repr(got), file=self.file
        )

    def _parse_mapping(self, node: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, child in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if prefix == "distill.terms" and isinstance(child, Mapping):
                out[key] = self._parse_term(str(key), child, path)
            elif key == "pair" and child == "auto" and self._term_loss is not None:
                out[key] = child
                self.auto_pairs.append((out, path, self._term_loss))
            elif isinstance(child, Mapping) and "type" in child:
                out[key] = self._parse_dist(child, path, prefix)
            elif isinstance(child, Mapping):
                out[key] = self._parse_mapping(child, path)
            else:
                out[key] = child
        return out

    def _parse_term(self, key: str, node: Mapping[str, Any], path: str) -> dict[str, Any]:
        """A loss term; ``search: optional|always`` fills in the loss's default ranges."""
        from autokd.losses import LOSSES

        loss = node.get("loss", key)
        if loss not in LOSSES:
            raise ConfigError(
                path if "loss" not in node else f"{path}.loss",
                f"a registered loss ({', '.join(LOSSES.list())})",
                repr(loss),
                file=self.file,
                hint=closest(str(loss), LOSSES.list()).strip(),
            )
        if "search" in node:
            node = self._expand_search(node, LOSSES.get(loss), path)
        self._term_loss = str(loss)
        try:
            return self._parse_mapping(node, path)
        finally:
            self._term_loss = None

    def _expand_search(self, node: Mapping[str, Any], cls: Any, path: str) -> dict[str, Any]:
        mode = node["search"]
        if mode not in ("optional", "always"):
            raise self._error(f"{path}.search", "optional or always", mode)
        defaults = copy.deepcopy(cls.search_defaults)
        fields: dict[str, Any] = {"weight": defaults.pop("weight", 1.0)}
        if defaults:
            fields["params"] = defaults
        if cls.needs_pair:
            fields["pair"] = "auto"
        for name, value in node.items():
            if name == "params" and isinstance(value, Mapping):
                fields["params"] = {**fields.get("params", {}), **value}
            elif name not in ("search", "loss"):
                fields[name] = value
        head = {"loss": node["loss"]} if "loss" in node else {}
        if mode == "always":
            return {**head, "enabled": True, **fields}
        return {**head, "enabled": {"type": "categorical", "choices": {True: fields, False: None}}}

    def resolve_auto_pairs(self, choices: Mapping[str, list[str]]) -> None:
        """Turns each ``pair: auto`` into a categorical over the proposed pairs.

        Args:
            choices: Dotted path of each auto pair -> proposed ``"teacher -> student"`` pairs.

        Raises:
            ConfigError: If a path has no proposal.
        """
        for holder, path, loss in self.auto_pairs:
            proposed = list(choices.get(path, []))
            if not proposed:
                raise self._error(
                    path,
                    f"at least one teacher/student layer pair that '{loss}' accepts",
                    "none (no tapped modules with matching shapes)",
                )
            holder["pair"] = _Choice(tuple(proposed), {})
            self.distributions[path] = holder["pair"]
        self.auto_pairs = []

    def _parse_dist(self, node: Mapping[str, Any], path: str, prefix: str) -> _Range | _Choice:
        kind = node["type"]
        if kind not in _KEYS:
            raise self._error(f"{path}.type", "float, int or categorical", kind)
        for key in node:
            if key not in _KEYS[kind]:
                raise self._error(
                    f"{path}.{key}",
                    f"one of the keys {', '.join(sorted(_KEYS[kind]))}",
                    f"unknown key '{key}'",
                )
        dist = (
            self._parse_choice(node, path, prefix)
            if kind == "categorical"
            else (self._parse_range(node, path, kind))
        )
        self.distributions[path] = dist
        return dist

    def _parse_range(self, node: Mapping[str, Any], path: str, kind: str) -> _Range:
        number = int if kind == "int" else (int, float)
        for key in ("low", "high"):
            value = node.get(key)
            if not isinstance(value, number) or isinstance(value, bool):
                raise self._error(
                    f"{path}.{key}",
                    f"a{'n integer' if kind == 'int' else ' number'}",
                    "nothing" if value is None else value,
                )
        low, high = node["low"], node["high"]
        if not low < high:
            raise self._error(path, "low < high (a non-empty range)", f"low={low}, high={high}")
        log, step = node.get("log", False), node.get("step")
        if not isinstance(log, bool):
            raise self._error(f"{path}.log", "true or false", log)
        if step is not None and (
            not isinstance(step, number) or isinstance(step, bool) or step <= 0
        ):
            raise self._error(f"{path}.step", "a positive number", step)
        if log and step is not None:
            raise self._error(path, "either log or step, not both", "both")
        if log and low <= 0:
            raise self._error(f"{path}.low", "low > 0 with log: true", low)
        return _Range(kind, low, high, log, step)

    def _parse_choice(self, node: Mapping[str, Any], path: str, prefix: str) -> _Choice:
        choices = node.get("choices")
        if isinstance(choices, Mapping):
            branches: dict[Any, dict[str, Any]] = {}
            for choice, fields in choices.items():
                if fields is not None and not isinstance(fields, Mapping):
                    raise self._error(
                        f"{path}.choices.{choice}", "a mapping of fields or null", fields
                    )
                branches[choice] = self._parse_mapping(fields or {}, prefix)
            values = tuple(choices)
        elif isinstance(choices, list):
            branches, values = {}, tuple(choices)
        else:
            raise self._error(
                f"{path}.choices",
                "a list or a mapping of choices",
                "nothing" if choices is None else choices,
            )
        if not values:
            raise self._error(f"{path}.choices", "at least one choice", "an empty list")
        for value in values:
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise self._error(
                    f"{path}.choices", "None, bool, int, float or str choices", value
                )
        return _Choice(values, branches)

    # --- sampling ------------------------------------------------------------------------
    def sample(self, trial: optuna.Trial | optuna.trial.FixedTrial) -> dict[str, Any]:
        """Samples a nested recipe mapping (without data and teacher) from ``trial``.

        Export replays a finished trial's params through a ``FixedTrial``, so search and
        export build recipes with this one function.
        """
        out: dict[str, Any] = {}
        self._sample_into(self._tree, "", trial, out)
        return out

    def _sample_into(self, node: dict[str, Any], prefix: str, trial: Any, out: dict) -> None:
        for key, child in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(child, (_Range, _Choice)):
                out[key] = child.suggest(trial, path)
                if isinstance(child, _Choice) and out[key] in child.branches:
                    self._sample_into(child.branches[out[key]], prefix, trial, out)
            elif isinstance(child, dict):
                self._sample_into(child, path, trial, out.setdefault(key, {}))
            else:
                out[key] = copy.deepcopy(child)

    def probe_params(self, seed: int = 0, n_random: int = 8) -> list[dict[str, Any]]:
        """Parameter sets that exercise the space: all lows, all highs and a few random draws."""
        lows = {name: d.extremes()[0] for name, d in self.distributions.items()}
        highs = {name: d.extremes()[1] for name, d in self.distributions.items()}
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        draws = []
        for _ in range(n_random):
            trial = study.ask()
            self.sample(trial)
            draws.append(dict(trial.params))
            study.tell(trial, 0.0)
        return [lows, highs, *draws]

    # --- grid ----------------------------------------------------------------------------
    def grid_values(self, *, max_points: int = 100_000) -> dict[str, list[Any]]:
        """Every value of each parameter: the grid of Optuna's ``GridSampler``.

        A categorical gives its choices, an int range ``low, low + step, ..., high`` (step 1
        unless given) and a float range with a ``step`` ``low, low + step, ...`` up to
        ``high``. Conditional parameters are in the grid too, so the grid is the product over
        all of them, although a trial uses only those its choices enable.

        Args:
            max_points: The largest grid accepted (the product of the value counts).

        Returns:
            Dotted parameter name -> its values, in the space's order.

        Raises:
            ConfigError: Naming this file and the parameter, for a float range without a
                ``step``, or for the parameter at which the grid grows past ``max_points``.

        Example:
            >>> space = SearchSpace({"optim": {"epochs": {"type": "int", "low": 1, "high": 3}}})
            >>> space.grid_values()
            {'optim.epochs': [1, 2, 3]}
        """
        from decimal import Decimal

        grid: dict[str, list[Any]] = {}
        total = 1
        for name, dist in self.distributions.items():
            if isinstance(dist, _Choice):
                count = len(dist.choices)
            elif dist.kind == "int":
                ints = range(int(dist.low), int(dist.high) + 1, int(dist.step or 1))
                count = len(ints)
            elif dist.step is None:
                raise self._error(
                    name,
                    "a step (grid sampler needs a finite set of values)",
                    f"a float range without step (low={dist.low}, high={dist.high})",
                )
            else:
                # Decimal steps: 0.1 + 2 * 0.1 is 0.3 here, a value Optuna's step grid contains.
                low, step = Decimal(str(dist.low)), Decimal(str(dist.step))
                count = int((Decimal(str(dist.high)) - low) // step) + 1
            total *= count
            if total > max_points:
                raise self._error(
                    name,
                    f"a grid of at most {max_points:,} points (grid sampler)",
                    f"{total:,} points up to this parameter",
                )
            if isinstance(dist, _Choice):
                grid[name] = list(dist.choices)
            elif dist.kind == "int":
                grid[name] = list(ints)
            else:
                grid[name] = [float(low + k * step) for k in range(count)]
        return grid
