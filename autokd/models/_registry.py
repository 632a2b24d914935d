"""The model registry and ``build_model``: a recipe's ModelSpec -> an ``nn.Module``.

Builders take ``fn(*, in_channels, num_classes, [width], [depth], **params)``; families
declare their knobs with :func:`autokd.models.register_family`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from autokd._registry import Registry

if TYPE_CHECKING:
    from torch import nn

    from autokd.recipe import ModelSpec

__all__ = ["MODELS", "build_model"]

MODELS: Registry = Registry("model", hidden_params=("in_channels", "num_classes"))


def build_model(spec: ModelSpec, *, in_channels: int, num_classes: int) -> nn.Module:
    """Builds the spec's family with its width, depth and params, then its initial weights.

    Initialisation draws from torch's global RNG (seed it first); loading ``spec.weights``
    draws nothing more, so the same seed gives the same untouched tensors either way.

    Args:
        spec: The validated model spec.
        in_channels: Image channels of the dataset.
        num_classes: Classes of the dataset.

    Returns:
        The model, in training mode.

    Raises:
        ConfigError: If the spec does not fit the family (key ``family``, ``width``,
            ``depth``, ``params``) or its ``weights`` file is unusable (key ``weights``).
        MissingFileError: If the ``weights`` file does not exist.

    Example:
        >>> from autokd.recipe import ModelSpec
        >>> model = build_model(ModelSpec(family="resnet8"), in_channels=3, num_classes=10)
        >>> type(model).__name__
        'CifarResNet'
    """
    from autokd.models._family import get_family
    from autokd.models._family import resolve_knobs

    family = get_family(spec.family)
    width, depth = resolve_knobs(spec.family, spec.width, spec.depth)
    family.check_params(spec.params)
    kwargs = dict(spec.params)
    if family.width is not None:
        kwargs["width"] = width
    if family.depth is not None:
        kwargs["depth"] = depth
    model = family.builder(in_channels=in_channels, num_classes=num_classes, **kwargs)
    if spec.weights is not None:
        from autokd.models._teacher import load_matching

        load_matching(model, spec.weights, sha256=spec.weights_sha256, key="weights")
    return model
