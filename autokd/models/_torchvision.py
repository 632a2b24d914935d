"""Any torchvision classification model as a family: ``family: torchvision.<name>``.

The model is built by ``torchvision.models.get_model(name, weights=None, ...)``, so nothing is
ever downloaded; pretrained weights come from a local state_dict (a ModelSpec's ``weights``).
These families have no width or depth knob; their own constructor arguments go in
``params``. Feature taps are the model's own module names (``layer1`` .. ``layer4``,
``avgpool``, ``fc`` for ResNets; ``features.N`` for MobileNets).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from autokd._registry import closest
from autokd.exceptions import ConfigError
from autokd.models._family import Family

__all__ = ["torchvision_family", "torchvision_names"]

#: Arguments whose torchvision default is unsuited to training from a recipe: auxiliary
#: heads would make the training-mode output a tuple, and GoogLeNet warns without init_weights.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "init_weights": True},
    "inception_v3": {"aux_logits": False, "init_weights": True},
}
_RESERVED = ("weights", "progress", "num_classes")


@functools.cache
def torchvision_names() -> tuple[str, ...]:
    """The classification models of ``torchvision.models``, sorted."""
    import torchvision

    return tuple(sorted(torchvision.models.list_models(module=torchvision.models)))


def torchvision_family(name: str) -> Family:
    """The family ``torchvision.<name>``: builder, no knobs, params checked by a dry build.

    Args:
        name: A classification model of ``torchvision.models`` (``resnet18``).

    Returns:
        The family.

    Raises:
        ConfigError: (key ``family``) If torchvision has no such classification model.
    """
    names = torchvision_names()
    if name not in names:
        raise ConfigError(
            "family",
            "torchvision.<name> with a classification model of torchvision.models "
            f"({', '.join(names[:6])}, ...)",
            repr(f"torchvision.{name}"),
            hint=closest(name, names).replace("'", "'torchvision.", 1).strip(),
        )
    builder = functools.partial(_build, name)
    summary = f"torchvision.models.{name} (weights=None)"
    return Family(f"torchvision.{name}", builder, None, None, summary, _params_check(name))


def _grey_to_rgb(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    x = args[0]  # (B, 1, H, W) -> (B, 3, H, W): the model expects RGB
    return (x.expand(-1, 3, -1, -1), *args[1:])


def _build(name: str, *, in_channels: int, num_classes: int, **params: Any) -> nn.Module:
    import torchvision

    if in_channels not in (1, 3):
        raise ConfigError(
            "family",
            "a dataset of 1 or 3 channels for a torchvision model (it takes RGB)",
            f"{in_channels} channels",
            hint="Choose a native family such as resnet, which adapts its stem.",
        )
    kwargs = {**_DEFAULTS.get(name, {}), **params}
    model = torchvision.models.get_model(name, weights=None, num_classes=num_classes, **kwargs)
    if in_channels == 1:
        model.register_forward_pre_hook(_grey_to_rgb)
    return model


def _params_check(name: str):
    def check(params: dict[str, Any]) -> None:
        for key in params:
            if key in _RESERVED:
                raise ConfigError(
                    "params",
                    f"arguments of torchvision.models.{name} other than {', '.join(_RESERVED)}",
                    repr(key),
                    hint="Pretrained weights come from a local file: set weights: PATH.",
                )
        if not params:
            return
        import torchvision

        kwargs = {**_DEFAULTS.get(name, {}), **params}
        try:  # a dry build on the meta device: no memory, no draws from the global RNG
            with torch.random.fork_rng(devices=[]), torch.device("meta"):
                torchvision.models.get_model(name, weights=None, num_classes=2, **kwargs)
        except (TypeError, ValueError, AssertionError) as exc:
            raise ConfigError(
                "params",
                f"arguments accepted by torchvision.models.{name}",
                repr(params),
                hint=str(exc).splitlines()[0][:160] if str(exc) else "",
            ) from None

    return check
