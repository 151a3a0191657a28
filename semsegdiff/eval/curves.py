"""Targets against minutes: where a target that a short run misses would be met, measured and extrapolated.

A curve is a table of points (minutes of compute, the measured value) per series; :func:`crossing`
fits the value against log(minutes) over the last points and says after how many minutes it would
reach the target, marked as extrapolated beyond the last measured point (never a promise: a fit of
a few points).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .evaluate import sweep


def student_curve(series: list[tuple[int, Path, float]], masks: np.ndarray, real: np.ndarray, judge, *,
                  reference_miou: float, teacher_fid: float, steps: list[int], guidance: float, n_masks: int,
                  seed: int, subset: int, precision: str = "auto", device: str = "cpu",
                  attrs: np.ndarray | None = None) -> pd.DataFrame:
    """Each student of ``series`` (:func:`semsegdiff.models.distill.student_series`) sampled in ``steps`` steps
    on the sweep's masks (with ``attrs``, the real images' conditions): its mIoU gap to the reference procedure (on the first ``subset`` masks, in points) and
    its FID over the teacher's, against the minutes of distillation behind it."""
    from ..models import load_checkpoint

    rows = []
    for iters, path, minutes in series:
        student = load_checkpoint(path, device=device, precision=precision)
        df, _ = sweep(student, path, masks, real, judge, per_mask=1, seed=seed, subset=subset,
                      settings=[dict(sampler="lcm", steps=n, guidance=guidance, n_masks=n_masks) for n in steps],
                      cache=path.parent / "generated", attrs=attrs)
        for r in df.itertuples():
            rows.append({"distill_steps": iters, "minutes": minutes, "steps": r.steps,
                         "gap_points": 100 * (r.mIoU_on_subset - reference_miou), "fid_vs_teacher": r.FID / teacher_fid})
    return pd.DataFrame(rows)


def crossing(minutes: np.ndarray, values: np.ndarray, target: float, higher_is_better: bool = True,
             last: int = 3, reach: float = 30.0) -> tuple[float, str]:
    """(minutes where ``values`` reach ``target``, how it was found): the first measured point that meets it, else
    a least-squares line of value against log(minutes) through the ``last`` points, extrapolated up to ``reach``
    times the last measured minutes (NaN, with the fit's number said, beyond that or when the line does not head
    towards the target: a fit of a few points says nothing so far out)."""
    minutes, values = np.asarray(minutes, float), np.asarray(values, float)
    ok = (values >= target) if higher_is_better else (values <= target)
    if ok.any():
        return float(minutes[np.argmax(ok)]), "measured"
    x, y = np.log(minutes[-last:]), values[-last:]
    if len(x) < 2 or np.ptp(x) == 0:
        return float("nan"), "too few points"
    slope, intercept = np.polyfit(x, y, 1)
    if slope == 0 or (slope > 0) != higher_is_better:
        return float("nan"), "not heading for the target"
    at = float(np.exp((target - intercept) / slope))
    if at > reach * minutes[-1]:
        return float("nan"), f"beyond {reach:g}x the measured minutes (the fit says ~{at:.3g})"
    return at, f"extrapolated from {len(x)} points"


def crossings(curve: pd.DataFrame, column: str, target: float, by: str, higher_is_better: bool = True) -> pd.DataFrame:
    """:func:`crossing` for each ``by`` group of ``curve`` (ordered by minutes)."""
    rows = []
    for key, group in curve.sort_values("minutes").groupby(by):
        at, how = crossing(group["minutes"].to_numpy(), group[column].to_numpy(), target, higher_is_better)
        rows.append({by: key, "target": target, "last_minutes": float(group["minutes"].max()),
                     "last_value": float(group[column].iloc[-1]), "crosses_at_minutes": at, "how": how})
    return pd.DataFrame(rows)
