"""How fine a validation split can rank recipes, and when to warn that it cannot."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autokd.config import StudyConfig

__all__ = ["MIN_VAL_IMAGES", "study_validation_note", "validation_note"]

#: Below this many validation images one image is worth more than 0.2 points of accuracy, as
#: large as the gaps between good recipes that a study must resolve (the literature's gains
#: over KD are 0.2 to 1 point), so the study ranks recipes by a handful of images.
MIN_VAL_IMAGES = 500


def validation_note(n_val: int, *, accuracy: float = 0.9) -> str | None:
    """A one-line warning when ``n_val`` validation images are too few, else None.

    Besides the size of one image, it gives the sampling noise of a gap between two recipes
    measured on the same ``n_val`` images as if independent: ``sqrt(2 p (1 - p) / n)`` at
    accuracy ``p`` (a conservative bound: correlated errors of similar recipes shrink it).
    """
    if n_val >= MIN_VAL_IMAGES:
        return None
    noise = math.sqrt(2 * accuracy * (1 - accuracy) / n_val)
    return (
        f"{n_val} validation images: one image is {100 / n_val:.2f} points of accuracy, and "
        f"the gap between two recipes near {accuracy:.0%} carries up to ±{100 * noise:.1f} "
        f"points of noise from the images alone; recipes closer than that are ranked by "
        f"chance. Use at least {MIN_VAL_IMAGES} (raise data.val_fraction) or add final_eval."
    )


def study_validation_note(config: StudyConfig, n_val: int) -> str | None:
    """:func:`validation_note` for a study, None when it runs final_eval (which re-ranks the
    top trials on several seeds, the rule's own remedy)."""
    return None if config.final_eval is not None else validation_note(n_val)
