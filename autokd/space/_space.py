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
``distill.alpha.start``). Every Optuna parameter is named by its dotted recipe path; a path
that two choices give different distributions (``student.depth`` of ``cnn`` and ``resnet``)
is named after the later choice there (``student.depth:resnet``), as Optuna keeps one
distribution per name.

Beyond the recipe's own fields:

- ``distill.terms.NAME: {search: optional|always, ...}`` fills in the loss's default ranges
  (``autokd list losses``), ``pair: auto`` and, for ``optional``, an on/off switch;
- ``pair: auto`` and ``projector: auto`` (with ``pair: auto``) are resolved from the models'
  probed shapes (:meth:`SearchSpace.resolve_auto_pairs`);
- ``distill.choose: {k: 2, from: [kd, dkd, at]}`` (or ``{min: 1, max: 3, from: ...}``) turns
  on exactly k (or min..max) of the listed terms: one categorical ``distill.choose`` over
  the combinations (``"at+kd"``, at most 200), not written into the recipe.
"""

from __future__ import annotations

from collections.abc import Mapping
import copy
import dataclasses
from decimal import Decimal
import itertools
import math
from pathlib import Path
import re
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
#: ``distill.choose`` enumerates its combinations as one categorical; more is an error.
_MAX_COMBINATIONS = 200


@dataclasses.dataclass(frozen=True)
class _Range:
    kind: str  # "float" or "int"
    low: float
    high: float
    log: bool
    step: float | None
    #: The Optuna parameter name when it is not the dotted path (see ``SearchSpace._register``).
    name: str | None = None

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        name = self.name or name
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
    name: str | None = None
    #: Sampled for its branches only, not written into the recipe (``distill.choose``).
    hidden: bool = False

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_categorical(self.name or name, self.choices)

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


def _signature(dist: _Range | _Choice) -> tuple[Any, ...]:
    """What Optuna sees of a distribution (two with one signature can share a name)."""
    if isinstance(dist, _Choice):
        return ("categorical", tuple((type(c), c) for c in dist.choices))
    return (dist.kind, dist.low, dist.high, dist.log, dist.step)


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
        #: ``projector: auto`` leaves, as for :attr:`auto_pairs`: a categorical over the loss's
        #: projectors until :meth:`resolve_auto_pairs` narrows it to those the pairs take.
        self.auto_projectors: list[tuple[dict[str, Any], str, str]] = []
        self._term_loss: str | None = None
        self._branch: list[str] = []  # the enclosing choices, innermost last
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
        if prefix == "distill" and "choose" in node:
            return self._parse_choose(node)
        out: dict[str, Any] = {}
        for key, child in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if prefix == "distill.terms" and isinstance(child, Mapping):
                out[key] = self._parse_term(str(key), child, path)
            elif key == "pair" and child == "auto" and self._term_loss is not None:
                out[key] = child
                self.auto_pairs.append((out, path, self._term_loss))
            elif key == "projector" and self._term_loss is not None:
                self._parse_projector(out, child, path, prefix)
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
        if not isinstance(loss, str) or loss not in LOSSES:
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
        n_auto = len(self.auto_pairs)
        try:
            parsed = self._parse_mapping(node, path)
        finally:
            self._term_loss = None
        with_pair = {id(holder) for holder, _, _ in self.auto_pairs[n_auto:]}
        for holder, proj_path, _ in self.auto_projectors:
            if proj_path.startswith(f"{path}.") and id(holder) not in with_pair:
                raise self._error(
                    proj_path,
                    "projector: auto together with pair: auto (for a fixed pair, list the "
                    "projectors as a categorical)",
                    "a fixed or listed pair",
                )
        return parsed

    def _parse_projector(self, out: dict[str, Any], child: Any, path: str, prefix: str) -> None:
        """A term's projector: fixed, a categorical, or ``auto`` (the loss's projectors)."""
        from autokd.losses import LOSSES

        loss = str(self._term_loss)
        declared = LOSSES.get(loss).projectors
        allowed = f"one of the projectors of '{loss}': {', '.join(declared) or 'none'}"
        if child == "auto":
            if len(declared) > 1:
                out["projector"] = self._register(path, _Choice(tuple(declared), {}))
                self.auto_projectors.append((out, path, loss))
            elif declared:
                out["projector"] = declared[0]
            return
        if isinstance(child, Mapping) and "type" in child:
            dist = self._parse_dist(child, path, prefix)
            bad = (
                [c for c in dist.choices if c is not None and c not in declared]
                if isinstance(dist, _Choice)
                else ["a number range"]
            )
            if bad:
                raise self._error(f"{path}.choices", allowed, ", ".join(map(str, bad)))
            out["projector"] = dist
            return
        if child is not None and child not in declared:
            raise ConfigError(
                path,
                allowed,
                repr(child),
                file=self.file,
                hint=closest(str(child), declared).strip(),
            )
        out["projector"] = child

    def _parse_choose(self, node: Mapping[str, Any]) -> dict[str, Any]:
        """``distill.choose: {k | min, max, from}``: which of the ``from`` terms are on.

        One hidden categorical ``distill.choose`` picks a combination (``"at+kd"``); each term
        of ``from`` is on exactly when it is in the combination, and its fields (weight,
        parameters, pair...) are sampled only then.
        """
        spec, terms = node["choose"], node.get("terms") or {}
        key = "distill.choose"
        if not isinstance(terms, Mapping):
            raise self._error("distill.terms", "a mapping of term names to terms", repr(terms))
        if not isinstance(spec, Mapping):
            raise self._error(
                key, "a mapping {k: N, from: [terms]} or {min, max, from}", repr(spec)
            )
        for name in spec:
            if name not in ("k", "min", "max", "from"):
                raise self._error(
                    f"{key}.{name}", "one of the keys k, min, max, from", f"unknown key '{name}'"
                )
        names = spec.get("from")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise self._error(f"{key}.from", "a non-empty list of term names", names)
        for name in names:
            if name not in terms or not isinstance(terms[name], Mapping):
                raise ConfigError(
                    f"{key}.from",
                    f"terms declared under distill.terms ({', '.join(map(str, terms)) or 'none'})",
                    repr(name),
                    file=self.file,
                    hint=closest(name, [str(t) for t in terms]).strip(),
                )
            if "enabled" in terms[name]:
                raise self._error(
                    f"distill.terms.{name}.enabled",
                    "no 'enabled' (distill.choose switches this term on and off)",
                    terms[name]["enabled"],
                )
            if "+" in name:
                raise self._error(f"{key}.from", "term names without '+'", name)
        if len(set(names)) != len(names):
            raise self._error(f"{key}.from", "distinct term names", names)
        if "k" in spec and ("min" in spec or "max" in spec):
            raise self._error(key, "either k or min/max, not both", "both")
        low, high = (spec["k"], spec["k"]) if "k" in spec else (spec.get("min"), spec.get("max"))
        for name, value in (("k" if "k" in spec else "min", low), ("max", high)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise self._error(
                    f"{key}.{name}", "an integer", "nothing" if value is None else value
                )
        if not 1 <= low <= high <= len(names):
            raise self._error(
                key,
                f"1 <= k (or min <= max) <= {len(names)}, the number of terms in 'from'",
                f"k={low}" if low == high else f"min={low}, max={high}",
            )
        combos = [
            combo
            for size in range(low, high + 1)
            for combo in itertools.combinations(sorted(names), size)
        ]
        if len(combos) > _MAX_COMBINATIONS:
            raise self._error(
                key,
                f"at most {_MAX_COMBINATIONS} combinations of terms",
                f"{len(combos)} (fewer terms in 'from' or a smaller k)",
            )
        # The chosen terms parse as ``always`` (their fields unconditional), outside the tree.
        rest = {k: v for k, v in node.items() if k != "choose"}
        rest["terms"] = {k: v for k, v in terms.items() if k not in names}
        out = self._parse_mapping(rest, "distill")
        parsed_on: dict[str, dict[str, Any]] = {}
        for name in names:
            term = dict(terms[name])
            if term.get("search") == "optional":
                term["search"] = "always"
            parsed_on[name] = self._parse_term(name, term, f"distill.terms.{name}")
            parsed_on[name].setdefault("enabled", True)
        branches = {
            "+".join(combo): {
                "terms": {n: parsed_on[n] if n in combo else {"enabled": False} for n in names}
            }
            for combo in combos
        }
        out.setdefault("terms", {})
        out["choose"] = self._register(key, _Choice(tuple(branches), branches, hidden=True))
        return out

    def _expand_search(self, node: Mapping[str, Any], cls: Any, path: str) -> dict[str, Any]:
        mode = node["search"]
        if mode not in ("optional", "always"):
            raise self._error(f"{path}.search", "optional or always", repr(mode))
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
        if "enabled" in node:
            raise self._error(
                f"{path}.enabled",
                f"no 'enabled' with search: {mode} (search decides whether the term is on)",
                node["enabled"],
            )
        head = {"loss": node["loss"]} if "loss" in node else {}
        if mode == "always":
            return {**head, "enabled": True, **fields}
        return {**head, "enabled": {"type": "categorical", "choices": {True: fields, False: None}}}

    def resolve_auto_pairs(
        self,
        choices: Mapping[str, list[str]],
        projectors: Mapping[str, list[str]] | None = None,
    ) -> None:
        """Turns each ``pair: auto`` into a categorical over the proposed pairs.

        Args:
            choices: Dotted path of each auto pair -> proposed ``"teacher -> student"`` pairs.
            projectors: Dotted path of each ``projector: auto`` -> the projectors that bridge
                every proposed pair (one makes it fixed); a path not given keeps all the
                loss's projectors.

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
            holder["pair"] = self._register(path, _Choice(tuple(proposed), {}), replace=True)
        self.auto_pairs = []
        for holder, path, loss in self.auto_projectors:
            if projectors is None or path not in projectors:
                continue
            kept = list(projectors[path])
            if not kept:
                raise self._error(
                    path, f"a projector of '{loss}' that bridges the proposed pairs", "none"
                )
            if len(kept) == 1:
                holder["projector"] = kept[0]
                self.distributions.pop(path, None)
            else:
                holder["projector"] = self._register(path, _Choice(tuple(kept), {}), replace=True)
        self.auto_projectors = []

    def _parse_dist(self, node: Mapping[str, Any], path: str, prefix: str) -> _Range | _Choice:
        kind = node["type"]
        if not isinstance(kind, str) or kind not in _KEYS:
            raise self._error(f"{path}.type", "float, int or categorical", repr(kind))
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
        return self._register(path, dist)

    def _register(self, path: str, dist: Any, *, replace: bool = False) -> Any:
        """Records ``dist`` as the parameter ``path``.

        The same path under two choices (``student.depth`` of two families) shares one
        parameter when the distributions agree; otherwise the later one is named after its
        choice (``student.depth:resnet``), since Optuna keeps one distribution per name.
        """
        known = self.distributions.get(path)
        if known is None or replace or _signature(known) == _signature(dist):
            self.distributions[path] = dist
            return dist
        # ':' and the characters kept from the choice are legal in MLflow parameter names.
        name = (
            f"{path}:{re.sub(r'[^A-Za-z0-9_.-]', '_', self._branch[-1])}" if self._branch else path
        )
        if name in self.distributions and _signature(self.distributions[name]) != _signature(dist):
            raise self._error(path, "one distribution per parameter and choice", "two")
        dist = dataclasses.replace(dist, name=name)
        self.distributions[name] = dist
        return dist

    def _parse_range(self, node: Mapping[str, Any], path: str, kind: str) -> _Range:
        number = int if kind == "int" else (int, float)
        for key in ("low", "high"):
            value = node.get(key)
            if not isinstance(value, number) or isinstance(value, bool):
                raise self._error(
                    f"{path}.{key}",
                    f"a{'n integer' if kind == 'int' else ' number'}",
                    "nothing" if value is None else repr(value),
                )
        low, high = node["low"], node["high"]
        for key, value in (("low", low), ("high", high), ("step", node.get("step"))):
            if isinstance(value, float) and not math.isfinite(value):
                raise self._error(f"{path}.{key}", "a finite number", repr(value))
        if not low < high:
            raise self._error(path, "low < high (a non-empty range)", f"low={low}, high={high}")
        log, step = node.get("log", False), node.get("step")
        if not isinstance(log, bool):
            raise self._error(f"{path}.log", "true or false", repr(log))
        if step is not None and (
            not isinstance(step, number) or isinstance(step, bool) or step <= 0
        ):
            raise self._error(f"{path}.step", "a positive number", repr(step))
        if log and step is not None:
            raise self._error(path, "either log or step, not both", "both")
        if log and low <= 0:
            raise self._error(f"{path}.low", "low > 0 with log: true", low)
        if step is not None and (Decimal(str(high)) - Decimal(str(low))) % Decimal(str(step)):
            raise self._error(
                f"{path}.step",
                f"a step that divides high - low ({high} - {low})",
                step,
            )
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
                self._branch.append(str(choice))
                try:
                    branches[choice] = self._parse_mapping(fields or {}, prefix)
                finally:
                    self._branch.pop()
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
        seen = [(type(v), v) for v in values]
        if len(set(seen)) != len(seen):
            dupes = sorted({str(v) for t, v in seen if seen.count((t, v)) > 1})
            raise self._error(f"{path}.choices", "distinct choices", f"{', '.join(dupes)} twice")
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
                value = child.suggest(trial, path)
                if not (isinstance(child, _Choice) and child.hidden):
                    out[key] = value
                if isinstance(child, _Choice) and value in child.branches:
                    self._sample_into(child.branches[value], prefix, trial, out)
            elif isinstance(child, dict):
                self._sample_into(child, path, trial, out.setdefault(key, {}))
            else:
                out[key] = copy.deepcopy(child)

    def probe_params(self, seed: int = 0, n_random: int = 8) -> list[dict[str, Any]]:
        """Parameter sets that exercise the space: all lows, all highs and ``n_random`` draws.

        All lows take every categorical's first choice and all highs its last. The first
        half of the draws take the other choices in turn (the second, twice: with all lows
        and with all highs; then the third...), so a bad range under a middle or first choice
        is met too; the rest are random.
        """
        lows = {name: d.extremes()[0] for name, d in self.distributions.items()}
        highs = {name: d.extremes()[1] for name, d in self.distributions.items()}
        structured = []
        for n in range((n_random + 1) // 2):
            ends = highs if n % 2 else lows
            structured.append(
                {
                    name: d.choices[(n // 2 + 1) % len(d.choices)]
                    if isinstance(d, _Choice)
                    else ends[name]
                    for name, d in self.distributions.items()
                }
            )
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        draws = structured
        for _ in range(n_random - len(structured)):
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
