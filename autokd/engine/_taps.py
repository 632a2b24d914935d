"""Feature taps: forward hooks on named modules, so unmodified models can be distilled."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from autokd.exceptions import TrialSetupError

__all__ = ["FeatureTaps", "StopForward"]


class StopForward(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by a tap to end a forward pass once the last needed layer has run."""


class FeatureTaps:
    """Records the outputs of named modules of ``model`` on every forward pass.

    Args:
        model: Any ``nn.Module``; names are those of ``model.named_modules()``.
        names: Modules to tap.
        role: "teacher" or "student", used in error messages.

    Raises:
        TrialSetupError: If a name is not a module of ``model``; lists the closest names.

    Example:
        >>> taps = FeatureTaps(model, ["stages.1"], role="student")  # doctest: +SKIP
        >>> logits = model(x); taps.outputs["stages.1"].shape  # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, names: Iterable[str], *, role: str) -> None:
        modules = dict(model.named_modules())
        self.outputs: dict[str, torch.Tensor] = {}
        #: Raise :class:`StopForward` right after recording this module (None: never): a
        #: forward whose later layers are not needed stops there.
        self.stop_after: str | None = None
        self._handles = []
        for name in dict.fromkeys(names):
            if name not in modules or name == "":
                import difflib

                near = difflib.get_close_matches(name, [m for m in modules if m], n=3)
                raise TrialSetupError(
                    f"{role} has no module named '{name}'"
                    + (f"; closest: {', '.join(near)}" if near else "")
                )
            self._handles.append(modules[name].register_forward_hook(self._hook(name)))

    def _hook(self, name: str):
        def record(module: nn.Module, args: object, output: object) -> None:
            if not isinstance(output, torch.Tensor):
                raise TrialSetupError(
                    f"module '{name}' returns {type(output).__name__}, not a tensor"
                )
            self.outputs[name] = output
            if name == self.stop_after:
                raise StopForward(name)

        return record

    def pop(self) -> dict[str, torch.Tensor]:
        """Returns the recorded outputs and forgets them (no references kept between steps)."""
        outputs, self.outputs = self.outputs, {}
        return outputs

    def remove(self) -> None:
        """Removes the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
