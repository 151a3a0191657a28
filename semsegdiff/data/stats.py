"""Class statistics of mask stacks: frequencies, object sizes, co-occurrence, and by scene attribute (pandas tables)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from ..attributes import ATTRIBUTES, NAMES, UNKNOWN, counts
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


def _values(attribute: str) -> list[tuple[int, str]]:
    """(code, name) of an attribute's values, unknown (code 0) last."""
    return [(c, ATTRIBUTES[attribute][c - 1]) for c in range(1, len(ATTRIBUTES[attribute]) + 1)] + [(0, UNKNOWN)]


def attribute_table(stats_by_split: dict[str, dict]) -> pd.DataFrame:
    """Long table (split, attribute, value, known, images, share, split_images) of attribute counts.

    From a prepared cache's ``meta["splits"]`` (their ``attributes`` counts); values in vocabulary
    order, unknown last; shares over the split's images. A split without counts (a cache
    prepared before attributes) is all unknown.
    """
    rows = []
    for split, s in stats_by_split.items():
        n = s["images"]
        by_value = s.get("attributes") or counts(np.zeros((n, len(NAMES)), np.uint8))
        for a in NAMES:
            for _, v in _values(a):
                k = int(by_value[a].get(v, 0))
                rows.append({"split": split, "attribute": a, "value": v, "known": v != UNKNOWN, "images": k,
                             "share": k / max(1, n), "split_images": n})
    return pd.DataFrame(rows)


def attribute_class_table(masks: np.ndarray, codes: np.ndarray) -> pd.DataFrame:
    """Per value of each attribute, every class's pixel and image share among the images of that value.

    Long table (attribute, value, class, kind, value_images, pixels, pixel_share, images,
    image_share): e.g. the share of night images that contain a person. Pixel shares are over
    the labelled pixels of those images; shares are NaN for a value without images.
    """
    px = pixel_counts(masks)[:, :NUM_CLASSES]
    present = (px > 0).astype(np.int64)
    codes = np.asarray(codes).reshape(len(px), len(NAMES))
    kinds = ["thing" if label.thing else "stuff" for label in LABELS]
    frames = []
    for j, a in enumerate(NAMES):
        for c, v in _values(a):
            chosen = codes[:, j] == c
            pixels, images, n = px[chosen].sum(0), present[chosen].sum(0), int(chosen.sum())
            with np.errstate(invalid="ignore", divide="ignore"):
                frames.append(pd.DataFrame({
                    "attribute": a, "value": v, "class": list(CLASS_NAMES), "kind": kinds, "value_images": n,
                    "pixels": pixels, "pixel_share": pixels / pixels.sum() if pixels.sum() else np.nan,
                    "images": images, "image_share": images / n if n else np.nan}))
    return pd.concat(frames, ignore_index=True)


def attribute_joint(codes: np.ndarray, rows: str = "time", columns: str = "weather") -> pd.DataFrame:
    """Images per pair of values of two attributes (a crosstab, unknown last): how rare night x rain is."""
    codes = np.asarray(codes).reshape(-1, len(NAMES))
    r, c = _values(rows), _values(columns)
    table = np.zeros((len(ATTRIBUTES[rows]) + 1, len(ATTRIBUTES[columns]) + 1), np.int64)
    np.add.at(table, (codes[:, NAMES.index(rows)], codes[:, NAMES.index(columns)]), 1)
    order_r, order_c = [k for k, _ in r], [k for k, _ in c]
    return pd.DataFrame(table[np.ix_(order_r, order_c)], index=pd.Index([v for _, v in r], name=rows),
                        columns=pd.Index([v for _, v in c], name=columns))


def rarest_cells(joint: pd.DataFrame, n: int | None = 5) -> pd.DataFrame:
    """The ``n`` (None: all) rarest pairs of known values in an :func:`attribute_joint` table, with their image share.

    Ties keep the table's order; pairs without images come first.
    """
    total = max(1, int(joint.to_numpy().sum()))
    known = joint.drop(index=UNKNOWN, columns=UNKNOWN, errors="ignore")
    cells = known.stack().rename("images").reset_index()
    cells["share"] = cells["images"] / total
    cells = cells.sort_values("images", kind="stable").reset_index(drop=True)
    return cells if n is None else cells.head(n)
