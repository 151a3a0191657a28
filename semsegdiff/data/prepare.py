"""Crop (to the frame's aspect), resize and cache a dataset as uint8 arrays, with class statistics.

A prepared cache is a folder::

    meta.json                 provenance, sizes, names, per-class statistics and attribute counts per split
    {split}_images.npy        (N, H, W, 3) uint8 RGB (H = W = size for a square frame)
    {split}_masks.npy         (N, H, W) uint8 train ids, 255 = ignore
    {split}_attributes.npy    (N, 3) uint8 time, weather, scene codes (semsegdiff.attributes; 0 = unknown)
    {split}_instances.npy     (N, H, W) uint16 instance ids (0 = none; semsegdiff.data.instances), for layouts with
                              instance maps (meta.json's "instances" names their encoding)

Training reads it through memory maps: no JPEG decoding, no colour conversion per item.
"""
from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .. import __version__
from ..attributes import NAMES, counts
from ..config import check_setting
from ..errors import DataError, SettingError
from ..files import atomic_dir, write_text
from ..frame import Size, frame, label, parse_size
from ..labels import CLASS_NAMES
from .attribute_files import read_attributes
from .crop import center_crop_resize, kept_share
from .formats import Dataset, open_dataset
from .stats import class_stats

FORMAT_VERSION = 3  # 3: attribute arrays and counts


def split_indices(n: int, val_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Deterministic train/val split of ``n`` items for layouts that have no splits."""
    if not 0 <= val_fraction < 1:
        raise SettingError(f"val_fraction (--val-fraction): must be in [0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, round(n * val_fraction))) if val_fraction > 0 and n > 1 else 0
    return {"train": np.sort(order[n_val:]), "val": np.sort(order[:n_val])}


def prepare(src: str | Path, out: str | Path, *, size: Size = 128, val_fraction: float = 0.125,
            seed: int = 0, overwrite: bool = False, workers: int = 4, progress: bool = True, crop: float = 0.5) -> Path:
    """Read any supported layout in ``src`` and write a prepared cache to ``out``.

    Each pair is cropped to the aspect of ``size`` (a side: a square; ``[h, w]``: a whole frame)
    at ``crop`` (0.5: centred) and resized; meta.json records the share of each frame kept.

    Layouts with their own splits keep them; a single-split layout (the reference one) is
    split into train/val with ``val_fraction`` and ``seed``. The attribute files of the dataset
    give each image its codes (unknown where none names it). Nothing is left in ``out`` if any
    pair or attribute file is bad: the error names the file.
    """
    size, crop = check_setting("size", size), check_setting("crop", crop)
    dataset = open_dataset(src)
    attributes = read_attributes(dataset)  # before any decoding: a bad file fails fast
    splits = dict(dataset.splits)
    if list(splits) == ["all"]:
        items = splits.pop("all")
        splits = {k: [items[i] for i in idx] for k, idx in split_indices(len(items), val_fraction, seed).items()}
    if "train" not in splits or not splits["train"]:
        raise DataError(f"{src}: the {dataset.format} layout has no train split (found: {', '.join(splits) or 'none'})"
                        "; models are trained on train and validated on val")
    missing = dataset.missing_instances()  # optional data: reported, refused only by a run that needs them
    meta = {
        "format_version": FORMAT_VERSION,
        "semsegdiff_version": __version__,
        "source": str(Path(src).resolve()),
        "source_format": dataset.format,
        "fingerprint": fingerprint(dataset, size=size, val_fraction=val_fraction, seed=seed, crop=crop),
        "size": size,
        **({"crop": crop} if crop != 0.5 else {}),
        "seed": seed if "all" in dataset.splits else None,
        "val_fraction": val_fraction if "all" in dataset.splits else None,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "classes": list(CLASS_NAMES),
        "attributes": list(NAMES),
        "attribute_sources": attributes.sources,
        "instances": None if missing else dataset.instances,  # cached only when every mask has its map
        **({"instances_partial": partial(dataset, missing)} if missing else {}),
        "splits": {},
    }
    with atomic_dir(out, overwrite=overwrite, inputs=[src]) as tmp:
        for split, samples in splits.items():
            if not samples:
                continue
            images = np.empty((len(samples), *frame(size), 3), np.uint8)
            masks = np.empty((len(samples), *frame(size)), np.uint8)
            kept = np.empty(len(samples))
            instances = np.empty((len(samples), *frame(size)), np.uint16) if meta["instances"] else None

            def load(i: int) -> None:
                image, mask = dataset.read(samples[i])
                kept[i] = kept_share(*mask.shape, size)
                if instances is not None:  # the same crop and nearest resize as the mask
                    ids = dataset.read_instances(samples[i], mask).astype(np.int32)
                    instances[i] = center_crop_resize(None, ids, size, crop)[1]
                images[i], masks[i] = center_crop_resize(image, mask, size, crop)

            with ThreadPoolExecutor(max(1, workers)) as pool:
                list(tqdm(pool.map(load, range(len(samples))), total=len(samples),
                          desc=f"prepare {split}", disable=not progress, mininterval=1.0))
            np.save(tmp / f"{split}_images.npy", images)
            np.save(tmp / f"{split}_masks.npy", masks)
            codes = attributes.codes(samples)
            np.save(tmp / f"{split}_attributes.npy", codes)
            if instances is not None:
                np.save(tmp / f"{split}_instances.npy", instances)
            meta["splits"][split] = {"names": [s.name for s in samples], "kept": round(float(kept.mean()), 4),
                                     **({} if instances is None else {"instances_per_image": round(float(np.mean(
                                         [len(np.unique(ids)) - 1 for ids in instances])), 3)}),
                                     **class_stats(masks),
                                     "attributes": counts(codes), "attributes_missing": attributes.missing(samples)}
        if not meta["splits"]:
            raise DataError(f"{src}: no image/mask pairs to prepare")
        write_text(tmp / "meta.json", json.dumps(meta, indent=1))
    return Path(out)


def partial(dataset: Dataset, missing: list) -> dict:
    """What meta.json records of instance maps that cover only some masks: their encoding, how many masks have one,
    and the masks without (the first 50), so that a run needing them names the files."""
    total = len(dataset)
    return {"encoding": dataset.instances, "covered": total - len(missing), "total": total,
            "missing": [str(s.mask) for s in missing[:50]], "n_missing": len(missing)}


def fingerprint(dataset: Dataset, *, size: Size, val_fraction: float, seed: int, crop: float = 0.5) -> str:
    """A hash of what a prepared cache is made from: every file's path, size and mtime, and the settings.

    The files are the pairs, their instance maps, colormaps and attribute files; the split settings count only for
    layouts without their own splits.
    """
    h = hashlib.sha256(json.dumps({"format_version": FORMAT_VERSION, "size": size, **(
        {"crop": crop} if crop != 0.5 else {}), **(
        {"val_fraction": val_fraction, "seed": seed} if "all" in dataset.splits else {})}).encode())
    files = sorted({p for samples in dataset.splits.values() for s in samples for p in (s.image, s.mask, s.instances)
                    if p is not None}
                   | set(dataset.colormaps.values()) | set(dataset.attribute_files))
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(dataset.root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


@dataclass
class Prepared:
    """A prepared cache opened read-only: arrays are memory-mapped on first use."""

    root: Path
    meta: dict

    @property
    def splits(self) -> list[str]:
        return list(self.meta["splits"])

    @property
    def size(self) -> Size:
        """The frame in the setting's form: a side, or [height, width]."""
        return parse_size(self.meta["size"])

    @property
    def frame(self) -> tuple[int, int]:
        """(height, width) of every image."""
        return frame(self.meta["size"])

    def kept(self, split: str) -> float | None:
        """Mean share of each source frame the crop kept (None: prepared before it was recorded)."""
        return self.meta["splits"][self._check(split)].get("kept")

    def images(self, split: str) -> np.ndarray:
        """(N, H, W, 3) uint8 memory map."""
        return np.load(self.root / f"{self._check(split)}_images.npy", mmap_mode="r")

    def masks(self, split: str) -> np.ndarray:
        """(N, H, W) uint8 memory map of train ids."""
        return np.load(self.root / f"{self._check(split)}_masks.npy", mmap_mode="r")

    def attributes(self, split: str) -> np.ndarray:
        """(N, 3) uint8 codes of time, weather and scene (columns :data:`semsegdiff.attributes.NAMES`, 0 = unknown).

        All zeros for a cache prepared before attributes existed.
        """
        f = self.root / f"{self._check(split)}_attributes.npy"
        if not f.is_file():
            return np.zeros((self.meta["splits"][split]["images"], len(NAMES)), np.uint8)
        return np.load(f)

    @property
    def has_instances(self) -> bool:
        """Whether it holds instance ids (prepared from a layout with instance maps)."""
        return bool(self.meta.get("instances"))

    def check_instances(self, what: str) -> None:
        """A :class:`DataError` naming the masks without an instance map when the source has maps for only some of
        them (``what`` needs one for every mask, e.g. ``instance_edges``)."""
        part = self.meta.get("instances_partial")
        if part:
            shown = ", ".join(Path(m).name for m in part["missing"][:5])
            more = f" and {part['n_missing'] - 5} more" if part["n_missing"] > 5 else ""
            raise DataError(f"{self.meta['source']}: {what} needs an instance map for every mask, but "
                            f"{part['n_missing']} of its {part['total']} masks have none ({shown}{more}, e.g. "
                            f"{part['missing'][0]}); add their maps, or run without {what}")

    def instances(self, split: str) -> np.ndarray | None:
        """(N, H, W) uint16 memory map of instance ids (0 = none), or None for a cache without them."""
        if not self.has_instances:
            return None
        return np.load(self.root / f"{self._check(split)}_instances.npy", mmap_mode="r")

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
    if not (isinstance(meta, dict) and _is_size(meta.get("size")) and isinstance(meta.get("splits"), dict)
            and all(isinstance(v, dict) and isinstance(v.get("images"), int) for v in meta["splits"].values())):
        raise DataError(f"{path / 'meta.json'}: not the meta.json of a prepared cache (size, splits with image "
                        "counts); prepare the dataset again")
    prepared = Prepared(path, meta)
    for split, info in meta["splits"].items():
        shape = (info["images"], *frame(meta["size"]))
        arrays = [("images", (*shape, 3)), ("masks", shape)]
        if "attributes" in info:  # caches of format 3 on
            arrays.append(("attributes", (info["images"], len(NAMES))))
        if meta.get("instances"):
            arrays.append(("instances", shape))
        for kind, shape in arrays:
            f = path / f"{split}_{kind}.npy"
            if not f.is_file():
                raise DataError(f"{f}: missing from the prepared cache")
            try:
                array = np.load(f, mmap_mode="r")
            except (ValueError, OSError, EOFError) as e:
                raise DataError(f"{f}: not a readable .npy array ({e})") from None
            dtype = np.uint16 if kind == "instances" else np.uint8
            if array.shape != shape or array.dtype != dtype:
                raise DataError(f"{f}: {array.dtype} array of shape {array.shape} does not match meta.json "
                                f"({dtype.__name__} {shape})")
    return prepared


def ensure_dataset(data: str | Path = "synthetic", *, size: Size = 64, cache: str | Path = "data",
                   n_synthetic: int = 2000, seed: int = 0, val_fraction: float = 0.125, root: str | Path = ".",
                   progress: bool = True, crop: float = 0.5) -> Prepared:
    """Resolve a notebook's ``data`` parameter to an opened prepared cache, building it if needed.

    ``data`` is ``"synthetic"`` (the embedded procedural dataset: generated once under
    ``cache``), a prepared cache folder, or a raw dataset in any supported layout (prepared
    once to ``cache/prepared/<name>-<size>px-<fingerprint>``, cropped at ``crop``). A cache is reused only
    while its fingerprint (file list, sizes, mtimes, size, crop and split settings) matches the raw
    dataset. Relative paths are taken under ``root``.
    """
    cache, size = Path(root) / cache, check_setting("size", size)
    if str(data) == "synthetic":
        from .synthetic import write_dataset

        raw = synthetic_folder(cache, n_synthetic, seed, val_fraction, size)
        if not (raw / "attributes.csv").is_file() or not (raw / "labels/ins_seg").is_dir():  # none yet, or written
            # before scenes had attributes and instances
            write_dataset(raw, n=n_synthetic, size=size, seed=seed, val_fraction=val_fraction, overwrite=True,
                          progress=progress)
        data = raw  # already under root
    else:
        data = Path(root) / data
    if is_prepared(data):
        prepared = open_prepared(data)
        if prepared.frame != frame(size):
            raise DataError(f"{data}: prepared cache is {label(prepared.size)}px but size {label(size)} was asked for; "
                            "point data at the raw dataset to prepare it at that size")
        return prepared
    dataset = open_dataset(data)
    fp = fingerprint(dataset, size=size, val_fraction=val_fraction, seed=seed, crop=crop)
    out = cache / "prepared" / f"{data.resolve().name}-{label(size)}px-{fp[:10]}"
    if is_prepared(out) and open_prepared(out).meta.get("fingerprint") == fp:
        return open_prepared(out)
    prepare(data, out, size=size, seed=seed, val_fraction=val_fraction, overwrite=True, progress=progress, crop=crop)
    return open_prepared(out)


def train_count(cfg: dict[str, Any], *, root: str | Path = ".") -> int:
    """The train images of a run configuration's data, counted without rendering or preparing anything (what a run's
    cost is estimated from before it starts)."""
    data = str(cfg["data"])
    if data == "synthetic":
        n = cfg["n_synthetic"]
        return len(split_indices(n, cfg["val_fraction"], cfg["seed"])["train"]) if n > 1 else n
    path = Path(root) / data
    if is_prepared(path):
        return int(open_prepared(path).meta["splits"].get("train", {}).get("images", 0))
    splits = open_dataset(path).splits
    if list(splits) == ["all"]:
        return len(split_indices(len(splits["all"]), cfg["val_fraction"], cfg["seed"])["train"])
    return len(splits.get("train", []))


def synthetic_folder(cache: Path, n: int, seed: int, val_fraction: float, size: Size) -> Path:
    """Where the synthetic dataset of these settings is rendered (BDD100K layout, at its frame)."""
    return Path(cache) / f"synthetic-n{n}-seed{seed}-val{val_fraction:g}-{label(check_setting('size', size))}px"


def source_folder(cfg: dict[str, Any], *, root: str | Path = ".", progress: bool = True) -> Path:
    """The dataset folder (in its layout) of a run configuration: its ``data``, or the synthetic scenes rendered for
    it (rendered now when missing): what ``semsegdiff enrich`` takes as its source."""
    prepared = dataset_for(cfg, root=root, progress=progress)
    if str(cfg["data"]) != "synthetic":
        return Path(prepared.meta["source"])
    return Path(root) / synthetic_folder(Path(cfg["cache"]), cfg["n_synthetic"], cfg["seed"], cfg["val_fraction"],
                                         cfg["size"])


def dataset_for(cfg: dict[str, Any], *, root: str | Path = ".", progress: bool = True) -> Prepared:
    """The prepared dataset of a run configuration (its data, size, crop, cache, synthetic count, split and seed)."""
    return ensure_dataset(cfg["data"], size=cfg["size"], cache=cfg["cache"], n_synthetic=cfg["n_synthetic"],
                          seed=cfg["seed"], val_fraction=cfg["val_fraction"], root=root, progress=progress,
                          crop=cfg.get("crop", 0.5))


def _is_size(value: Any) -> bool:
    try:
        parse_size(value)
    except SettingError:
        return False
    return True
