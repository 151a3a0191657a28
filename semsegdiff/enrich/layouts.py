"""An enriched dataset in its source's own layout, so that a training config for the source reads it unchanged.

- ``bdd100k``: ``images/10k/<split>/<name>.jpg`` (the source's image format), ``labels/sem_seg/masks/<split>`` (train
  ids), ``labels/sem_seg/colormaps/<split>`` and instance bitmasks where the source has them;
- ``cityscapes``: ``leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png``, ``gtFine/<split>/<city>/<stem>_gtFine_``
  ``labelIds.png`` (official label ids), ``_color.png``, ``_instanceIds.png`` where the source has instance maps and
  ``_labelTrainIds.png`` where it has those; generated pairs in the city folder ``semsegdiff``;
- ``reference``: ``images/``, RGB ``masks/`` in the source's ``colormap.json`` (ignore pixels black, the colour
  semsegdiff reads as ignore when no class has it), per split where the source has split folders.

Real files are placed at the same relative path as in the source, hard-linked (or copied); generated pairs are
named so that no real name can match (:meth:`Layout.name`). Every file is written atomically.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.formats import BDD_INSTANCE_DIRS, Dataset, Sample
from ..data.instances import TRAIN_TO_LABEL_ID, encode_instances
from ..errors import DataError
from ..files import write_bytes
from ..labels import IGNORE, ids_to_colors


def _png(array: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg(image: np.ndarray, quality: int = 95) -> bytes:
    import torch
    from torchvision.io import encode_jpeg

    return encode_jpeg(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1), quality=quality).cpu().numpy() \
        .tobytes()


@dataclass
class Layout:
    """Where the files of a dataset in ``source``'s layout go under ``out``."""

    source: Dataset
    out: Path

    def __post_init__(self) -> None:
        train = self.source.splits.get("train") or self.source.splits.get("all") or []
        self.suffix = train[0].image.suffix.lower() if train else ".png"
        self.colormaps = self.source.format == "bdd100k" and (self.source.root / "labels/sem_seg/colormaps").is_dir()
        self.train_ids = self.source.format == "cityscapes" and any(
            s.mask.name.endswith("_labelTrainIds.png") for samples in self.source.splits.values() for s in samples)

    # ------------------------------------------------------------------ real files
    def real_files(self, sample: Sample) -> list[Path]:
        """Every file of a real pair (image, mask, instance map, the layout's sibling renders), under the source."""
        files = [sample.image, sample.mask, *([sample.instances] if sample.instances else [])]
        if self.source.format == "cityscapes":
            stem = sample.mask.name.split("_gtFine_")[0]
            files += [p for p in sorted(sample.mask.parent.glob(f"{stem}_gtFine_*")) if p not in files]
        elif self.colormaps:
            split = sample.mask.parent.name
            render = self.source.root / "labels/sem_seg/colormaps" / split / sample.mask.name
            files += [render] if render.is_file() else []
        return files

    def place(self, files: list[Path], how: str) -> int:
        """Hard-link (``link``; a copy where the filesystem cannot link) or copy ``files`` to the same relative paths
        under ``out``; the bytes placed."""
        total = 0
        for f in files:
            target = self.out / f.relative_to(self.source.root)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                continue  # placed by an earlier, interrupted run
            if how == "link":
                try:
                    os.link(f, target)
                    total += f.stat().st_size
                    continue
                except OSError:  # another filesystem, or links not allowed: a copy
                    pass
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            shutil.copy2(f, tmp)
            os.replace(tmp, target)
            total += f.stat().st_size
        return total

    # ------------------------------------------------------------------ generated pairs
    def name(self, k: int, step: str, source: Sample) -> str:
        """The stem of generated pair ``k``: ``<source>-semsegdiff-<step>-<k>`` (Cityscapes: ``semsegdiff_<k>_<step>``,
        its city_sequence_frame pattern); no real name of any layout holds ``semsegdiff``."""
        tag = step.replace(" ", "")
        if self.source.format == "cityscapes":
            return f"semsegdiff_{k:06d}_{tag}"
        return f"{source.name}-semsegdiff-{tag}-{k:06d}"

    def write(self, split: str, stem: str, image: np.ndarray, mask: np.ndarray, ids: np.ndarray | None) -> list[str]:
        """Write one generated pair (image (H, W, 3), train-id mask, instance ids or None); their relative paths."""
        fmt = self.source.format
        if fmt == "bdd100k":
            files = {f"images/10k/{split}/{stem}{self.suffix}": self._image(image),
                     f"labels/sem_seg/masks/{split}/{stem}.png": _png(mask)}
            if self.colormaps:
                files[f"labels/sem_seg/colormaps/{split}/{stem}.png"] = _png(ids_to_colors(mask))
            if ids is not None:
                folder = next(d for d in BDD_INSTANCE_DIRS if (self.source.root / d).is_dir())
                files[f"{folder}/{split}/{stem}.png"] = encode_instances(ids, mask, "bdd100k")
        elif fmt == "cityscapes":
            gt = f"gtFine/{split}/semsegdiff/{stem}_gtFine_"
            files = {f"leftImg8bit/{split}/semsegdiff/{stem}_leftImg8bit.png": _png(image),
                     f"{gt}labelIds.png": _png(TRAIN_TO_LABEL_ID[mask].astype(np.uint8)),
                     f"{gt}color.png": _png(ids_to_colors(mask))}
            if self.train_ids:
                files[f"{gt}labelTrainIds.png"] = _png(mask)
            if ids is not None:
                files[f"{gt}instanceIds.png"] = encode_instances(ids, mask, "cityscapes")
        elif fmt == "reference":
            prefix = "" if split == "all" else f"{split}/"
            colors = self.source.colors or {}
            if (mask == IGNORE).any() and (0, 0, 0) in colors.values():
                raise DataError(f"{self.source.colormaps.get(split, self.source.root)}: a class has the colour black, "
                                "which the export gives ignore (filtered) pixels; use --filter 0, or another colour")
            lut = np.zeros((256, 3), np.uint8)
            for cid, rgb in colors.items():
                lut[cid] = rgb
            files = {f"{prefix}images/{stem}{self.suffix}": self._image(image), f"{prefix}masks/{stem}.png": _png(lut[mask])}
        else:
            raise DataError(f"{self.source.root}: cannot write the {fmt} layout")
        for rel, data in files.items():
            write_bytes(self.out / rel, data)
        return list(files)

    def _image(self, image: np.ndarray) -> bytes:
        return _jpeg(image) if self.suffix in (".jpg", ".jpeg") else _png(image)

    def finish(self) -> list[Path]:
        """The files beside the pairs that the layout needs (the reference layout's colormaps), placed as real files."""
        if self.source.format != "reference":
            return []
        return sorted({p for p in self.source.colormaps.values() if p.is_file()})

    def attribute_sources(self) -> list[Path]:
        """The source's attribute files (label JSON, attributes.csv), placed unchanged beside the export's own CSV."""
        return [p for p in self.source.attribute_files if p.is_file()]
