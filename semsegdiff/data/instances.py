"""Instance ids beside the train-id mask: the two official file encodings, and the checks every map passes.

An instance map in memory is a ``uint16`` array (H, W) the size of its mask: 0 where there is
no object instance (stuff classes, crowds without ids, unlabelled), 1..K for the image's K
objects. Each id covers pixels of one class and none of the ignore id. Two encodings on disk:

- ``bdd100k`` (BDD100K's instance / panoptic bitmasks, ``labels/ins_seg/bitmasks/<split>/`` or
  ``labels/pan_seg/bitmasks/<split>/``): an RGBA PNG whose R channel is the category, G the
  attributes (truncated 8, occluded 4, crowd 2, ignore 1) and B, A the instance id's high and low
  bytes: ``id = (B << 8) + A``, 0 = background (bdd100k ``common/bitmask.py``).
- ``cityscapes`` (``*_gtFine_instanceIds.png``): a 16-bit grey PNG holding ``labelId * 1000 + index``
  on instance pixels and the plain ``labelId`` (< 1000) elsewhere, crowds included.

Every problem raises :class:`DataError` naming the file and a pixel.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from ..labels import CITYSCAPES_ID_TO_TRAIN_ID, IGNORE, LABELS
from .png import check_png

ENCODINGS = ("bdd100k", "cityscapes")
# BDD100K's instance-segmentation categories (ins_seg: 1 pedestrian .. 8 bicycle) by train id
BDD_CATEGORY = {11: 1, 12: 2, 13: 3, 14: 4, 15: 5, 16: 6, 17: 7, 18: 8}
CATEGORY_OF_TRAIN_ID = np.zeros(256, np.uint8)
for _train_id, _category in BDD_CATEGORY.items():
    CATEGORY_OF_TRAIN_ID[_train_id] = _category
TRAIN_TO_LABEL_ID = np.zeros(256, np.uint16)  # train id -> Cityscapes labelId (ignore -> 0, "unlabeled")
for _label_id, _train_id in CITYSCAPES_ID_TO_TRAIN_ID.items():
    TRAIN_TO_LABEL_ID[_train_id] = _label_id


def describe(encoding: str | None, layout: str, per_image: dict[str, float] | None = None,
             partial: dict | None = None) -> str:
    """One line on a dataset's instance maps: their encoding and objects per image per split, that it has none, or
    (``partial``: encoding, covered, total, missing) for how many masks it has them and which lack one."""
    if partial:
        name = {"bdd100k": "BDD100K bitmasks", "cityscapes": "Cityscapes instanceIds"}[partial["encoding"]]
        shown = ", ".join(Path(m).name for m in partial["missing"][:3])
        more = f" and {partial['n_missing'] - 3} more" if partial["n_missing"] > 3 else ""
        return (f"instances: {name} for {partial['covered']} of {partial['total']} masks (none for {shown}{more}); "
                "not used: runs without instance_edges do not need them, and a run with it needs one for every mask")
    if not encoding:
        return (f"instances: none (this {layout} layout has no instance maps; a model with instance_edges sees "
                "its class boundaries only)")
    name = {"bdd100k": "BDD100K bitmasks", "cityscapes": "Cityscapes instanceIds"}[encoding]
    return f"instances: {name}" + (", objects per image " + ", ".join(f"{k} {v:.1f}" for k, v in per_image.items())
                                   if per_image else " beside every mask")


def _pixels(path: Path) -> np.ndarray:
    """The decoded pixels of a PNG at their own depth (8 or 16 bits, 1-4 channels)."""
    from PIL import Image

    check_png(path)
    try:
        with Image.open(path) as im:
            mode = im.mode
            array = np.array(im)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot decode instance PNG, unreadable or truncated ({e})") from None
    if mode == "P":
        raise DataError(f"{path}: a palette PNG is not an instance map: expected {_expected(path)}")
    return array


def _expected(path: Path) -> str:
    return ("an RGBA BDD100K bitmask (R category, G attributes, B and A the instance id's high and low bytes)"
            if "bitmask" in str(path) else "a 16-bit grey Cityscapes instanceIds PNG (labelId * 1000 + index)")


def detect_encoding(path: str | Path) -> str:
    """The encoding of an instance PNG by its pixels: 8-bit RGBA is a BDD100K bitmask, 16-bit grey Cityscapes'."""
    return _encoding_of(_pixels(Path(path)), Path(path))


def _encoding_of(raw: np.ndarray, path: Path) -> str:
    if raw.ndim == 3 and raw.shape[-1] == 4 and raw.dtype == np.uint8:
        return "bdd100k"
    if raw.ndim == 2 and raw.dtype in (np.uint16, np.int32, np.uint32):
        return "cityscapes"
    raise DataError(f"{path}: unknown instance encoding ({_describe(raw)}): expected a BDD100K bitmask (8-bit RGBA: "
                    "R category, G attributes, B and A the instance id) or a Cityscapes instanceIds map (16-bit grey: "
                    "labelId * 1000 + index)")


def read_instance_folder(folder: str | Path, mask_files: list[Path], masks_read) -> tuple[list[Path], list[np.ndarray],
                                                                                          str]:
    """The instance file of every mask file (same name, or Cityscapes' ``*_gtFine_instanceIds.png`` for
    ``*_gtFine_*.png``) in ``folder``, each read against its mask (``masks_read(path)``), and their one encoding."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: instance folder not found")
    key = lambda p: p.name.split("_gtFine_")[0] if "_gtFine_" in p.name else p.stem  # noqa: E731
    found = {key(p): p for p in sorted(folder.glob("*.png"))}
    missing = [f.name for f in mask_files if key(f) not in found]
    if missing:
        raise DataError(f"{folder}: no instance map for {len(missing)} of the {len(mask_files)} masks: "
                        f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
    files, maps, encoding = [found[key(f)] for f in mask_files], [], None
    for f, m in zip(files, mask_files):
        raw = _pixels(f)  # decoded once: its encoding and its ids
        kind = _encoding_of(raw, f)
        encoding = encoding or kind
        if kind != encoding:
            raise DataError(f"{f}: is a {kind} instance map but {files[0].name} is {encoding}; use one encoding per "
                            "folder")
        maps.append(_ids(raw, f, masks_read(m), encoding))
    return files, maps, encoding


def read_instances(path: str | Path, mask: np.ndarray, encoding: str) -> np.ndarray:
    """Read the instance map of ``mask`` from ``path`` in ``encoding`` (:data:`ENCODINGS`); ids made 1..K."""
    return _ids(_pixels(Path(path)), Path(path), mask, encoding)


def _ids(raw: np.ndarray, path: Path, mask: np.ndarray, encoding: str) -> np.ndarray:
    """The checked, compacted instance map of ``mask`` from the decoded pixels ``raw`` of ``path``."""
    if encoding == "bdd100k":
        if raw.ndim != 3 or raw.shape[-1] != 4 or raw.dtype != np.uint8:
            raise DataError(f"{path}: not a BDD100K bitmask: expected an 8-bit RGBA PNG (R category, G attributes, "
                            f"B and A the instance id's high and low bytes), got {_describe(raw)}")
        ids = (raw[..., 2].astype(np.int64) << 8) + raw[..., 3]
    elif encoding == "cityscapes":
        if raw.ndim != 2 or raw.dtype not in (np.uint16, np.int32, np.uint32):
            raise DataError(f"{path}: not a Cityscapes instanceIds map: expected a 16-bit grey PNG (labelId * 1000 "
                            f"+ index on instances, labelId elsewhere), got {_describe(raw)}")
        ids = np.where(raw >= 1000, raw.astype(np.int64), 0)
    else:
        raise DataError(f"{path}: unknown instance encoding {encoding!r}; known: {', '.join(ENCODINGS)}")
    if ids.shape != mask.shape:
        raise DataError(f"{path}: instance map is {ids.shape[0]}x{ids.shape[1]} but its mask is "
                        f"{mask.shape[0]}x{mask.shape[1]} (height x width); a map must be the size of its mask")
    return check_instances(compact(ids), mask, path)


def _describe(raw: np.ndarray) -> str:
    channels = 1 if raw.ndim == 2 else raw.shape[-1]
    return f"{channels} channel{'s' if channels > 1 else ''} of {raw.dtype.itemsize * 8} bits"


def compact(ids: np.ndarray) -> np.ndarray:
    """Instance ids renumbered 1..K in order of their values (0 stays 0), as uint16."""
    values, inverse = np.unique(ids, return_inverse=True)
    if values[0] != 0:
        values, inverse = np.concatenate([[0], values]), inverse + 1
    if len(values) > 65536:
        raise DataError(f"{len(values) - 1} instances in one image: at most 65535 are supported")
    return inverse.reshape(ids.shape).astype(np.uint16)


def check_instances(instances: np.ndarray, mask: np.ndarray, path: str | Path) -> np.ndarray:
    """Check that every instance id lies on one class and on no ignore pixel; name the file and a pixel."""
    on = instances > 0
    bad = on & (mask == IGNORE)
    if bad.any():
        y, x = np.argwhere(bad)[0]
        raise DataError(f"{path}: instance id {instances[y, x]} at pixel (x={x}, y={y}) lies on an ignore ({IGNORE}) "
                        f"pixel of its mask; {int(bad.sum())} such pixels")
    ids, cls = instances[on].astype(np.int64), mask[on].astype(np.int64)
    pairs = np.unique(ids * 256 + cls)
    owners, counts = np.unique(pairs >> 8, return_counts=True)
    if (counts > 1).any():
        k = int(owners[counts > 1][0])
        first = np.argwhere(instances == k)[0]
        other = np.argwhere((instances == k) & (mask != mask[tuple(first)]))[0]
        name = lambda p: LABELS[int(mask[tuple(p)])].name  # noqa: E731
        raise DataError(f"{path}: instance {k} spans two classes: {name(first)} at pixel (x={first[1]}, y={first[0]}) "
                        f"and {name(other)} at pixel (x={other[1]}, y={other[0]}); an instance is one object of one "
                        "class")
    return instances


def encode_instances(instances: np.ndarray, mask: np.ndarray, encoding: str) -> bytes:
    """PNG bytes of ``instances`` (with its ``mask``) in ``encoding``: what :func:`read_instances` reads back."""
    import io

    from PIL import Image

    instances = np.asarray(instances).astype(np.int64)
    if encoding == "bdd100k":
        out = np.zeros((*mask.shape, 4), np.uint8)
        on = instances > 0
        out[..., 0] = np.where(on, CATEGORY_OF_TRAIN_ID[mask], 0)
        out[..., 2], out[..., 3] = instances >> 8, instances & 255
        image = Image.fromarray(out, "RGBA")
    elif encoding == "cityscapes":
        label_ids = TRAIN_TO_LABEL_ID[mask].astype(np.int64)
        if instances.max(initial=0) > 999:
            raise DataError(f"{int(instances.max())} instances: Cityscapes' instanceIds hold at most 999 per class")
        image = Image.fromarray(np.where(instances > 0, label_ids * 1000 + instances, label_ids).astype(np.uint16))
    else:
        raise DataError(f"unknown instance encoding {encoding!r}; known: {', '.join(ENCODINGS)}")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
