"""One lock for torch's global RNG, shared by everything that seeds it or draws from it.

Concurrent trials are threads of one process, and torch's CPU generator is global. A run seeds
it and builds its student under :data:`GLOBAL_RNG_LOCK`; anything else that draws from it while
trials run (building a model to count its MACs, probing a loss, loading a checkpoint) takes the
same lock, so it can neither shift a run's initial weights nor, when its ``fork_rng`` restores
the state it saved, rewind the generator under a run that is being built.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import threading

import torch

GLOBAL_RNG_LOCK = threading.RLock()


@contextlib.contextmanager
def isolated_rng() -> Iterator[None]:
    """Draws inside leave torch's global CPU RNG as it was, and no other thread's draws mix in."""
    with GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[]):
        yield
