"""Class statistics of mask stacks: frequencies, object sizes, co-occurrence (pandas tables)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from ..labels import CLASS_NAMES, IGNORE, LABELS, NUM_CLASSES


def pixel_counts(masks: np.ndarray) -> np.ndarray:
    """Per-image pixel count of every id value: (N, 256) int64, vectorised with one bincount."""
    n = len(masks)
    flat = np.asarray(masks).reshape(n, -1).astype(np.int64) + 256 * np.arange(n)[:, None]
    return np.bincount(flat.ravel(), minlength=256 * n).reshape(n, 256)


def class_stats(masks: np.ndarray) -> dict:
    """Per-class pixel counts and image counts (images containing the class) of a mask stack."""
    counts = pixel_counts(masks)
    return {
        "images": int(len(masks)),
        "pixels": int(np.asarray(masks).size),
        "pixel_counts": counts[:, :NUM_CLASSES].sum(0).tolist(),
        "image_counts": (counts[:, :NUM_CLASSES] > 0).sum(0).tolist(),
        "ignore_pixels": int(counts[:, IGNORE].sum()),
    }


def distribution_table(stats_by_split: dict[str, dict]) -> pd.DataFrame:
    """Long table (split, class, kind, pixels, pixel_share, images, image_share) from :func:`class_stats` dicts.

    Pixel shares are over labelled pixels (ignore excluded), image shares over images.
    """
    rows = []
    for split, s in stats_by_split.items():
        labelled = max(1, sum(s["pixel_counts"]))
        for label, px, im in zip(LABELS, s["pixel_counts"], s["image_counts"]):
            rows.append({
                "split": split, "class": label.name, "kind": "thing" if label.thing else "stuff",
                "pixels": px, "pixel_share": px / labelled, "images": im, "image_share": im / max(1, s["images"]),
                "split_images": s["images"],
            })
    return pd.DataFrame(rows)


def object_areas(masks: np.ndarray) -> pd.DataFrame:
    """One row per connected region (8-connectivity) of each class: (image, class, area_share).

    ``area_share`` is the region's area over the image area, so sizes compare across resolutions.
    """
    masks = np.asarray(masks)
    counts = pixel_counts(masks)[:, :NUM_CLASSES]
    structure = np.ones((3, 3), bool)
    images, classes, areas = [], [], []
    for i, cls in zip(*np.nonzero(counts)):
        labelled, n = ndimage.label(masks[i] == cls, structure=structure)
        sizes = np.bincount(labelled.ravel(), minlength=n + 1)[1:]
        images.append(np.full(n, i))
        classes.append(np.full(n, cls))
        areas.append(sizes / masks[i].size)
    if not areas:
        return pd.DataFrame({"image": [], "class": [], "area_share": []})
    cls = np.concatenate(classes)
    return pd.DataFrame({
        "image": np.concatenate(images),
        "class": pd.Categorical.from_codes(cls, categories=list(CLASS_NAMES)),
        "area_share": np.concatenate(areas),
    })


def cooccurrence(masks: np.ndarray) -> pd.DataFrame:
    """P(column class in image | row class in image), a (C, C) table indexed by class names.

    Rows of classes that never occur are NaN.
    """
    present = (pixel_counts(masks)[:, :NUM_CLASSES] > 0).astype(np.int64)
    joint = present.T @ present  # (C, C) images containing both
    with np.errstate(invalid="ignore", divide="ignore"):
        cond = joint / np.diag(joint)[:, None]
    return pd.DataFrame(cond, index=list(CLASS_NAMES), columns=list(CLASS_NAMES))


def rare_classes(table: pd.DataFrame, split: str = "train", *, pixel_share: float = 1e-3,
                 image_share: float = 0.05) -> pd.DataFrame:
    """Classes of ``split`` under ``pixel_share`` of labelled pixels or in under ``image_share`` of images."""
    t = table[table["split"] == split]
    rare = t[(t["pixel_share"] < pixel_share) | (t["image_share"] < image_share)]
    return rare.sort_values("pixel_share")[["class", "kind", "pixels", "pixel_share", "images", "image_share"]]
