"""Dataset layouts on disk -> pairs of (image uint8 HxWx3, mask uint8 HxW of train ids).

Three layouts are recognised from the folder structure (:func:`open_dataset`):

- ``reference``: ``images/*.jpg|png``, ``masks/*.png`` as RGB colours, ``colormap.json``
  (class name -> RGB), as in the WINS 2024 reference code; optionally one such folder per
  split (``train/images``, ``val/images``, ...) with the colormap at the top or per split.
- ``bdd100k``: ``images/10k/{split}/*.jpg`` with ``labels/sem_seg/masks/{split}/*.png``
  holding train ids (255 = ignore).
- ``cityscapes``: ``leftImg8bit/{split}/{city}/*_leftImg8bit.png`` with
  ``gtFine/{split}/{city}/*_gtFine_labelTrainIds.png`` or, failing that,
  ``*_gtFine_labelIds.png`` mapped with the official table.

BDD100K and Cityscapes layouts may carry instance maps (``labels/ins_seg/bitmasks/{split}`` or
``labels/pan_seg/bitmasks/{split}``; ``*_gtFine_instanceIds.png``), read by :mod:`.instances`.
Any layout may carry attribute files (time of day, weather, scene per image: an
``attributes.csv`` at its root, BDD100K's label JSON under ``labels/``), read by
:mod:`.attribute_files`.

Every problem raises :class:`DataError` naming the file and what is wrong with it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torchvision.io import ImageReadMode, decode_image

from ..errors import DataError
from ..files import atomic_dir
from ..frame import Size
from .attribute_files import CSV_NAME, find_attribute_files, write_attribute_csv
from .crop import center_crop_resize
from .instances import encode_instances, read_instances
from .mask_files import check_ids, read_colormap, read_mask, with_black_ignore  # noqa: F401 - check_ids: old home

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Sample:
    """One image/mask pair on disk."""

    name: str
    image: Path
    mask: Path
    instances: Path | None = None  # its instance map (BDD100K bitmask or Cityscapes instanceIds), if the layout has one


@dataclass
class Dataset:
    """A dataset on disk: its layout name, root and the pairs of each split."""

    format: str
    root: Path
    splits: dict[str, list[Sample]]
    colors: dict[int, tuple[int, int, int]] | None = None  # reference layout: {train id: RGB}
    colormaps: dict[str, Path] = field(default_factory=dict)  # split -> colormap.json used
    attribute_files: list[Path] = field(default_factory=list)  # attributes.csv, label JSON: in precedence order
    instances: str | None = None  # encoding of its instance maps (semsegdiff.data.instances), None: it has none

    def read(self, sample: Sample) -> tuple[np.ndarray, np.ndarray]:
        """Read one pair as (image uint8 HxWx3, mask uint8 HxW train ids), checking both."""
        image = read_image(sample.image)
        if self.format == "reference":
            mask = read_mask(sample.mask, self.colors or {})
        else:
            mask = read_mask(sample.mask, label_ids=self.format == "cityscapes" and sample.mask.name.endswith("_labelIds.png"))
        if image.shape[:2] != mask.shape:
            raise DataError(
                f"{sample.image}: image is {image.shape[0]}x{image.shape[1]} (height x width) but its mask "
                f"{sample.mask} is {mask.shape[0]}x{mask.shape[1]}{_orientation_hint(sample.image, sample.mask)}"
            )
        return image, mask

    def missing_instances(self) -> list[Sample]:
        """The pairs without an instance map in a layout that has some ([] when it has none at all, or all)."""
        if not self.instances:
            return []
        return [s for samples in self.splits.values() for s in samples if s.instances is None]

    def read_instances(self, sample: Sample, mask: np.ndarray) -> np.ndarray | None:
        """The instance map (uint16 (H, W), 0 = none) of a pair whose mask was read, or None without one."""
        if sample.instances is None:
            return None
        return read_instances(sample.instances, mask, self.instances or "")

    def __len__(self) -> int:
        return sum(len(s) for s in self.splits.values())


def _decode(path: Path, mode: ImageReadMode) -> torch.Tensor:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e.strerror or e})") from e
    if not data:
        raise DataError(f"{path}: file is empty")
    try:
        return decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=mode)
    except RuntimeError as e:
        reason = re.sub(r"^.*?\.cpp:\d+,\s*", "", str(e)).strip()  # drop torchvision's source location
        if reason.startswith("Unsupported image file"):
            reason = "not a JPEG, PNG, WebP or GIF file"
        raise DataError(f"{path}: cannot decode image, unreadable or truncated ({reason})") from e


def read_image(path: Path) -> np.ndarray:
    """Decode a JPEG/PNG file to an RGB uint8 array (H, W, 3)."""
    return _decode(Path(path), ImageReadMode.RGB).permute(1, 2, 0).cpu().numpy()


def _orientation(path: Path) -> int:
    """EXIF orientation tag of an image file (1 = as stored, 6/8 = rotated 90 degrees when displayed)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - only a hint for an error message
        return 1


def _orientation_hint(image: Path, mask: Path) -> str:
    a, b = _orientation(image), _orientation(mask)
    if a == b:
        return ""
    return (f"; the image has EXIF orientation {a} and the mask {b} (5-8 mean rotated 90 degrees when displayed): "
            "pixels are paired as stored, so rotate one file's pixels to match the other and drop the tag")


def read_mask_folder(folder: str | Path, *, size: Size | None = None,
                     flag: str = "--resize") -> tuple[list[Path], np.ndarray]:
    """Read every PNG mask in ``folder``: ids, or colours (``colormap.json`` in it or its parent, else the palette).

    With ``size`` (a side or a frame), masks are centre-cropped to its aspect and resized (nearest) to it;
    without it they must all have the same shape (``flag`` names the option that resizes them).
    Returns the files and a (N, H, W) uint8 array.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: mask folder not found")
    files = _files(folder, (".png",))
    if not files:
        raise DataError(f"{folder}: no .png masks in this folder (its subfolders are not read); point --masks at the "
                        "folder that holds them")
    _unique(files, lambda p: p.stem, folder)  # outputs are named after the stems
    cmap = next((d / "colormap.json" for d in (folder, folder.parent) if (d / "colormap.json").is_file()), None)
    colors = with_black_ignore(read_colormap(cmap)) if cmap else None
    masks = []
    for f in files:
        m = read_mask(f, colors)
        if size is not None:
            m = center_crop_resize(None, m, size)[1]
        elif masks and m.shape != masks[0].shape:
            raise DataError(f"{f}: mask is {m.shape[0]}x{m.shape[1]} but {files[0].name} is "
                            f"{masks[0].shape[0]}x{masks[0].shape[1]} (height x width); pass {flag} to crop and "
                            "resize them all to the model's frame")
        masks.append(m)
    return files, np.stack(masks)


def _pair(images: list[Path], masks: list[Path], image_dir: Path, mask_dir: Path,
          image_key=lambda p: p.stem, mask_key=lambda p: p.stem) -> list[Sample]:
    """Pair images with masks by key; list every unpaired file in the error."""
    by_image = _unique(images, image_key, image_dir)
    by_mask = _unique(masks, mask_key, mask_dir)
    lonely_images = sorted(set(by_image) - set(by_mask))
    lonely_masks = sorted(set(by_mask) - set(by_image))
    if lonely_images or lonely_masks:
        def show(names: list[str], where: Path) -> str:
            head = ", ".join(names[:10]) + (f" (+{len(names) - 10} more)" if len(names) > 10 else "")
            return f"{len(names)} in {where}: {head}"
        parts = []
        if lonely_images:
            parts.append(f"images without a mask, {show([by_image[k].name for k in lonely_images], image_dir)}")
        if lonely_masks:
            parts.append(f"masks without an image, {show([by_mask[k].name for k in lonely_masks], mask_dir)}")
        raise DataError("; ".join(parts))
    return [Sample(k, by_image[k], by_mask[k]) for k in sorted(by_image)]


def _unique(files: list[Path], key, folder: Path) -> dict[str, Path]:
    """{key: file}; two files whose keys differ only in case (or extension) are an error, not one pair."""
    seen: dict[str, Path] = {}
    for p in files:
        k = key(p).lower()
        if k in seen:
            raise DataError(f"{folder}: {seen[k].name} and {p.name} map to the same name {key(p)!r} "
                            "(same stem, different extension or case); rename or remove one")
        seen[k] = p
    return {key(p): p for p in files}


def _files(folder: Path, suffixes=IMAGE_SUFFIXES, pattern: str = "*") -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in suffixes)


def _reference(root: Path) -> Dataset:
    split_dirs = {"all": root} if (root / "images").is_dir() else {
        s: root / s for s in SPLITS if (root / s / "images").is_dir()}
    splits, colormaps, colors = {}, {}, None
    for split, folder in split_dirs.items():
        cmap = folder / "colormap.json" if (folder / "colormap.json").is_file() else root / "colormap.json"
        split_colors = read_colormap(cmap)
        if colors is not None and split_colors != colors:
            raise DataError(f"{cmap}: differs from the colormap of the other splits")
        colors, colormaps[split] = split_colors, cmap
        if not (folder / "masks").is_dir():
            raise DataError(f"{folder}: has images/ but no masks/ folder")
        splits[split] = _pair(_files(folder / "images"), _files(folder / "masks", (".png",)),
                              folder / "images", folder / "masks")
    return Dataset("reference", root, splits, colors, colormaps)


BDD_INSTANCE_DIRS = ("labels/ins_seg/bitmasks", "labels/pan_seg/bitmasks")  # the first found is read


def _bdd100k(root: Path) -> Dataset:
    splits, instances = {}, None
    for split in SPLITS:
        image_dir, mask_dir = root / "images/10k" / split, root / "labels/sem_seg/masks" / split
        if image_dir.is_dir() and mask_dir.is_dir():  # BDD100K's test split has no labels
            splits[split] = _pair(_files(image_dir), _files(mask_dir, (".png",)), image_dir, mask_dir)
            found = next((root / d / split for d in BDD_INSTANCE_DIRS if (root / d / split).is_dir()), None)
            if found is not None:
                splits[split] = _attach(splits[split], _files(found, (".png",)), lambda p: p.stem)
                instances = "bdd100k"
    return Dataset("bdd100k", root, splits, instances=instances)


def _attach(samples: list[Sample], files: list[Path], key) -> list[Sample]:
    """The samples with their instance files (by key); a sample without one keeps none (instance maps are optional
    data: only a run that needs them refuses a dataset that lacks some, naming them)."""
    by_key = {key(f): f for f in files}
    return [Sample(s.name, s.image, s.mask, by_key.get(s.name)) for s in samples]


def _cityscapes(root: Path) -> Dataset:
    splits, instances = {}, None
    for split in SPLITS:
        image_dir, mask_dir = root / "leftImg8bit" / split, root / "gtFine" / split
        if not (image_dir.is_dir() and mask_dir.is_dir()):
            continue
        images = _files(image_dir, (".png",), "*/*_leftImg8bit.png")
        masks = _files(mask_dir, (".png",), "*/*_gtFine_labelTrainIds.png") or \
            _files(mask_dir, (".png",), "*/*_gtFine_labelIds.png")
        splits[split] = _pair(images, masks, image_dir, mask_dir,
                              image_key=lambda p: p.name.removesuffix("_leftImg8bit.png"),
                              mask_key=lambda p: p.name.split("_gtFine_")[0])
        found = _files(mask_dir, (".png",), "*/*_gtFine_instanceIds.png")
        if found:
            splits[split] = _attach(splits[split], found, lambda p: p.name.split("_gtFine_")[0])
            instances = "cityscapes"
    return Dataset("cityscapes", root, splits, instances=instances)


def _is_reference(root: Path) -> bool:
    def one(d: Path) -> bool:
        return (d / "images").is_dir() and ((d / "masks").is_dir() or (root / "colormap.json").is_file())
    return one(root) or any(one(root / s) for s in SPLITS)


LAYOUTS = {  # checked in this order: the BDD100K layout also has an images/ folder
    "bdd100k": (lambda r: (r / "images/10k").is_dir() and (r / "labels/sem_seg/masks").is_dir(), _bdd100k),
    "cityscapes": (lambda r: (r / "leftImg8bit").is_dir() and (r / "gtFine").is_dir(), _cityscapes),
    "reference": (_is_reference, _reference),
}
LAYOUT_HELP = (
    "reference (images/, masks/ as RGB, colormap.json), "
    "bdd100k (images/10k/<split>/, labels/sem_seg/masks/<split>/), "
    "cityscapes (leftImg8bit/<split>/<city>/, gtFine/<split>/<city>/)"
)


def detect_format(root: str | Path) -> str:
    """Name of the layout found in ``root``; DataError when there is none."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder does not exist" if not root.exists() else f"{root}: not a folder")
    for name, (matches, _) in LAYOUTS.items():
        if matches(root):
            return name
    raise DataError(f"{root}: not a recognised dataset layout; expected one of: {LAYOUT_HELP}")


def open_dataset(root: str | Path) -> Dataset:
    """Detect the layout of ``root`` and list its image/mask pairs per split (nothing decoded yet)."""
    root = Path(root)
    dataset = LAYOUTS[detect_format(root)][1](root)
    if not dataset.splits or not len(dataset):
        where = next(part for part in LAYOUT_HELP.split("), ") if part.startswith(dataset.format))
        raise DataError(f"{root}: no image/mask pairs found in this {dataset.format} layout (looked for {where}"
                        f"{')' if not where.endswith(')') else ''}, pairs named alike)")
    dataset.attribute_files = find_attribute_files(root, dataset.format)
    return dataset


def write_bdd100k(out: str | Path, splits: dict[str, tuple[np.ndarray, np.ndarray, list[str]]], *,
                  attributes: dict[str, np.ndarray] | None = None, instances: dict[str, np.ndarray] | None = None,
                  overwrite: bool = False, quality: int = 95) -> Path:
    """Write ``{split: (images (N,H,W,3), masks (N,H,W), names)}`` in the official BDD100K layout.

    Images become JPEGs under ``images/10k/{split}``, masks id PNGs under
    ``labels/sem_seg/masks/{split}``; ``attributes`` (``{split: (N, 3) codes}`` of
    :mod:`semsegdiff.attributes`, a split left out: unknown) become ``attributes.csv``;
    ``instances`` (``{split: (N, H, W) uint16 ids}``) BDD100K bitmasks under
    ``labels/ins_seg/bitmasks/{split}``. The folder appears only once everything is written.
    """
    from torchvision.io import encode_jpeg, encode_png

    with atomic_dir(out, overwrite=overwrite) as tmp:
        for split, (images, masks, names) in splits.items():
            image_dir, mask_dir = tmp / "images/10k" / split, tmp / "labels/sem_seg/masks" / split
            image_dir.mkdir(parents=True)
            mask_dir.mkdir(parents=True)
            for image, mask, name in zip(images, masks, names):
                check_ids(mask, mask_dir / f"{name}.png")
                jpg = encode_jpeg(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1), quality=quality)
                (image_dir / f"{name}.jpg").write_bytes(jpg.cpu().numpy().tobytes())
                png = encode_png(torch.from_numpy(np.ascontiguousarray(mask))[None])
                (mask_dir / f"{name}.png").write_bytes(png.cpu().numpy().tobytes())
            if instances is not None and split in instances:
                instance_dir = tmp / BDD_INSTANCE_DIRS[0] / split
                instance_dir.mkdir(parents=True)
                for ids, mask, name in zip(instances[split], masks, names):
                    (instance_dir / f"{name}.png").write_bytes(encode_instances(ids, mask, "bdd100k"))
        if attributes is not None:  # a split without codes: unknown
            names = [n for _, _, split_names in splits.values() for n in split_names]
            codes = [attributes.get(s, np.zeros((len(split[2]), 3), np.uint8)) for s, split in splits.items()]
            write_attribute_csv(tmp / CSV_NAME, names, np.concatenate(codes))
    return Path(out)
