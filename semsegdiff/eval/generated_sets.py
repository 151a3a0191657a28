"""Generated sets of the enrichment study: one image per mask (its own seed), made once and cached.

:func:`make_set` is a Lightning ``predict`` loop that runs under DDP: every rank generates its
share and writes each batch as a shard (atomically), rank zero merges them; a killed run continues
with the items that have no shard yet. An image depends only on its mask and seed, so a set made
on 2 processes equals the set made on 1. A set is keyed by its masks, seeds (photos, kept pixels,
attribute codes) and sampling settings (:func:`set_key`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter

from ..errors import DataError
from ..files import atomic_dir, atomic_path, write_text
from .evaluate import sampling_precision
from .judge import key_hash


class _Items(torch.utils.data.Dataset):
    """The items of a set still to generate: index, mask, seed (and photo + keep for local regeneration)."""

    def __init__(self, todo: np.ndarray, masks: np.ndarray, seeds: np.ndarray, init, keep, attrs=None, instances=None):
        self.todo, self.masks, self.seeds, self.init, self.keep, self.attrs = todo, masks, seeds, init, keep, attrs
        self.instances = instances

    def __len__(self) -> int:
        return len(self.todo)

    def __getitem__(self, i: int) -> dict[str, Any]:
        j = int(self.todo[i])
        item = {"index": j, "mask": torch.from_numpy(np.asarray(self.masks[j])), "seed": int(self.seeds[j])}
        if self.init is not None:
            item["init"] = torch.from_numpy(np.asarray(self.init[j]))
            item["keep"] = torch.from_numpy(np.asarray(self.keep[j]))
        if self.attrs is not None:
            item["attrs"] = torch.from_numpy(np.asarray(self.attrs[j], dtype=np.int64))
        if self.instances is not None:
            item["instances"] = torch.from_numpy(np.asarray(self.instances[j], dtype=np.int32))
        return item


class _Generate(pl.LightningModule):
    """Wraps a diffusion model for ``Trainer.predict``: one batch of masks -> images (their own seeds)."""

    def __init__(self, model, sampling: dict[str, Any]):
        super().__init__()
        self.model, self.sampling = model, sampling

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        local = {"init": batch["init"], "keep": batch["keep"]} if "init" in batch else {}
        for k in ("attrs", "instances"):
            if k in batch:
                local[k] = batch[k]
        images = self.model.generate(batch["mask"], seed=batch["seed"].tolist(), **self.sampling, **local)
        return {"index": batch["index"].cpu(), "images": images.cpu()}


class _ShardWriter(BasePredictionWriter):
    """Each rank writes every batch it generates as a shard (atomically): nothing is lost when a run is killed."""

    def __init__(self, folder: Path):
        super().__init__(write_interval="batch")
        self.folder = folder

    def write_on_batch_end(self, trainer, module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0):
        index = prediction["index"].cpu().numpy()
        name = f"shard-{int(index.min()):07d}-{int(index.max()):07d}-rank{trainer.global_rank}.npz"
        with atomic_path(self.folder / name) as tmp, open(tmp, "wb") as f:
            np.savez(f, index=index, images=prediction["images"].cpu().numpy())


def _done(shards: Path) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for f in sorted(shards.glob("shard-*.npz")):
        with np.load(f) as z:
            out.update({int(i): img for i, img in zip(z["index"], z["images"])})
    return out


def set_key(masks: np.ndarray, seeds: np.ndarray, sampling: dict[str, Any], *, init: np.ndarray | None = None,
            keep: np.ndarray | None = None, info: dict[str, Any] | None = None,
            attrs: np.ndarray | None = None, instances: np.ndarray | None = None) -> dict[str, Any]:
    """What a generated set depends on: the masks, seeds (photos, kept pixels, attribute codes, instance ids),
    sampling settings and ``info``."""
    content = hashlib.sha256(np.ascontiguousarray(masks).tobytes() + np.asarray(seeds, dtype=np.int64).tobytes())
    if init is not None:
        content.update(np.ascontiguousarray(init).tobytes() + np.ascontiguousarray(keep).tobytes())
    if attrs is not None:
        content.update(np.ascontiguousarray(attrs, dtype=np.uint8).tobytes())
    if instances is not None:
        content.update(b"instances" + np.ascontiguousarray(instances, dtype=np.uint16).tobytes())
    return {"content": content.hexdigest(), "n": len(masks), **sampling, **(info or {})}


def shard_folder(out: Path, key: dict[str, Any]) -> Path:
    """Where the shards of a set in progress go: named by its key, so shards of another set are never mixed in."""
    return out.with_name(f"{out.name}.{key_hash(key)}.shards")


def make_set(model, masks: np.ndarray, seeds: np.ndarray, out: str | Path, *, sampling: dict[str, Any],
             init: np.ndarray | None = None, keep: np.ndarray | None = None, info: dict[str, Any] | None = None,
             attrs: np.ndarray | None = None, devices: int | str = 1, strategy: str = "auto", accelerator: str | None = None,
             batch_size: int = 64, progress: bool = False, instances: np.ndarray | None = None,
             num_nodes: int = 1) -> np.ndarray:
    """Generate one image per mask (its own seed) into ``out`` (images.npy, masks.npy, manifest.json); reuse it if done.

    Runs as a Lightning ``predict`` loop: on several devices or nodes under DDP every rank
    generates its share and writes shards, rank zero merges them; a killed run continues with
    the items that have no shard yet. An image depends only on its mask and seed, so a set made
    on 2 processes equals the set made on 1. ``instances`` (N, H, W): the masks' instance ids, for a
    model with ``instance_edges``. Returns the images (N, H, W, 3) uint8.
    """
    out = Path(out)
    masks, seeds = np.ascontiguousarray(masks), np.asarray(seeds, dtype=np.int64)
    precision = sampling_precision(model)
    key = set_key(masks, seeds, sampling, init=init, keep=keep, attrs=attrs, instances=instances,
                  info={**(info or {}), **({} if precision == "32-true" else {"precision": precision})})
    if (out / "manifest.json").is_file() and json.loads((out / "manifest.json").read_text()).get("key") == key:
        return np.load(out / "images.npy")
    shards = shard_folder(out, key)
    done = _done(shards) if shards.is_dir() else {}
    todo = np.array([i for i in range(len(masks)) if i not in done], dtype=np.int64)
    start = time.perf_counter()
    if len(todo):
        from ..trainer import resolve_accelerator

        accelerator, _ = resolve_accelerator({"devices": devices}, accelerator)  # generate() sets its own autocast
        banner = logging.getLogger("pytorch_lightning.utilities.rank_zero")
        level = banner.level
        banner.setLevel(logging.WARNING)  # no "GPU available: ..." banner for every set
        trainer = pl.Trainer(accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy,
                             precision="32-true",
                             logger=False, enable_checkpointing=False, enable_progress_bar=progress,
                             enable_model_summary=False, callbacks=[_ShardWriter(shards)])
        banner.setLevel(level)
        loader = torch.utils.data.DataLoader(_Items(todo, masks, seeds, init, keep, attrs, instances),
                                             batch_size=batch_size)
        trainer.predict(_Generate(model, sampling), loader, return_predictions=False)
        trainer.strategy.barrier()
        if not trainer.is_global_zero:
            return np.empty(0)
    done = _done(shards)
    if len(done) != len(masks):
        raise DataError(f"{shards}: {len(masks) - len(done)} of {len(masks)} images are missing after generation")
    images = np.stack([done[i] for i in range(len(masks))]).transpose(0, 2, 3, 1)  # (N, H, W, 3)
    manifest = {"key": key, "n": len(masks), "seed_first": int(seeds[0]), "seconds": time.perf_counter() - start,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **sampling, **(info or {})}
    with atomic_dir(out, overwrite=True) as tmp:
        np.save(tmp / "images.npy", images)
        np.save(tmp / "masks.npy", masks)
        write_text(tmp / "manifest.json", json.dumps(manifest, indent=1, default=str))
    for stale in out.parent.glob(f"{out.name}.*.shards"):  # this set's shards and those of killed other keys
        shutil.rmtree(stale, ignore_errors=True)
    return images
