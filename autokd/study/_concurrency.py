"""Several trials at once on one device, bounded by its free memory."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import threading

import torch

from autokd.logging import get_logger

__all__ = ["DeviceGate", "resolve_n_jobs"]

_logger = get_logger(__name__)
_AUTO_CUDA_JOBS = 8
_MEMORY_SHARE = 0.8  # of the free device memory, for trials; the rest is headroom


def resolve_n_jobs(n_jobs: int | str, device: torch.device) -> int:
    """``auto``: up to 8 concurrent trials on CUDA (the gate lowers it), 1 on CPU."""
    if n_jobs == "auto":
        return _AUTO_CUDA_JOBS if device.type == "cuda" else 1
    return int(n_jobs)


class DeviceGate:
    """Admits at most ``slots`` trials at once; on CUDA, as many as the memory holds.

    On CUDA the first trial runs alone while its peak allocated memory is measured; then
    ``slots = min(n_jobs, 0.8 * free memory / peak)`` (at least 1), where free memory counts
    what the driver reports free plus what PyTorch's allocator holds but does not use. On CPU
    the ``n_jobs`` trials share the cores and no measurement is made.

    Args:
        n_jobs: Upper bound on concurrent trials.
        device: The training device.
    """

    def __init__(self, n_jobs: int, device: torch.device) -> None:
        self.n_jobs = n_jobs
        self.device = device
        self.cuda = device.type == "cuda"
        self.slots = 1 if self.cuda and n_jobs > 1 else n_jobs
        self.measured = not self.cuda or n_jobs == 1
        self.peak_bytes: int | None = None
        self._running = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Waits for a free slot, runs the block, frees the slot."""
        with self._cond:
            while self._running >= self.slots:
                self._cond.wait()
            self._running += 1
            measure = not self.measured
            if measure:
                torch.cuda.reset_peak_memory_stats(self.device)
        try:
            yield
        finally:
            with self._cond:
                if measure:
                    self._size_slots()
                self._running -= 1
                self._cond.notify_all()

    def _size_slots(self) -> None:
        """Sets the number of slots from the measured trial's peak memory (CUDA only)."""
        peak = torch.cuda.max_memory_allocated(self.device)
        free, _ = torch.cuda.mem_get_info(self.device)
        spare = torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)
        room = int(_MEMORY_SHARE * (free + spare))
        self.peak_bytes = peak
        self.slots = max(1, min(self.n_jobs, room // max(peak, 1)))
        self.measured = True
        _logger.info(
            "concurrent trials: %d (a trial peaks at %.0f MiB; %.0f MiB free)",
            self.slots,
            peak / 2**20,
            (free + spare) / 2**20,
        )
