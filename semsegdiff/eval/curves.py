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

from .evaluate import Evaluation
from .stats import paired_gap
from .sweeps import sweep


def student_curve(series: list[tuple[int, Path, float]], masks: np.ndarray, real: np.ndarray, judge, *,
                  reference: Evaluation, teacher_fid: float, steps: list[int], guidance: float, n_masks: int,
                  seed: int, subset: int, precision: str = "auto", device: str = "cpu",
                  attrs: np.ndarray | None = None) -> pd.DataFrame:
    """Each student of ``series`` (:func:`semsegdiff.models.distill.student_series`) sampled in ``steps`` steps
    on the sweep's masks (with ``attrs``, the real images' conditions): its mIoU gap to the ``reference``
    procedure's evaluation on the first ``subset`` masks (in points, with its interval paired by mask) and its
    FID over the teacher's, against the minutes of distillation behind it."""
    from ..models import load_checkpoint

    ref = reference.confusions[:subset]
    rows = []
    for iters, path, minutes in series:
        student = load_checkpoint(path, device=device, precision=precision)
        df, evaluations = sweep(student, path, masks, real, judge, per_mask=1, seed=seed,
                                settings=[dict(sampler="lcm", steps=n, guidance=guidance, n_masks=n_masks)
                                          for n in steps], cache=path.parent / "generated", attrs=attrs)
        for r, ev in zip(df.itertuples(), evaluations):
            gap, low, high = paired_gap(ev.confusions[:subset], ref)
            rows.append({"distill_steps": iters, "minutes": minutes, "steps": r.steps, "gap_points": gap,
                         "gap_low": low, "gap_high": high, "fid_vs_teacher": r.FID / teacher_fid})
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


def training_points(checkpoint: str | Path) -> list[tuple[int, Path, float]]:
    """(epoch, checkpoint, minutes of training) of the numbered checkpoints its run kept on the way (``ckpt_every``)
    and of ``checkpoint`` itself, the run's end; a checkpoint outside a run folder is its one point."""
    from ..models import read_checkpoint, run_paths

    checkpoint = Path(checkpoint)
    paths = run_paths(checkpoint.parent)
    try:
        metrics = pd.read_csv(paths["metrics"]).dropna(subset=["train_minutes"])
        minutes = metrics.groupby("epoch")["train_minutes"].max()
    except (OSError, ValueError, KeyError):
        minutes = pd.Series(dtype=float)
    # a kept checkpoint records the (0-based) epoch it was saved in, the final one the epochs it completed
    final = int(read_checkpoint(checkpoint)["epoch"])
    numbered = sorted(paths["checkpoints"].glob("step*.ckpt")) if paths["checkpoint"] == checkpoint else []
    points = [(e + 1, path) for path in numbered if (e := int(read_checkpoint(path)["epoch"])) + 1 < final]
    return [(e, path, float(minutes.get(e - 1, float("nan")))) for e, path in [*points, (final, checkpoint)]]


def condition_curve(checkpoint: str | Path, classifier, judge, masks: np.ndarray, real: np.ndarray,
                    codes: np.ndarray, *, n_check: int, seed: int, final: pd.DataFrame | None = None,
                    precision: str = "auto", device: str = "cpu") -> pd.DataFrame:
    """The targets of :func:`semsegdiff.eval.conditions.condition_targets` at each point of :func:`training_points`
    against the minutes of training: the attribute check on the first ``n_check`` val masks of each condition (the
    same masks, seeds and judges at every point; ``final``: ``checkpoint``'s own check when it was made already).
    One row per checkpoint: per attribute its worst value's recovered / real recall, and ``consistency`` the worst
    value's consistency / the judge's on its real images."""
    from ..models import load_checkpoint
    from .conditions import worst_values, check_conditions

    rows = []
    for epoch, path, minutes in training_points(checkpoint):
        if final is not None and path == Path(checkpoint):
            table = final
        else:
            model = load_checkpoint(path, device=device, precision=precision)
            table = check_conditions(model, classifier, judge, masks[:n_check], real, codes, seed=seed,
                                     real_masks=masks, common=False)[0]
        worst = worst_values(table).set_index("attribute")
        rows.append({"series": "this run", "epoch": epoch, "minutes": minutes,
                     **worst["recovered_vs_ceiling"].to_dict(), "consistency": float(worst["consistency_vs_real"].min())})
    return pd.DataFrame(rows)
