"""Are the boundaries between objects visible in generated images? A boundary judge and boundary F-measures.

The boundary judge is the judge's network trained on REAL images to predict the edge map of their
masks and instance ids (:func:`semsegdiff.models.condition.instance_edges`: class and instance
boundaries). Run on generated images, its edges are scored against the edges of the masks and
instance ids the images were generated from:

- the boundary F-measure: precision of the predicted edge pixels and recall of the true ones, each
  counted as a hit within ``tolerance`` pixels (a square window) of the other map, as BSDS and
  DAVIS score boundaries;
- the separation recall: the same recall on the pixels where two instances of ONE class meet (two
  adjacent cars, a group of pedestrians) away from any class boundary: what a semantic mask alone
  cannot say.

Its scores on the real val images are the ceiling, as the judge's val mIoU is for consistency.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..models.condition import instance_edges
from ..tensors import as_tensor
from .judge import Segmenter, train_segmenter

COUNTS = ("pred_hits", "pred", "true_hits", "true", "sep_hits", "sep")


def edge_targets(masks: np.ndarray, instances: np.ndarray | None) -> np.ndarray:
    """uint8 (N, H, W): 1 on the class and instance boundaries of each mask (the boundary judge's labels)."""
    ids = None if instances is None else as_tensor(np.asarray(instances, np.int32))
    return instance_edges(as_tensor(np.asarray(masks)), ids)[:, 0].to(torch.uint8).cpu().numpy()


def separations(masks: np.ndarray, instances: np.ndarray) -> np.ndarray:
    """bool (N, H, W): pixels with a 4-neighbour of the same class in another instance (both instances > 0) that
    are on no class boundary: the seams only the instance ids show."""
    m, ids = np.asarray(masks), np.asarray(instances).astype(np.int64)
    out = np.zeros(m.shape, bool)
    for axis in (1, 2):
        n = m.shape[axis]
        a, b = (np.take(ids, range(lo, lo + n - 1), axis=axis) for lo in (0, 1))
        ma, mb = (np.take(m, range(lo, lo + n - 1), axis=axis) for lo in (0, 1))
        meet = (a > 0) & (b > 0) & (a != b) & (ma == mb)
        for lo in (0, 1):
            index = [slice(None)] * 3
            index[axis] = slice(lo, lo + n - 1)
            out[tuple(index)] |= meet
    return out & (edge_targets(m, None) == 0)


def train_boundary_judge(cfg: dict[str, Any], prepared, out: str | Path, *, progress: bool = False) -> Path:
    """Train the boundary judge (``judge_arch``, the judge's settings) on the real train split's edges; val on val."""
    if not prepared.has_instances:
        raise ValueError(f"{prepared.root}: the boundary judge needs instance ids; this cache has none")
    split = lambda s: (np.asarray(prepared.images(s)),  # noqa: E731
                       edge_targets(prepared.masks(s), prepared.instances(s)))
    val = split("val") if "val" in prepared.splits else None
    return train_segmenter(cfg, split("train"), val, out, name="boundary_judge", progress=progress, num_classes=2)


def predict_edges(judge: Segmenter, images: np.ndarray | torch.Tensor) -> np.ndarray:
    """bool (N, H, W) edge maps the boundary judge sees in uint8 images ((N, 3, H, W) or (N, H, W, 3))."""
    return judge.predict_ids(images).cpu().numpy() == 1


def boundary_counts(pred: np.ndarray, true: np.ndarray, sep: np.ndarray, tolerance: int = 1) -> np.ndarray:
    """Per image (N, 6) counts :data:`COUNTS`: predicted edge pixels near a true one and all predicted ones, true
    edge pixels near a predicted one and all true ones, and the same for the separation pixels ``sep``."""
    def near(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.ascontiguousarray(x)).float()[:, None]
        return (F.max_pool2d(t, 2 * tolerance + 1, stride=1, padding=tolerance)[:, 0] > 0).cpu().numpy()

    pred, true, sep = (np.asarray(a, bool) for a in (pred, true, sep))
    near_true, near_pred = near(true), near(pred)
    per = lambda x: x.reshape(len(x), -1).sum(1)  # noqa: E731
    return np.stack([per(pred & near_true), per(pred), per(true & near_pred), per(true), per(sep & near_pred),
                     per(sep)], axis=1)


def summarize(counts: np.ndarray) -> dict[str, float]:
    """Precision, recall, F-measure and separation recall of summed per-image counts (N, 6)."""
    c = np.asarray(counts, np.float64).sum(0)
    precision, recall = c[0] / max(c[1], 1), c[2] / max(c[3], 1)
    f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f": f, "separation_recall": c[4] / max(c[5], 1),
            "separation_pixels": int(c[5])}


def paired_difference(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """``b - a`` of the F-measure and the separation recall with 95% bootstrap intervals over images (the same
    images in both: per-image counts (N, 6) of each, resampled together)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(a), size=(n_boot, len(a)))
    def delta(i) -> list[float]:
        sb, sa = summarize(b[i]), summarize(a[i])
        return [sb[k] - sa[k] for k in ("f", "separation_recall")]

    deltas = np.array([delta(i) for i in draws])
    point = delta(slice(None))
    low, high = np.percentile(deltas, [2.5, 97.5], axis=0)
    return {"f_delta": point[0], "f_low": low[0], "f_high": high[0],
            "separation_delta": point[1], "separation_low": low[1], "separation_high": high[1]}
