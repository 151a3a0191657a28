"""Sweeps over sampling settings on the same masks, and the targets of notebook 04 measured on them.

Every setting of a sweep scores the first ``n_masks`` val masks against the real images of the
masks after them (FID/KID), and all of them also on the first ``subset`` masks, where the costly
reference procedure (DDPM 1000 steps) is run: there each setting's mIoU gap to the reference is
paired by mask, with a bootstrap interval over masks (:func:`semsegdiff.eval.stats.paired_gap`),
so a gap of a point is read beside what the masks alone would move it by.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, SettingError
from .evaluate import Evaluation, generate_set, score
from .judge import Segmenter
from .stats import paired_gap

GAP = 1.0  # mIoU points a faster sampler or a student may lose against the reference procedure


def check_sweep(n_val: int, sweep_masks: int, reference_masks: int) -> None:
    """Before any work: a sweep scores ``sweep_masks`` masks (at least 4: FID/KID) against at least 2 real images of
    other masks, and the reference procedure ``reference_masks`` of them (1 or more: consistency; FID from 2)."""
    most = n_val - 2
    if most < 4:
        raise DataError(f"the val split has {n_val} images; the sampler and guidance sweeps need at least 6 (4 masks to "
                        "score and 2 real images of other masks to compare with): use a dataset with a larger val split")
    if not 4 <= sweep_masks <= most:
        raise SettingError(f"sweep_masks: {sweep_masks} masks; with {n_val} val images choose 4 to {most}")
    if not 1 <= reference_masks <= sweep_masks:
        raise SettingError(f"reference_masks: {reference_masks}; choose 1 to sweep_masks ({sweep_masks})")


def sweep(model, checkpoint: str | Path, masks: np.ndarray, real: np.ndarray, judge: Segmenter,
          settings: list[dict[str, Any]], *, per_mask: int, seed: int, cache: str | Path, features: str = "judge features",
          extractor=None, subset: int | None = None, progress: bool = False,
          attrs: np.ndarray | None = None,
          instances: np.ndarray | None = None) -> tuple[pd.DataFrame, list[Evaluation]]:
    """Generate and score once per entry of ``settings`` (each: sampler, steps, guidance, optionally n_masks).

    Each setting scores the first ``n_masks`` masks (generated with ``attrs``, the real images' attribute codes,
    when the model has attributes: see :func:`semsegdiff.eval.evaluate.conditions_of`; ``instances``, their ids,
    for a model with ``instance_edges``); FID/KID compare them with
    the real images of the masks after them (and the floor their own real images with those). Returns one
    summary row per setting (see :meth:`Evaluation.summary`) and the evaluations. Every set is
    cached, so a second sweep with the same settings only scores. With ``subset``, every
    setting is also scored on the first ``subset`` masks alone (column ``mIoU_on_subset``):
    the same images, so settings run on different numbers of masks compare on equal terms.
    """
    rows, evaluations = [], []
    for s in settings:
        n = int(s.get("n_masks", len(masks)))
        if n >= len(masks) - 1:
            raise DataError(f"a sweep over {n} masks needs real images of other masks to compare with; "
                            f"use fewer than {len(masks) - 1} of the {len(masks)}")
        generated = generate_set(model, checkpoint, masks[:n], sampler=s["sampler"], steps=s["steps"],
                                 guidance=s["guidance"], per_mask=per_mask, seed=seed, cache=cache, progress=progress,
                                 attrs=None if attrs is None else attrs[:n],
                                 instances=None if instances is None else instances[:n])
        ev = score(generated, masks[:n], real[:n], judge, reference=real[n:], features=features, extractor=extractor)
        if progress:
            print(f"{s['sampler']} {s['steps']} steps, guidance {s['guidance']:g}, {n} masks: consistency mIoU "
                  f"{ev.row('consistency mIoU')['generated']:.3f}, {generated.seconds_per_image:.3f} s/image", flush=True)
        rows.append(ev.summary())
        if subset:
            head = score(generated.head(subset), masks[:subset], real[:subset], judge, reference=real[subset:],
                         features=features, extractor=extractor)
            rows[-1]["mIoU_on_subset"] = head.summary()["mIoU"]
        evaluations.append(ev)
    return pd.DataFrame(rows), evaluations


def reference_gaps(rows: pd.DataFrame, evaluations: list[Evaluation], reference: tuple[str, int],
                   subset: int) -> pd.DataFrame:
    """``rows`` (one per evaluation, as :func:`sweep` returns them, students' included) with each setting's mIoU gap
    to the ``reference`` procedure on the first ``subset`` masks, in points, and its 95% interval paired by mask
    (columns ``gap_points``, ``gap_low``, ``gap_high``)."""
    keys = list(zip(rows["sampler"], rows["steps"]))
    if len(keys) != len(evaluations):
        raise ValueError(f"{len(keys)} rows but {len(evaluations)} evaluations")
    if tuple(reference) not in keys:
        raise SettingError(f"reference: {list(reference)} is not among the sweep's settings {[list(k) for k in keys]}")
    ref = evaluations[keys.index(tuple(reference))].confusions[:subset]
    gaps = [paired_gap(ev.confusions[:subset], ref) for ev in evaluations]
    return rows.assign(gap_points=[g[0] for g in gaps], gap_low=[g[1] for g in gaps], gap_high=[g[2] for g in gaps])


def targets(evaluation: Evaluation, samplers: pd.DataFrame, reference: tuple[str, int] = ("ddpm", 1000)) -> pd.DataFrame:
    """The evaluation targets, measured: consistency >= 0.95x ceiling, FID <= 2x floor, fast samplers and students
    at most :data:`GAP` mIoU points below the reference procedure (one-sided: a sampler that scores higher has lost
    nothing), each gap with its interval paired by mask (``samplers`` from :func:`reference_gaps`; without those
    columns, the gap of ``mIoU_on_subset`` alone)."""
    t = evaluation.table.set_index("metric")
    fid_ratio = float(t.loc[[m for m in t.index if m.startswith("FID")][0], "ratio"])
    consistency_ratio = float(t.loc["consistency mIoU", "ratio"])
    by = samplers.set_index(["sampler", "steps"])
    if "gap_points" not in by:
        by = by.assign(gap_points=100 * (by["mIoU_on_subset"] - by.loc[tuple(reference), "mIoU_on_subset"]),
                       gap_low=np.nan, gap_high=np.nan)
    name = f"{reference[0]} {reference[1]}"
    rows = [
        ("consistency mIoU >= 0.95x the real ceiling", consistency_ratio, np.nan, np.nan, consistency_ratio >= 0.95),
        ("FID <= 2x the real-vs-real floor", fid_ratio, np.nan, np.nan, fid_ratio <= 2.0),
    ]

    def gap(label: str, key: tuple[str, int]) -> None:
        r = by.loc[key] if key in by.index else pd.Series({"gap_points": np.nan, "gap_low": np.nan, "gap_high": np.nan})
        rows.append((label, r["gap_points"], r["gap_low"], r["gap_high"], bool(r["gap_points"] >= -GAP)))

    gap(f"DPM-Solver++ 20 at most 1 mIoU point below {name} (points)", ("dpmsolver++", 20))
    tens = by[[n == 10 and not str(s).startswith("lcm") for s, n in by.index]]
    best10 = tens["gap_points"].idxmax() if len(tens) else None
    gap(f"a 10-step sampler at most 1 point below ({f'{best10[0]} 10' if best10 else 'none in the sweep'})",
        best10 or ("-", 10))
    teacher_fid = by["FID"].get(("dpmsolver++", 20), np.nan)
    for s, n in by.index:  # distilled students (sampler "lcm ..."): the few-step targets
        if str(s).startswith("lcm") and n <= 4:
            gap(f"{s} {n} steps at most 1 point below {name}", (s, n))
            ratio = float(by.loc[(s, n), "FID"] / teacher_fid)
            rows.append((f"{s} {n} steps: FID <= 1.1x DPM-Solver++ 20's", ratio, np.nan, np.nan, ratio <= 1.1))
    return pd.DataFrame(rows, columns=["target", "value", "ci_low", "ci_high", "met"]).set_index("target")
