"""Centre-crop, resize and cache a dataset as uint8 arrays, with class statistics.

A prepared cache is a folder::

    meta.json                 provenance, sizes, names and per-class statistics per split
    {split}_images.npy        (N, S, S, 3) uint8 RGB
    {split}_masks.npy         (N, S, S) uint8 train ids, 255 = ignore

Training reads it through memory maps: no JPEG decoding, no colour conversion per item.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF
from tqdm.auto import tqdm

from .. import __version__
from ..files import atomic_dir, write_text
from ..labels import CLASS_NAMES
from .formats import DataError, open_dataset
from .stats import class_stats

FORMAT_VERSION = 1


def center_crop_resize(image: np.ndarray | None, mask: np.ndarray, size: int) -> tuple[np.ndarray | None, np.ndarray]:
    """Centre-crop a pair to a square (as the reference does) and resize it to ``size``.

    The image is resized with antialiasing, the mask with nearest neighbour (ids stay ids).
    ``image`` may be ``None`` to crop and resize a mask alone.
    """
    h, w = mask.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    msk = torch.from_numpy(np.ascontiguousarray(mask[top:top + side, left:left + side]))[None]
    img = None if image is None else \
        torch.from_numpy(np.ascontiguousarray(image[top:top + side, left:left + side])).permute(2, 0, 1)
    if side != size:
        msk = TF.resize(msk, [size, size], interpolation=InterpolationMode.NEAREST_EXACT)
        if img is not None:
            img = TF.resize(img, [size, size], interpolation=InterpolationMode.BILINEAR, antialias=True)
    return (None if img is None else img.permute(1, 2, 0).numpy()), msk[0].numpy()


def split_indices(n: int, val_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Deterministic train/val split of ``n`` items for layouts that have no splits."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, round(n * val_fraction))) if val_fraction > 0 and n > 1 else 0
    return {"train": np.sort(order[n_val:]), "val": np.sort(order[:n_val])}


def prepare(src: str | Path, out: str | Path, *, size: int = 128, val_fraction: float = 0.125,
            seed: int = 0, overwrite: bool = False, workers: int = 4, progress: bool = True) -> Path:
    """Read any supported layout in ``src`` and write a prepared cache to ``out``.

    Layouts with their own splits keep them; a single-split layout (the reference one) is
    split into train/val with ``val_fraction`` and ``seed``. Nothing is left in ``out`` if
    any pair is bad: the error names the file.
    """
    dataset = open_dataset(src)
    splits = dict(dataset.splits)
    if list(splits) == ["all"]:
        items = splits.pop("all")
        splits = {k: [items[i] for i in idx] for k, idx in split_indices(len(items), val_fraction, seed).items()}
    meta = {
        "format_version": FORMAT_VERSION,
        "semsegdiff_version": __version__,
        "source": str(Path(src).resolve()),
        "source_format": dataset.format,
        "size": size,
        "seed": seed,
        "val_fraction": val_fraction if "all" in dataset.splits else None,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "classes": list(CLASS_NAMES),
        "splits": {},
    }
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for split, samples in splits.items():
            if not samples:
                continue
            images = np.empty((len(samples), size, size, 3), np.uint8)
            masks = np.empty((len(samples), size, size), np.uint8)

            def load(i: int) -> None:
                images[i], masks[i] = center_crop_resize(*dataset.read(samples[i]), size)

            with ThreadPoolExecutor(max(1, workers)) as pool:
                list(tqdm(pool.map(load, range(len(samples))), total=len(samples),
                          desc=f"prepare {split}", disable=not progress, mininterval=1.0))
            np.save(tmp / f"{split}_images.npy", images)
            np.save(tmp / f"{split}_masks.npy", masks)
            meta["splits"][split] = {"names": [s.name for s in samples], **class_stats(masks)}
        if not meta["splits"]:
            raise DataError(f"{src}: no image/mask pairs to prepare")
        write_text(tmp / "meta.json", json.dumps(meta, indent=1))
    return Path(out)


@dataclass
class Prepared:
    """A prepared cache opened read-only: arrays are memory-mapped on first use."""

    root: Path
    meta: dict

    @property
    def splits(self) -> list[str]:
        return list(self.meta["splits"])

    @property
    def size(self) -> int:
        return int(self.meta["size"])

    def images(self, split: str) -> np.ndarray:
        """(N, S, S, 3) uint8 memory map."""
        return np.load(self.root / f"{self._check(split)}_images.npy", mmap_mode="r")

    def masks(self, split: str) -> np.ndarray:
        """(N, S, S) uint8 memory map of train ids."""
        return np.load(self.root / f"{self._check(split)}_masks.npy", mmap_mode="r")

    def _check(self, split: str) -> str:
        if split not in self.meta["splits"]:
            raise KeyError(f"{self.root}: no split {split!r} (has {', '.join(self.splits)})")
        return split


def is_prepared(path: str | Path) -> bool:
    """True when ``path`` is a prepared cache folder."""
    return (Path(path) / "meta.json").is_file() and any(Path(path).glob("*_masks.npy"))


def open_prepared(path: str | Path) -> Prepared:
    """Open a prepared cache, checking that its files are present and consistent."""
    path = Path(path)
    if not is_prepared(path):
        raise DataError(f"{path}: not a prepared cache (no meta.json with *_masks.npy); run `semsegdiff prepare`")
    try:
        meta = json.loads((path / "meta.json").read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path / 'meta.json'}: malformed JSON ({e.msg} at line {e.lineno})") from e
    prepared = Prepared(path, meta)
    for split, info in meta.get("splits", {}).items():
        for kind in ("images", "masks"):
            f = path / f"{split}_{kind}.npy"
            if not f.is_file():
                raise DataError(f"{f}: missing from the prepared cache")
        shape = prepared.masks(split).shape
        if shape != (info["images"], prepared.size, prepared.size):
            raise DataError(f"{path / f'{split}_masks.npy'}: shape {shape} does not match meta.json")
    return prepared


def ensure_dataset(data: str | Path = "synthetic", *, size: int = 64, cache: str | Path = "data",
                   n_synthetic: int = 2000, seed: int = 0, root: str | Path = ".", progress: bool = True) -> Prepared:
    """Resolve a notebook's ``data`` parameter to an opened prepared cache, building it if needed.

    ``data`` is ``"synthetic"`` (the embedded procedural dataset: generated once under
    ``cache``), a prepared cache folder, or a raw dataset in any supported layout (prepared
    once to ``cache/prepared/<name>-<size>``). Relative paths are taken under ``root``.
    """
    cache = Path(root) / cache
    if str(data) == "synthetic":
        from .synthetic import write_dataset

        raw = cache / f"synthetic-n{n_synthetic}-seed{seed}-{size}px"
        if not (raw / "images").is_dir():
            write_dataset(raw, n=n_synthetic, size=size, seed=seed, progress=progress)
        data = raw  # already under root
    else:
        data = Path(root) / data
    if is_prepared(data):
        return open_prepared(data)
    out = cache / "prepared" / f"{data.resolve().name}-{size}px"
    if is_prepared(out):
        prepared = open_prepared(out)
        if prepared.meta["source"] == str(data.resolve()) and prepared.size == size:
            return prepared
    prepare(data, out, size=size, seed=seed, overwrite=True, progress=progress)
    return open_prepared(out)
