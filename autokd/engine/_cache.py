"""Teacher outputs computed once per study and shared by all its trials.

A trial's frozen teacher sees exactly the augmented view its student sees, and that view is a
function of (recipe seed, epoch, image index, augmentation settings) only (see
:func:`~autokd.engine._augment.draw_epoch`). So the teacher's logits and tapped features for
one epoch of one seed are the same for every trial with that seed, whatever its student,
losses or batch size: the first trial to train an epoch records them, the later ones read
them instead of running the teacher. Keying by view rather than caching one fixed,
un-augmented output per image matters: distilling from un-augmented teacher outputs is known
to hurt the student (Beyer et al., "Knowledge distillation: A good teacher is patient and
consistent", CVPR 2022).

An entry is one epoch of one output (``logits`` or ``feat:<module>``) for all ``n`` training
images, stored on the training device, keyed by a hash of everything that determines it: the
teacher's checkpoint hash, the data split's hash, the seed, the augmentation, the device type,
the memory layout, how the teacher ran (eager or compiled: compiled kernels may round
differently) and the stored dtype. Another teacher, split, seed or augmentation therefore never
reads a stale entry.

Budget: entries are kept in memory up to ``memory_mb`` and, with a ``folder``, also written
there (up to ``disk_mb``) so other worker processes on the machine read them too. Nothing is
evicted: a study walks epochs in order and most pruned trials stop early, so the first epochs
are the ones worth keeping. Beyond the budget the trial runs the teacher live; when its logits
are cached but a tapped feature is not, the live forward stops at the deepest tapped layer.

Exactness: with ``dtype: auto`` the stored tensors are the teacher's own outputs (fp32 on CPU,
bf16 under CUDA autocast), so a cached trial trains on exactly what a live one computes for
the same batches. ``float16`` / ``bfloat16`` on CPU and ``topk`` trade exactness for memory:
with ``topk: k`` only each image's k largest logits are kept and the others are set to that
image's smallest logit, so softened teacher probabilities are approximate.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
import tempfile
import threading

import torch

__all__ = ["CacheStats", "TeacherCache"]

_DTYPES = {
    "auto": None,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


@dataclasses.dataclass
class CacheStats:
    """Counts of one cache's use, per (epoch, output) entry.

    Attributes:
        hits: Entries a trial read from the cache (memory or disk) instead of the teacher.
        disk_reads: Of those, entries loaded from the folder.
        stored: Entries recorded after a trial computed them.
        over_budget: Entries a trial had to compute live because the budget was full.
        teacher_batches: Teacher forward passes run by trials (live or to fill the cache).
    """

    hits: int = 0
    disk_reads: int = 0
    stored: int = 0
    over_budget: int = 0
    teacher_batches: int = 0


class _Entry:
    """One stored output: dense rows, or (top-k values, their classes, the row minimum).

    ``dtype`` is the dtype the teacher produced; rows are handed back in it.
    """

    def __init__(self, dtype, dense=None, values=None, indices=None, floor=None, width=0) -> None:
        self.dtype = dtype
        self.dense, self.values, self.indices, self.floor = dense, values, indices, floor
        self.width = width

    @property
    def nbytes(self) -> int:
        parts = (self.dense, self.values, self.indices, self.floor)
        return sum(t.numel() * t.element_size() for t in parts if t is not None)

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        """The entry's rows for images ``idx`` (logits rebuilt from top-k when compressed)."""
        if self.dense is not None:
            return self.dense[idx].to(self.dtype)
        out = self.floor[idx, None].to(self.dtype).expand(len(idx), self.width).clone()
        return out.scatter_(1, self.indices[idx], self.values[idx].to(self.dtype))

    def state(self) -> dict:
        dtype = str(self.dtype).removeprefix("torch.")
        if self.dense is not None:
            return {"dtype": dtype, "dense": self.dense.cpu()}
        return {
            "dtype": dtype,
            "values": self.values.cpu(),
            "indices": self.indices.cpu(),
            "floor": self.floor.cpu(),
            "width": self.width,
        }

    @classmethod
    def from_state(cls, state: dict) -> _Entry:
        dtype = getattr(torch, state["dtype"])
        if "dense" in state:
            return cls(dtype, dense=state["dense"])
        return cls(
            dtype,
            values=state["values"],
            indices=state["indices"],
            floor=state["floor"],
            width=int(state["width"]),
        )


class TeacherCache:
    """Per-view teacher outputs, shared by the trials of a study (thread-safe).

    Args:
        memory_mb: Budget for entries held in memory (on the training device).
        folder: Where entries are also written for other processes (None: memory only).
        disk_mb: Budget for the folder.
        dtype: ``auto`` (the teacher's own output dtype: exact), ``float32``, ``float16`` or
            ``bfloat16``.
        topk: Keep only the k largest logits per image (approximate); None keeps all.
        features: Also cache tapped teacher features (else only logits).

    Example:
        >>> cache = TeacherCache(memory_mb=512)
        >>> first = train_recipe(recipe, teacher_cache=cache)  # doctest: +SKIP
        >>> second = train_recipe(other_recipe, teacher_cache=cache)  # no teacher forwards
    """

    def __init__(
        self,
        *,
        memory_mb: float = 1024.0,
        folder: str | Path | None = None,
        disk_mb: float = 0.0,
        dtype: str = "auto",
        topk: int | None = None,
        features: bool = True,
    ) -> None:
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        if topk is not None and topk < 1:
            raise ValueError(f"topk must be >= 1 or None, got {topk}")
        self.memory_bytes = int(memory_mb * 2**20)
        self.disk_bytes = int(disk_mb * 2**20) if folder is not None else 0
        self.folder = Path(folder) if folder is not None else None
        self.dtype, self.topk, self.features = dtype, topk, features
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, int, str], _Entry] = {}
        self._used = 0  # bytes in memory, reservations included
        self._disk_used = _folder_bytes(self.folder) if self.folder is not None else 0

    # -- keys --------------------------------------------------------------------------------

    def view_key(
        self,
        *,
        teacher_sha256: str,
        split_hash: str,
        seed: int,
        augment: dict,
        n: int,
        device: torch.device,
        output_dtype: str,
        layout: str = "contiguous",
        runner: str = "eager",
    ) -> str:
        """A hash of everything that determines a trial's teacher views and stored outputs."""
        parts = {
            "teacher": teacher_sha256,
            "split": split_hash,
            "seed": seed,
            "augment": augment,
            "n": n,
            "device": device.type,
            "output_dtype": output_dtype,
            "layout": layout,
            "runner": runner,
            "dtype": self.dtype,
            "topk": self.topk,
            "version": 1,
        }
        blob = json.dumps(parts, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:24]

    def wants(self, name: str) -> bool:
        """Whether outputs called ``name`` are cached at all (features may be turned off)."""
        return name == "logits" or self.features

    # -- reads ---------------------------------------------------------------------------------

    def lookup(self, view: str, epoch: int, names: list[str], device: torch.device) -> dict:
        """The stored entries among ``names`` for this view and epoch (memory, then folder)."""
        found = {}
        for name in names:
            if not self.wants(name):
                continue
            key = (view, epoch, name)
            with self._lock:
                entry = self._entries.get(key)
            if entry is None:
                entry = self._read_disk(key, device)
            if entry is not None:
                found[name] = entry
        with self._lock:
            self.stats.hits += len(found)
        return found

    def _read_disk(self, key: tuple[str, int, str], device: torch.device) -> _Entry | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            state = torch.load(path, map_location=device, weights_only=True)
            entry = _Entry.from_state(state)
        except Exception:  # a half-written or foreign file: recompute rather than trust it
            return None
        with self._lock:
            self.stats.disk_reads += 1
            if key not in self._entries and self._used + entry.nbytes <= self.memory_bytes:
                self._entries[key] = entry
                self._used += entry.nbytes
        return entry

    # -- writes --------------------------------------------------------------------------------

    def reserve(self, nbytes: int) -> str | None:
        """Claims room for an entry about to be filled.

        Returns:
            ``"memory"`` or ``"disk"`` (where it will be kept), or None when neither budget
            has room; pass the answer back to :meth:`store` or :meth:`release`.
        """
        with self._lock:
            if self._used + nbytes <= self.memory_bytes:
                self._used += nbytes
                return "memory"
            if self._disk_used + nbytes <= self.disk_bytes:
                self._disk_used += nbytes
                return "disk"
            self.stats.over_budget += 1
            return None

    def release(self, where: str, nbytes: int) -> None:
        """Gives back a reservation that will not be stored (the trial stopped mid-epoch)."""
        with self._lock:
            if where == "memory":
                self._used -= nbytes
            else:
                self._disk_used -= nbytes

    def stored_form(self, name: str, full: torch.Tensor) -> _Entry:
        """The form ``full`` (n rows) is stored in: cast and, for logits with topk, compressed."""
        dtype = _DTYPES[self.dtype] or full.dtype
        if name == "logits" and self.topk is not None and self.topk < full.shape[1]:
            values, indices = full.topk(self.topk, dim=1)
            return _Entry(
                full.dtype,
                values=values.to(dtype),
                indices=indices,
                floor=full.min(dim=1).values.to(dtype),
                width=full.shape[1],
            )
        return _Entry(full.dtype, dense=full.to(dtype))

    def store(
        self, view: str, epoch: int, name: str, full: torch.Tensor, where: str, nbytes: int
    ) -> None:
        """Records a filled entry, with the reservation ``(where, nbytes)`` it was filled under."""
        entry = self.stored_form(name, full)
        key = (view, epoch, name)
        with self._lock:
            if where == "memory":
                self._used -= nbytes
                if key not in self._entries:  # else a concurrent trial stored it first
                    self._entries[key] = entry
                    self._used += entry.nbytes
                    self.stats.stored += 1
                disk = self._disk_used + entry.nbytes <= self.disk_bytes
                self._disk_used += entry.nbytes if disk else 0
            else:
                self._disk_used += entry.nbytes - nbytes
                self.stats.stored += 1
                disk = True
        if disk:
            self._write_disk(key, entry)

    def _write_disk(self, key: tuple[str, int, str], entry: _Entry) -> None:
        path = self._path(key)
        if path is None or path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole, then renamed: a reader in another process never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        try:
            torch.save(entry.state(), tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _path(self, key: tuple[str, int, str]) -> Path | None:
        if self.folder is None:
            return None
        view, epoch, name = key
        return self.folder / view / f"epoch{epoch:04d}_{name.replace(':', '_')}.pt"

    def count_teacher_batch(self) -> None:
        """Counts one teacher forward pass in :attr:`stats` (safe from concurrent trials)."""
        with self._lock:
            self.stats.teacher_batches += 1

    @property
    def memory_used(self) -> int:
        """Bytes of entries (and reservations) held in memory."""
        with self._lock:
            return self._used

    def clear(self) -> None:
        """Forgets the entries held in memory (the folder is left as it is)."""
        with self._lock:
            self._entries.clear()
            self._used = 0


def _folder_bytes(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*.pt"))
