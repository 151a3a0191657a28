"""LightningDataModule over a prepared cache.

Batches are dicts ``{"image": uint8 (B, 3, S, S), "mask": uint8 (B, S, S), "index": int64 (B,),
"attributes": int64 (B, 3)}``, plus ``"instances": int32 (B, S, S)`` (0 = none) from a cache with
instance ids; the attributes are the time, weather and scene codes of
:mod:`semsegdiff.attributes` (0 = unknown), which a flip leaves as they are. Images stay
uint8 until they reach the device (4x less to copy); masks stay train ids: one-hot encoding
is the model's job, on the device. Whole batches are gathered from the memory-mapped arrays
at once (``__getitems__``), not item by item.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, WeightedRandomSampler

from ..errors import DataError
from .prepare import open_prepared


class CachedPairs(torch.utils.data.Dataset):
    """One split of a prepared cache, with an optional paired horizontal flip."""

    def __init__(self, root: str | Path, split: str, *, flip: bool = False):
        self.prepared, self.split, self.flip = open_prepared(root), split, flip
        self._n = len(self.prepared.meta["splits"][split]["names"])
        self._arrays: tuple | None = None  # opened once per worker

    def __len__(self) -> int:
        return self._n

    def _open(self) -> tuple:
        if self._arrays is None:  # images, masks, instances memory-mapped, the small attribute table in memory
            self._arrays = (self.prepared.images(self.split), self.prepared.masks(self.split),
                            self.prepared.attributes(self.split).astype(np.int64), self.prepared.instances(self.split))
        return self._arrays

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        images, masks, attributes, instances = self._open()
        idx = np.asarray(indices, dtype=np.int64)
        order = np.argsort(idx)  # sorted reads are sequential on disk
        inverse = np.argsort(order)
        image = torch.from_numpy(images[idx[order]][inverse]).permute(0, 3, 1, 2)  # (B, 3, S, S)
        mask = torch.from_numpy(masks[idx[order]][inverse])  # (B, S, S)
        ids = None if instances is None else torch.from_numpy(instances[idx[order]][inverse].astype(np.int32))
        if self.flip:
            image, mask, *rest = paired_flip(image, mask, ids)
            ids = rest[0] if rest else None
        batch = {"image": image.contiguous(), "mask": mask.contiguous(), "index": torch.from_numpy(idx),
                 "attributes": torch.from_numpy(attributes[idx])}
        if ids is not None:
            batch["instances"] = ids.contiguous()
        return batch

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([i]).items()}


def paired_flip(image: torch.Tensor, mask: torch.Tensor, instances: torch.Tensor | None = None) -> tuple:
    """Flip each pair (image (B, 3, H, W), mask (B, H, W)) horizontally with probability 1/2, both the same way;
    with ``instances`` (B, H, W) a triple, all three flipped alike."""
    flipped = torch.rand(len(image)) < 0.5
    out = (torch.where(flipped[:, None, None, None], image.flip(-1), image),
           torch.where(flipped[:, None, None], mask.flip(-1), mask))
    if instances is None:
        return out
    return (*out, torch.where(flipped[:, None, None], instances.flip(-1), instances))


def _batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return batch  # __getitems__ already returns a collated batch


class SegDataModule(pl.LightningDataModule):
    """Serves the train/val/test splits of a prepared cache; asking for a split it lacks is an error."""

    def __init__(self, root: str | Path, *, batch_size: int = 32, num_workers: int = 0,
                 flip: bool = True, drop_last: bool = True, attribute_balance: float = 0.0):
        super().__init__()
        # never more workers than cores (torch warns, and they only compete): the paper profile's 4 on a 2-core machine
        self.root, self.batch_size, self.num_workers = Path(root), batch_size, min(num_workers, _cores())
        self.flip, self.drop_last, self.attribute_balance = flip, drop_last, attribute_balance
        self.prepared = open_prepared(self.root)

    def has(self, split: str) -> bool:
        """Whether the cache has ``split`` (a cache prepared with val_fraction 0 has no val split)."""
        return split in self.prepared.splits

    def _loader(self, split: str, train: bool) -> DataLoader:
        if not self.has(split):
            raise DataError(f"{self.root}: the prepared cache has no {split} split (it has "
                            f"{', '.join(self.prepared.splits)})")
        data = CachedPairs(self.root, split, flip=self.flip and train)
        sampler = None
        if train and self.attribute_balance:  # Lightning shards it across devices (DistributedSamplerWrapper)
            weights = balance_weights(self.prepared.attributes(split), self.attribute_balance)
            sampler = WeightedRandomSampler(torch.from_numpy(weights), num_samples=len(data), replacement=True)
        return DataLoader(
            data, batch_size=self.batch_size, shuffle=train and sampler is None, sampler=sampler,
            drop_last=train and self.drop_last and len(data) > self.batch_size,
            num_workers=self.num_workers, collate_fn=_batch, pin_memory=torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0, worker_init_fn=worker_init if self.num_workers else None,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)


def worker_init(worker_id: int) -> None:
    """A DataLoader worker ends on SIGTERM and SIGHUP as it does on SIGINT: quietly (torch's worker loop catches the
    KeyboardInterrupt), while the main process ends the run and says "interrupted". Killed by the signal instead, a
    worker made torch raise "DataLoader worker ... is killed by signal" in the main process, a traceback; ignoring it
    made multiprocessing's own terminate() at exit wait for the worker forever. Then Lightning's seeding of the
    worker where ``seed_everything(workers=True)`` asked for it, as without this function."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupted)
    if os.environ.get("PL_SEED_WORKERS") == "1":
        from lightning_fabric.utilities.seed import pl_worker_init_function

        pl_worker_init_function(worker_id)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def balance_weights(codes: np.ndarray, power: float) -> np.ndarray:
    """Drawing weight of each image from its (N, A) attribute codes: the product over attributes of its value's
    share to the power ``-power`` (0: every image alike; 1: each value of an attribute about equally often, for
    independent attributes). Unknown (code 0) is a value like the others. Sums to 1."""
    weights = np.ones(len(codes))
    for column in np.asarray(codes).T:
        _, inverse, counts = np.unique(column, return_inverse=True, return_counts=True)
        weights *= (counts[inverse] / len(column)) ** -power
    return weights / weights.sum()


def to_model_range(image: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the range the models work in."""
    return image.float().div(127.5).sub(1.0)


def _cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
