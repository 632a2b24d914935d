"""State_dict files pinned by SHA-256: a frozen teacher, or initial weights for a student."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import torch

from autokd._rng import isolated_rng
from autokd.exceptions import ConfigError
from autokd.exceptions import MissingFileError
from autokd.logging import get_logger
from autokd.models._registry import build_model

if TYPE_CHECKING:
    from torch import nn

    from autokd.recipe import ModelSpec

__all__ = ["file_sha256", "load_checkpoint", "load_matching", "read_state_dict"]

_logger = get_logger(__name__)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state_dict(path: str | Path, *, sha256: str | None, key: str) -> dict[str, Any]:
    """Reads a state_dict with ``torch.load(weights_only=True)``, checking its hash first.

    A ``{"state_dict": {...}}`` wrapper (as training scripts often save) is unwrapped.

    Args:
        path: The file.
        sha256: Expected hex SHA-256 of the file, or None to skip the check.
        key: The recipe key that named the file (used in messages).

    Returns:
        The mapping of names to tensors.

    Raises:
        MissingFileError: If ``path`` does not exist.
        ConfigError: If the hash differs or the file is not a state_dict.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{key}: checkpoint file not found: {path}")
    if sha256 is not None and (actual := file_sha256(path)) != sha256:
        raise ConfigError(
            f"{key}",
            f"a file with sha256 {sha256[:12]}...",
            f"{actual[:12]}... ({path})",
            hint="The checkpoint changed since the recipe was written.",
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and torch errors all mean "not a usable state_dict"
        raise ConfigError(
            key, "a torch state_dict file", f"{type(exc).__name__} ({path})"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        got = f"{type(state).__name__} ({path})"
        raise ConfigError(key, "a state_dict (a mapping of tensors)", got)
    return state


def load_checkpoint(
    spec: ModelSpec,
    path: str | Path,
    *,
    in_channels: int,
    num_classes: int,
    sha256: str | None = None,
    key: str = "teacher.checkpoint",
) -> nn.Module:
    """Builds ``spec`` and loads a state_dict with ``torch.load(weights_only=True)``.

    The model comes back frozen: eval mode, ``requires_grad=False`` everywhere.

    Raises:
        MissingFileError: If ``path`` does not exist.
        ConfigError: If the hash differs from ``sha256`` or the weights do not fit the model.
    """
    state = read_state_dict(path, sha256=sha256, key=key)
    with isolated_rng():  # loading weights leaves the global RNG alone
        model = build_model(spec, in_channels=in_channels, num_classes=num_classes)
    try:
        result = model.load_state_dict(state, strict=False)
        bad = (result.missing_keys or result.unexpected_keys)[:3]
    except (RuntimeError, TypeError, AttributeError, ValueError) as exc:
        # Tensors of the wrong shape (RuntimeError); keys or values that are no names or
        # tensors at all (the others).
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        bad = [lines[-1].strip()[:120]]
    if bad:
        raise ConfigError(
            key,
            f"weights for {spec.family}(width={spec.width}, depth={spec.depth})",
            f"a state_dict that does not fit (first mismatched keys: {bad}; {path})",
        )
    model.eval().requires_grad_(False)
    return model


def load_matching(
    model: nn.Module, path: str | Path, *, sha256: str | None = None, key: str = "weights"
) -> list[str]:
    """Copies into ``model`` every tensor of a state_dict file whose name and shape match.

    Tensors of another shape (a classifier head for another number of classes) and names the
    model lacks are skipped, so ImageNet weights can initialise a 10-class student. Nothing is
    drawn from torch's random number generator.

    Args:
        model: The freshly built model; changed in place.
        path: A state_dict file.
        sha256: Expected hex SHA-256 of the file, or None.
        key: The recipe key that named the file (used in messages).

    Returns:
        The names of the model's tensors that kept their initial values, sorted.

    Raises:
        MissingFileError: If ``path`` does not exist.
        ConfigError: If the hash differs, the file is not a state_dict, or fewer than half of
            the model's tensors are found in it with the right shape.
    """
    state = read_state_dict(path, sha256=sha256, key=key)
    own = model.state_dict()
    matched = {
        name: value
        for name, value in state.items()
        if name in own and isinstance(value, torch.Tensor) and value.shape == own[name].shape
    }
    if 2 * len(matched) < len(own):
        raise ConfigError(
            key,
            f"a state_dict holding at least half of the model's {len(own)} tensors "
            "(same names and shapes)",
            f"{len(matched)} matching tensors ({path})",
            hint="Was it saved from another architecture?",
        )
    model.load_state_dict(matched, strict=False)
    skipped = sorted(set(own) - set(matched))
    if skipped:
        _logger.info("%s: kept the initial values of %s", key, ", ".join(skipped[:6]))
    return skipped
