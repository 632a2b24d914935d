"""Concurrent trials share torch's global RNG: whatever draws from it while trials run must
wait for a run that is seeding it and building its student (the lock in ``autokd._rng``)."""

from __future__ import annotations

import threading

import torch

from autokd._rng import GLOBAL_RNG_LOCK
from autokd._rng import isolated_rng
from autokd.recipe import ModelSpec
from autokd.study._constraints import measure_student


def _blocked_while_locked(work) -> bool:
    """Whether ``work`` (in a thread) waits while this thread seeds and draws under the lock."""
    done = threading.Event()
    with GLOBAL_RNG_LOCK:
        torch.manual_seed(0)
        expected = torch.Generator().manual_seed(0)
        thread = threading.Thread(target=lambda: (work(), done.set()))
        thread.start()
        finished_early = done.wait(0.5)  # a cnn builds in milliseconds when nothing blocks it
        # What a run builds from here is what its seed gives, whatever the thread does.
        same = torch.equal(torch.rand(1000), torch.rand(1000, generator=expected))
    thread.join()
    return not finished_early and same and done.is_set()


def test_measuring_a_student_waits_for_a_run_seeding_the_global_rng() -> None:
    spec = ModelSpec(family="cnn", width=0.5)

    def measure() -> None:
        measure_student(spec, (1, 8, 8), 10, device=torch.device("cpu"))

    measure()  # the first call loads what MAC counting needs (about a second)
    assert _blocked_while_locked(measure)


def test_isolated_rng_restores_the_state_and_takes_the_lock() -> None:
    torch.manual_seed(3)
    before = torch.random.get_rng_state()
    with isolated_rng():
        torch.rand(10)
        assert GLOBAL_RNG_LOCK._is_owned()
    assert torch.equal(torch.random.get_rng_state(), before)

    def draw() -> None:
        with isolated_rng():
            torch.rand(10)

    assert _blocked_while_locked(draw)
