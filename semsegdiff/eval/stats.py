"""Statistics of the enrichment ablation: means, seed-paired deltas against ``real``, bootstrap intervals, verdicts.

Runs of different arms with the same segmenter seed start from the same initialisation and
see their data in the same random order, so deltas are taken per seed (paired) and their
mean gets a 95% bootstrap interval (scipy, percentile method, over seeds). With few seeds an
interval is optimistic; the verdict never claims more than the interval carries. Two generated sets
of the same masks (two samplers, say) are compared the same way, paired by mask (:func:`paired_gap`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import stats

from ..labels import CLASS_NAMES
from .metrics import miou_of

ARM_KEYS = ["regime", "arm", "n_mult", "threshold"]


def bootstrap_ci(values, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of the mean of ``values`` (NaN with fewer than 3 values; a point if they are all equal)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 3:
        return float("nan"), float("nan")
    if np.ptp(values) == 0:
        return float(values[0]), float(values[0])
    res = stats.bootstrap((values,), np.mean, confidence_level=confidence, n_resamples=resamples, method="percentile",
                          random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def paired_gap(a: torch.Tensor, b: torch.Tensor, confidence: float = 0.95, resamples: int = 2000,
               seed: int = 0) -> tuple[float, float, float]:
    """mIoU of the images ``a`` minus that of ``b``, in points, with a bootstrap interval over masks.

    ``a`` and ``b`` are per-mask confusion matrices (N, C, C + 1) of two generated sets of the same masks
    (:func:`semsegdiff.eval.metrics.image_confusions`, summed over seeds). Each resample draws N masks with
    replacement and scores both sets on the same draw (paired), so what the masks have in common cancels.
    """
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"paired_gap needs per-mask confusions of the same masks, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    gap = 100 * float(miou_of(a.sum(0)) - miou_of(b.sum(0)))
    if len(a) < 3:
        return gap, float("nan"), float("nan")
    draws = torch.from_numpy(np.random.default_rng(seed).integers(0, len(a), (resamples, len(a))))
    gaps = []
    for rows in draws.split(250):  # (250, N, C, C + 1) at a time: bounded memory
        gaps.append(100 * (miou_of(a[rows].sum(1)) - miou_of(b[rows].sum(1))))
    gaps = torch.cat(gaps).cpu().numpy()
    alpha = (1 - confidence) / 2
    return gap, float(np.nanquantile(gaps, alpha)), float(np.nanquantile(gaps, 1 - alpha))


def summarize(results: pd.DataFrame, metric: str = "miou") -> pd.DataFrame:
    """Per arm configuration: runs, mean and standard deviation (over seeds) of ``metric``."""
    g = results.groupby(ARM_KEYS, sort=False)[metric]
    return pd.DataFrame({"runs": g.size(), "mean": g.mean(), "std": g.std(ddof=1)}).reset_index()


def paired_deltas(results: pd.DataFrame, metric: str = "miou", baseline: str = "real") -> pd.DataFrame:
    """Per run: ``metric`` minus the baseline arm's with the same regime and segmenter seed."""
    base = results[results["arm"] == baseline].set_index(["regime", "seed"])[metric]
    out = results[results["arm"] != baseline].copy()
    out["delta"] = out[metric].to_numpy() - base.reindex(pd.MultiIndex.from_frame(out[["regime", "seed"]])).to_numpy()
    return out


def verdict(delta: float, low: float, high: float, unit: float = 100.0, what: str = "mIoU points") -> str:
    """Words for a paired delta and its interval: a gain or loss only when the interval excludes zero."""
    d, lo, hi = delta * unit, low * unit, high * unit
    if not np.isfinite(lo):
        return f"{d:+.2f} {what} (too few seeds for an interval)"
    ci = f"95% CI [{lo:+.2f}, {hi:+.2f}]"
    if lo > 0:
        return f"gain of {d:+.2f} {what}, {ci}"
    if hi < 0:
        return f"loss of {d:+.2f} {what}, {ci}"
    return f"no gain the spread can support ({d:+.2f} {what}, {ci})"


def arm_table(results: pd.DataFrame, metric: str = "miou", baseline: str = "real") -> pd.DataFrame:
    """The comparison table: per arm configuration mean ± std, paired delta against ``baseline`` with its interval and
    verdict, and what it trained on (mean counts)."""
    summary = summarize(results, metric)
    deltas = paired_deltas(results, metric, baseline)
    rows = []
    for key, t in deltas.groupby(ARM_KEYS, sort=False):
        lo, hi = bootstrap_ci(t["delta"])
        rows.append({**dict(zip(ARM_KEYS, key)), "delta": t["delta"].mean(), "ci_low": lo, "ci_high": hi,
                     "verdict": verdict(t["delta"].mean(), lo, hi)})
    table = summary.merge(pd.DataFrame(rows, columns=[*ARM_KEYS, "delta", "ci_low", "ci_high", "verdict"]),
                          on=ARM_KEYS, how="left")
    counts = [c for c in ("real", "added", "generated", "filtered_pixels", "rare_objects", "pasted_objects")
              if c in results]
    table = table.merge(results.groupby(ARM_KEYS, sort=False)[counts].mean().reset_index(), on=ARM_KEYS)
    table.loc[table["arm"] == baseline, "verdict"] = "baseline"
    return table


def class_deltas(results: pd.DataFrame, baseline: str = "real") -> pd.DataFrame:
    """Per arm configuration and class: paired IoU delta against ``baseline`` with a bootstrap interval (long table)."""
    rows = []
    for name in CLASS_NAMES:
        col = f"iou_{name}"
        if col not in results:
            continue
        d = paired_deltas(results, col, baseline)
        for key, t in d.groupby(ARM_KEYS, sort=False):
            lo, hi = bootstrap_ci(t["delta"])
            rows.append({**dict(zip(ARM_KEYS, key)), "class": name, "delta": t["delta"].mean(), "ci_low": lo,
                         "ci_high": hi})
    return pd.DataFrame(rows)


def rare_class_gain(results: pd.DataFrame, classes: tuple[str, ...], baseline: str = "real") -> pd.DataFrame:
    """Per arm configuration: the paired IoU change averaged over ``classes`` (per seed), with its interval."""
    cols = [f"iou_{c}" for c in classes if f"iou_{c}" in results]
    r = results.assign(rare_iou=results[cols].mean(axis=1, skipna=True))
    d = paired_deltas(r, "rare_iou", baseline)
    rows = []
    for key, t in d.groupby(ARM_KEYS, sort=False):
        lo, hi = bootstrap_ci(t["delta"])
        rows.append({**dict(zip(ARM_KEYS, key)), "rare_iou_delta": t["delta"].mean(), "ci_low": lo, "ci_high": hi,
                     "verdict": verdict(t["delta"].mean(), lo, hi, what="IoU points (rare classes)")})
    return pd.DataFrame(rows)


def subset_gaps(results: pd.DataFrame, subsets: dict[str, str], baseline: str = "real") -> pd.DataFrame:
    """Per val subset (``{label: results column}``, e.g. ``{"all val": "miou", "night": "miou_night"}``) and arm:
    the baseline's mean, the paired change against it with its interval and verdict (long table)."""
    rows = []
    for label, column in subsets.items():
        if column not in results or results[column].isna().all():
            continue
        table = arm_table(results, metric=column, baseline=baseline)
        base = float(table.loc[table["arm"] == baseline, "mean"].iloc[0]) if (table["arm"] == baseline).any() \
            else float("nan")
        for r in table[table["arm"] != baseline].itertuples(index=False):
            rows.append({"subset": label, "arm": r.arm, "n_mult": r.n_mult, "baseline_mean": base, "mean": r.mean,
                         "delta": r.delta, "ci_low": r.ci_low, "ci_high": r.ci_high, "verdict": r.verdict})
    return pd.DataFrame(rows)
