"""Model families: a builder plus its declared width and depth knobs and their legal values.

A family is registered once with :func:`register_family`; the knobs say which ``width`` and
``depth`` values a recipe may give (a set of choices or an inclusive range) and what they
default to. :func:`resolve_knobs` turns a recipe's ``width``/``depth`` (possibly missing) into
the concrete values the builder receives, or into a :class:`~autokd.exceptions.ConfigError`
that lists the legal ones.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import inspect
import math
from typing import Any
from typing import Literal

from torch import nn

from autokd._registry import closest
from autokd.exceptions import ConfigError
from autokd.models._registry import MODELS

__all__ = [
    "Family",
    "Knob",
    "get_family",
    "he_init",
    "register_family",
    "register_variant",
    "resolve_knobs",
    "scaled",
]

Builder = Callable[..., nn.Module]
_FAMILIES: dict[str, Family] = {}
_TORCHVISION = "torchvision."


@dataclasses.dataclass(frozen=True)
class Knob:
    """The legal values of one architecture knob (``width`` or ``depth``) of a family.

    Either ``choices`` (a discrete set) or ``low``/``high`` (an inclusive range) is given.

    Args:
        default: The value used when a recipe leaves the knob out.
        choices: The legal values, or None for a range.
        low: Smallest legal value of a range.
        high: Largest legal value of a range.
        kind: ``"int"`` (whole numbers only) or ``"float"``.
        doc: What the knob means for this family ("blocks per stage").
    """

    default: float
    choices: tuple[float, ...] | None = None
    low: float | None = None
    high: float | None = None
    kind: Literal["int", "float"] = "float"
    doc: str = ""

    def __post_init__(self) -> None:
        ranged = self.low is not None and self.high is not None
        assert (self.choices is None) == ranged, "give either choices or low and high"
        assert self.check(self.default) is None, f"default {self.default} is not legal"

    def check(self, value: Any) -> str | None:
        """Returns None when ``value`` is legal, else the text "expected ..." of an error."""
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and self.kind == "int":
            ok = float(value).is_integer()
        if ok and self.choices is not None:
            ok = value in self.choices
        elif ok:
            ok = self.low <= value <= self.high  # type: ignore[operator]  # NaN fails too
        return None if ok else self.legal()

    def legal(self) -> str:
        """The legal values in words: ``one of 8, 14, 20`` or ``a number in [0.25, 4]``."""
        if self.choices is not None:
            return "one of " + ", ".join(f"{c:g}" for c in self.choices)
        noun = "an integer" if self.kind == "int" else "a number"
        return f"{noun} in [{self.low:g}, {self.high:g}]"

    def short(self) -> str:
        """``{8|14|20}`` or ``0.25..4``, with the default and meaning (``autokd list``)."""
        if self.choices is not None and len(self.choices) == 1:
            values = f"{self.choices[0]:g} (fixed)"
        elif self.choices is not None:
            values = (
                "{" + "|".join(f"{c:g}" for c in self.choices) + f"}} default {self.default:g}"
            )
        else:
            values = f"{self.low:g}..{self.high:g} default {self.default:g}"
        return f"{values}: {self.doc}" if self.doc else values

    def nearest(self, value: Any) -> str:
        """A hint naming the legal value closest to ``value`` ("" if none makes sense)."""
        if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
            return ""
        if self.choices is not None:
            best = min(self.choices, key=lambda c: abs(c - value))
        else:
            best = min(max(value, self.low), self.high)  # type: ignore[type-var]
            best = round(best) if self.kind == "int" else best
        return f"The closest legal value is {best:g}."


@dataclasses.dataclass(frozen=True)
class Family:
    """A buildable model family: its builder, knobs and accepted extra arguments.

    Args:
        name: The ``family`` key of a recipe.
        builder: ``builder(*, in_channels, num_classes, [width], [depth], **params)``.
        width: The width knob, or None when the family has a fixed width.
        depth: The depth knob, or None when the family has a fixed depth.
        summary: One line describing the family.
        check_params: Raises ConfigError (key ``params``) for unusable extra arguments.
    """

    name: str
    builder: Builder
    width: Knob | None
    depth: Knob | None
    summary: str
    check_params: Callable[[dict[str, Any]], None]


def register_family(
    name: str, *, width: Knob | None, depth: Knob | None, summary: str
) -> Callable[[Builder], Builder]:
    """Returns a decorator registering a builder in ``MODELS`` as a family with these knobs.

    A knob given as None is fixed: the builder takes no such argument and a recipe may not
    set it. The builder's other keyword arguments (beyond ``in_channels``, ``num_classes``
    and the knobs) are what a recipe's ``params`` may set.

    Args:
        name: Registry key (snake_case).
        width: The width knob, or None.
        depth: The depth knob, or None.
        summary: One line for ``autokd list models``.

    Returns:
        The decorator; it returns the builder unchanged apart from a ``knobs`` attribute.

    Raises:
        RegistryError: If ``name`` is taken or not snake_case.
    """

    def decorator(builder: Builder) -> Builder:
        builder.knobs = {  # type: ignore[attr-defined]  # read by Registry.describe
            key: knob.short() if knob is not None else "fixed"
            for key, knob in (("width", width), ("depth", depth))
        }
        MODELS.register(name)(builder)
        check = _signature_check(name, builder)
        _FAMILIES[name] = Family(name, builder, width, depth, summary, check)
        return builder

    return decorator


def register_variant(
    name: str,
    family: str,
    *,
    width: float | None,
    depth: int | None,
    summary: str,
    **fixed: Any,
) -> None:
    """Registers a named member of ``family``: each knob has one legal value.

    ``resnet8x4`` is ``resnet`` with width 4, depth 8 and ``stem_channels=32``, for example.

    Args:
        name: Registry key of the variant.
        family: The registered family it belongs to.
        width: Its width (None when the family has none).
        depth: Its depth (None when the family has none).
        summary: One line for ``autokd list models``.
        **fixed: Extra builder arguments the variant fixes (no longer settable in params).
    """
    base = _FAMILIES[family]

    def builder(*, in_channels: int, num_classes: int, **kwargs: Any) -> nn.Module:
        return base.builder(in_channels=in_channels, num_classes=num_classes, **fixed, **kwargs)

    signature = inspect.signature(base.builder)
    knob_values = {"width": width, "depth": depth}
    params = [
        p.replace(default=knob_values[p.name]) if p.name in knob_values else p
        for p in signature.parameters.values()
        if p.name not in fixed
    ]
    builder.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = summary
    register_family(
        name,
        width=_one(width, base.width),
        depth=_one(depth, base.depth),
        summary=summary,
    )(builder)


def _one(value: float | None, knob: Knob | None) -> Knob | None:
    if knob is None:
        return None
    assert value is not None and knob.check(value) is None, f"{value} is not legal"
    return dataclasses.replace(knob, default=value, choices=(value,), low=None, high=None)


def _signature_check(name: str, builder: Builder) -> Callable[[dict[str, Any]], None]:
    reserved = {"in_channels", "num_classes", "width", "depth"}
    allowed = [
        p.name
        for p in inspect.signature(builder).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in reserved
    ]

    def check(params: dict[str, Any]) -> None:
        for key in params:
            if key not in allowed:
                expected = f"arguments of {name} ({', '.join(allowed) or 'none'})"
                hint = "Set width and depth with their own keys." if key in reserved else ""
                raise ConfigError(
                    "params", expected, repr(key), hint=hint or closest(key, allowed).strip()
                )

    return check


def get_family(name: str) -> Family:
    """Returns the family registered as ``name``, or a torchvision model ``torchvision.X``.

    Raises:
        ConfigError: (key ``family``) If no such family exists; the message lists the
            registered ones and the closest name.
    """
    if isinstance(name, str) and name.startswith(_TORCHVISION):
        from autokd.models._torchvision import torchvision_family

        return torchvision_family(name.removeprefix(_TORCHVISION))
    if name in _FAMILIES:
        return _FAMILIES[name]
    if name in MODELS:  # registered with MODELS.register directly: no declared knobs
        return _undeclared_family(name)
    message = MODELS.unknown_message(name)
    hint = message[message.find("Did you mean") :] if "Did you mean" in message else ""
    raise ConfigError(
        "family",
        f"a registered model ({', '.join(MODELS.list())}) or torchvision.<name>",
        repr(name),
        hint=hint,
    )


def _undeclared_family(name: str) -> Family:
    builder = MODELS.get(name)
    params = inspect.signature(builder).parameters
    width = depth = None
    if "width" in params:  # the bounds ModelSpec enforced before knobs were declared
        default = params["width"].default
        width = Knob(1.0 if default is inspect.Parameter.empty else default, low=1e-3, high=16)
    if "depth" in params:
        default = params["depth"].default
        depth = Knob(1 if default is inspect.Parameter.empty else default, low=1, high=16)
    return Family(name, builder, width, depth, "", _signature_check(name, builder))


def resolve_knobs(family: str, width: Any, depth: Any) -> tuple[float | None, int | None]:
    """Fills missing knobs with the family's defaults and checks the given ones.

    Args:
        family: A family name (registered, or ``torchvision.<name>``).
        width: The recipe's width, or None for the family default.
        depth: The recipe's depth, or None for the family default.

    Returns:
        ``(width, depth)`` as float and int; None for a knob the family does not have.

    Raises:
        ConfigError: With key ``family``, ``width`` or ``depth``, stating the legal values.

    Example:
        >>> resolve_knobs("resnet8x4", None, None)
        (4.0, 8)
    """
    fam = get_family(family)
    resolved = []
    for key, knob, value in (("width", fam.width, width), ("depth", fam.depth, depth)):
        if knob is None:
            if value is not None:
                raise ConfigError(
                    key,
                    f"no {key} (family {family} has a fixed {key})",
                    repr(value),
                    hint=f"Leave {key} out, or choose a family with a {key} knob.",
                )
            resolved.append(None)
            continue
        value = knob.default if value is None else value
        expected = knob.check(value)
        if expected is not None:
            hint = knob.nearest(value)
            raise ConfigError(key, f"{expected} ({family} {key})", repr(value), hint=hint)
        resolved.append(value)
    width, depth = resolved
    return (
        None if width is None else float(width),
        None if depth is None else int(depth),
    )


def scaled(channels: int, width: float, *, minimum: int = 4) -> int:
    """``channels * width`` rounded, and at least ``minimum``."""
    return max(minimum, round(channels * width))


def he_init(model: nn.Module) -> nn.Module:
    """He et al. (2015, https://arxiv.org/abs/1502.01852) normal init of convolutions
    (fan-out, ReLU gain); batch norms start as identity. Linear layers keep torch's default.

    Returns:
        ``model``, initialised in place (draws from torch's global RNG).
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model
