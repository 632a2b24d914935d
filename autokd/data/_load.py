"""The dataset registry, dataset parameters, and the cached ``load_splits``."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

import pydantic

from autokd._config import FrozenModel
from autokd._config import to_config_error
from autokd._registry import Registry
from autokd.data._splits import Splits
from autokd.exceptions import ConfigError

if TYPE_CHECKING:
    from autokd.recipe import DataSpec

__all__ = [
    "DATASETS",
    "check_params",
    "dataset_params",
    "dataset_shape",
    "load_splits",
    "register_dataset",
    "require_root",
]

#: Loaders ``fn(spec) -> Splits``; register one with :func:`register_dataset`.
DATASETS: Registry[Callable[..., Splits]] = Registry("dataset", hidden_params=("spec",))

Shape = tuple[tuple[int, int, int], int]
F = TypeVar("F", bound=Callable[..., Splits])


@dataclasses.dataclass(frozen=True)
class _Info:
    shape: Callable[[DataSpec], Shape] | None
    params: type[FrozenModel] | None


_INFO: dict[str, _Info] = {}


def register_dataset(
    name: str,
    *,
    shape: Callable[[DataSpec], Shape] | None = None,
    params: type[FrozenModel] | None = None,
) -> Callable[[F], F]:
    """Registers a loader ``fn(spec) -> Splits`` in ``DATASETS``, with what it knows upfront.

    Args:
        name: The snake_case key YAML files use (``data.name``).
        shape: ``fn(spec) -> ((C, H, W), num_classes)`` without reading image files; when
            None, :func:`dataset_shape` loads the set.
        params: A FrozenModel of the options ``data.params`` may hold; None: no options.

    Returns:
        A decorator that registers its argument and returns it unchanged.

    Raises:
        RegistryError: If ``name`` is taken or not snake_case.
    """
    register = DATASETS.register(name)

    def decorator(fn: F) -> F:
        register(fn)
        _INFO[name] = _Info(shape, params)
        return fn

    return decorator


def dataset_params(name: str, params: dict[str, Any], *, prefix: str = "params") -> Any:
    """Validates ``data.params`` against the dataset's options.

    Args:
        name: A registered dataset name.
        params: The options as given.
        prefix: Key path of ``params`` in error messages.

    Returns:
        The dataset's params model (defaults filled in), or None if it takes no options.

    Raises:
        ConfigError: Naming ``params.<key>`` for an unknown key or a wrong value.
    """
    model = _INFO[name].params if name in _INFO else None
    if model is None:
        if params:
            key = next(iter(params))
            raise ConfigError(
                f"{prefix}.{key}", f"no params (dataset '{name}' takes none)", f"'{key}'"
            )
        return None
    try:
        return model.model_validate(params)
    except pydantic.ValidationError as exc:
        raise to_config_error(exc, model, file="", prefix=prefix) from None


def check_params(name: str, params: dict[str, Any]) -> None:
    """Raises ConfigError (key ``params.<key>``) if ``params`` do not suit dataset ``name``."""
    dataset_params(name, params)


def require_root(spec: DataSpec, *, holding: str) -> Path:
    """``spec.root`` as a Path.

    Args:
        spec: The data spec.
        holding: What the folder should hold, for the message.

    Returns:
        The root folder (it may not exist).

    Raises:
        ConfigError: If ``root`` is not set.
    """
    if spec.root is None:
        raise ConfigError(
            "data.root", f"the folder holding {holding}", "nothing", hint="Set data.root."
        )
    return Path(spec.root).expanduser()


def dataset_shape(spec: DataSpec) -> Shape:
    """``((C, H, W), num_classes)`` of the dataset ``spec`` names.

    Fixed-format sets answer without their files, so a study validates on a machine that
    lacks them; an ImageFolder lists its class folders (and decodes one image when
    ``image_size`` is not set).

    Args:
        spec: The data spec.

    Returns:
        The image shape and the number of classes, as :func:`load_splits` would give.

    Raises:
        ConfigError: If ``params`` are invalid.
        MissingFileError: If a set that must be scanned is missing.
    """
    info = _INFO.get(spec.name)
    if info is None or info.shape is None:
        splits = load_splits(spec)
        return splits.image_shape, splits.num_classes
    return info.shape(spec)


class _CachedLoader:
    """``load_splits(spec)``: loads the dataset ``spec`` names, split as it asks.

    Results are cached within the process per distinct spec (``split_hash`` and
    ``num_workers`` aside), the four most recent kept; ``load_splits.cache_clear()`` forgets
    them.

    Args:
        spec: The data spec; a set ``split_hash`` must match the loaded split.

    Returns:
        The Splits.

    Raises:
        ConfigError: If ``params`` are invalid, the files are corrupt, the split leaves a
            class out of a part, or the split does not match ``spec.split_hash``.
        MissingFileError: If the dataset's files are not under ``spec.root``.

    Example:
        >>> from autokd.data import load_splits
        >>> from autokd.recipe import DataSpec
        >>> splits = load_splits(DataSpec(name="digits", val_fraction=0.25))
        >>> len(splits.test_y), len(splits.val_y)
        (360, 360)
    """

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._cache: OrderedDict[str, Splits] = OrderedDict()

    def __call__(self, spec: DataSpec) -> Splits:
        key = spec.model_dump_json(exclude={"split_hash", "num_workers"})
        splits = self._cache.get(key)
        if splits is None:
            dataset_params(spec.name, spec.params, prefix="data.params")
            splits = DATASETS.get(spec.name)(spec)
            self._cache[key] = splits
            while len(self._cache) > self._maxsize:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        _check_hash(spec.split_hash, splits.split_hash)
        return splits

    def cache_clear(self) -> None:
        """Forgets every cached split (the next call reads the files again)."""
        self._cache.clear()


def _check_hash(recorded: str | None, computed: str) -> None:
    if recorded is not None and recorded != computed:
        raise ConfigError(
            "data.split_hash",
            f"{recorded[:12]}... (the split the recipe was searched on)",
            f"{computed[:12]}... — the dataset files or the split changed",
        )


load_splits = _CachedLoader(maxsize=4)
