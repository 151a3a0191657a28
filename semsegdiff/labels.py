"""The class table: 19 Cityscapes / BDD100K train classes, palette, ignore id, name lookup.

A mask in memory is a ``uint8`` array of train ids ``0..18`` with ``255`` = ignore.
RGB colour masks exist only at the file boundary (see :func:`colors_to_ids`).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

IGNORE = 255


@dataclass(frozen=True)
class Label:
    """One train class: id, name, official Cityscapes colour and whether it is a countable thing."""

    id: int
    name: str
    color: tuple[int, int, int]
    thing: bool


# Train-id order and colours of the official Cityscapes palette (cityscapesScripts labels.py).
LABELS: tuple[Label, ...] = (
    Label(0, "road", (128, 64, 128), False),
    Label(1, "sidewalk", (244, 35, 232), False),
    Label(2, "building", (70, 70, 70), False),
    Label(3, "wall", (102, 102, 156), False),
    Label(4, "fence", (190, 153, 153), False),
    Label(5, "pole", (153, 153, 153), False),
    Label(6, "traffic light", (250, 170, 30), False),
    Label(7, "traffic sign", (220, 220, 0), False),
    Label(8, "vegetation", (107, 142, 35), False),
    Label(9, "terrain", (152, 251, 152), False),
    Label(10, "sky", (70, 130, 180), False),
    Label(11, "person", (220, 20, 60), True),
    Label(12, "rider", (255, 0, 0), True),
    Label(13, "car", (0, 0, 142), True),
    Label(14, "truck", (0, 0, 70), True),
    Label(15, "bus", (0, 60, 100), True),
    Label(16, "train", (0, 80, 100), True),
    Label(17, "motorcycle", (0, 0, 230), True),
    Label(18, "bicycle", (119, 11, 32), True),
)
NUM_CLASSES = len(LABELS)
CLASS_NAMES: tuple[str, ...] = tuple(label.name for label in LABELS)
PALETTE = np.array([label.color for label in LABELS], dtype=np.uint8)  # (C, 3)
THINGS: tuple[int, ...] = tuple(label.id for label in LABELS if label.thing)

# Names other tools use for the same classes. The reference code calls road "background".
ALIASES = {
    "background": "road",
    "trafficlight": "traffic light",
    "traffic_light": "traffic light",
    "trafficsign": "traffic sign",
    "traffic_sign": "traffic sign",
    "motorbike": "motorcycle",
    "bike": "bicycle",
    "pedestrian": "person",
}

# Cityscapes labelIds (gtFine_labelIds.png) -> train ids; everything else is ignore.
CITYSCAPES_ID_TO_TRAIN_ID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}


def class_id(name: str) -> int:
    """Train id of a class name (case-insensitive, aliases such as "background" accepted).

    Raises KeyError listing the closest valid names when the name is unknown.
    """
    key = " ".join(name.strip().lower().replace("-", " ").split())
    key = ALIASES.get(key, ALIASES.get(key.replace(" ", "_"), key))
    if key in CLASS_NAMES:
        return CLASS_NAMES.index(key)
    valid = list(CLASS_NAMES) + list(ALIASES)
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
    hint = f"; closest: {', '.join(repr(c) for c in close)}" if close else ""
    raise KeyError(f"unknown class name {name!r}{hint} (valid: {', '.join(CLASS_NAMES)})")


def cityscapes_lut() -> np.ndarray:
    """256-entry lookup table from Cityscapes labelIds to train ids (255 elsewhere)."""
    lut = np.full(256, IGNORE, dtype=np.uint8)
    for label_id, train_id in CITYSCAPES_ID_TO_TRAIN_ID.items():
        lut[label_id] = train_id
    return lut


def ids_to_colors(mask: np.ndarray, palette: np.ndarray = PALETTE, ignore_color=(0, 0, 0)) -> np.ndarray:
    """Render a train-id mask (H, W) as an RGB image (H, W, 3) with the given palette."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(palette)] = palette
    lut[IGNORE] = ignore_color
    return lut[np.asarray(mask, dtype=np.uint8)]


def colors_to_ids(rgb: np.ndarray, colors: dict[int, tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Convert an RGB colour mask (H, W, 3) to train ids with a {train_id: colour} table.

    Returns ``(ids, unknown)`` where ``unknown`` is a boolean (H, W) array of pixels whose
    colour is not in the table (their id is set to IGNORE). Vectorised through a packed
    24-bit colour key, no per-pixel Python.
    """
    rgb = np.asarray(rgb, dtype=np.uint32)
    key = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    table_keys = np.array([(r << 16) | (g << 8) | b for r, g, b in colors.values()], dtype=np.uint32)
    table_ids = np.array(list(colors.keys()), dtype=np.uint8)
    order = np.argsort(table_keys)
    table_keys, table_ids = table_keys[order], table_ids[order]
    pos = np.clip(np.searchsorted(table_keys, key), 0, len(table_keys) - 1)
    known = table_keys[pos] == key
    ids = np.where(known, table_ids[pos], IGNORE).astype(np.uint8)
    return ids, ~known
