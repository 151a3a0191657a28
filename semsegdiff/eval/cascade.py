"""The cascade scored at the high resolution (notebook 07): Table I for the cascade beside bicubic of the base's
images and the real ceiling, the noise-augmentation sweep, seconds per image of each stage, the targets."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..models.cascade import Cascade
from ..models.diffusion import to_uint8
from ..models.upscale import upsample
from .evaluate import Evaluation, GeneratedSet, score
from .judge import Segmenter
from .metrics import frechet_few


def _timed(fn, n: int) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - start) / max(n, 1)


def stage_sets(cascade: Cascade, masks: np.ndarray, *, per_mask: int = 2, seed: int = 1000,
               aug_level: float | None = None, steps: int | None = None, guidance: float | None = None,
               progress: bool = False) -> dict[str, GeneratedSet]:
    """``per_mask`` images per high-res mask (image ``j`` of mask ``i``: seed ``seed + j * N + i``) from each route:
    ``base`` (the base's images at its frame), ``bicubic`` (them upsampled) and ``cascade`` (them upscaled); each set
    records its seconds per image (the cascade's: both stages). ``steps``, ``guidance``, ``aug_level``: the upscaler's
    (None: its own settings)."""
    masks_t = torch.from_numpy(np.array(masks))  # a copy: cached arrays are read-only
    n, out = len(masks_t), {"base": [], "bicubic": [], "cascade": []}
    seconds = {"base": 0.0, "bicubic": 0.0, "cascade": 0.0}
    low_masks = cascade.base_masks(masks_t)
    for j in range(per_mask):
        seeds = [seed + j * n + i for i in range(n)]
        low, s_base = _timed(lambda: cascade.base.generate(low_masks, seed=seeds, progress=progress), n)
        bicubic, s_bicubic = _timed(lambda: to_uint8(upsample(low.float() / 127.5 - 1, cascade.frame)), n)
        high, s_up = _timed(lambda: cascade.upscaler.generate(masks_t, low=low, seed=seeds, aug_level=aug_level,
                                                              steps=steps, guidance=guidance, progress=progress), n)
        for key, images in (("base", low), ("bicubic", bicubic), ("cascade", high)):
            out[key].append(images)
        seconds["base"] += s_base / per_mask
        seconds["bicubic"] += (s_base + s_bicubic) / per_mask
        seconds["cascade"] += (s_base + s_up) / per_mask
    return {k: GeneratedSet(torch.stack(v, dim=1), {"route": k, "seconds_per_image": seconds[k], "n_masks": n,
                                                     "per_mask": per_mask}, Path("."))
            for k, v in out.items()}


def aug_sweep(cascade: Cascade, masks: np.ndarray, base: GeneratedSet, levels: list[float], judge: Segmenter,
              real: np.ndarray, *, seed: int = 1000, known: dict[float, dict] | None = None) -> pd.DataFrame:
    """The same base images upscaled at each noise-augmentation level, each set scored by ``judge`` against the
    real images: one row per level (consistency mIoU, its ratio to the real ceiling, FID and its ratio to the floor).
    ``known``: rows already measured on these images and seeds (the table's cascade at its level), not sampled again."""
    masks_t = torch.from_numpy(np.array(masks))  # a copy: cached arrays are read-only
    n, k = base.images.shape[:2]
    rows = []
    for level in levels:
        if level in (known or {}):
            rows.append({"aug_level": level, **{k: known[level][k] for k in _KEYS}})
            continue
        images = torch.stack([cascade.upscaler.generate(masks_t, low=base.images[:, j], aug_level=level,
                                                        seed=[seed + j * n + i for i in range(n)])
                              for j in range(k)], dim=1)
        ev = score(GeneratedSet(images, {"seconds_per_image": float("nan")}, Path(".")), masks, real, judge)
        rows.append({"aug_level": level, **_summary(ev)})
    return pd.DataFrame(rows)


_KEYS = ("miou", "miou_std", "miou_ratio", "fid", "fid_std", "fid_floor", "fid_ratio", "ssim")


def _summary(ev: Evaluation) -> dict[str, float]:
    m, f = ev.row("consistency mIoU"), ev.table.iloc[3]  # FID (judge features)
    return {"miou": m["generated"], "miou_std": m["generated_std"], "miou_ratio": m["ratio"], "fid": f["generated"],
            "fid_std": f["generated_std"], "fid_floor": f["reference"], "fid_ratio": f["ratio"],
            "ssim": ev.row("SSIM")["generated"]}


def stage_table(sets: dict[str, GeneratedSet], masks: np.ndarray, real: np.ndarray, judge: Segmenter) -> pd.DataFrame:
    """Table I at the high resolution, one row per route (bicubic of the base's images, the cascade) and the real
    ceiling: consistency mIoU and FID (judge features) with their std over the images per mask, ratios, s/image."""
    rows = []
    for name in ("bicubic", "cascade"):
        ev = score(sets[name], masks, real, judge)
        rows.append({"route": name, **_summary(ev), "seconds_per_image": sets[name].seconds_per_image})
    ceiling = ev.row("consistency mIoU")["reference"]  # the judge on the real images: the same for both routes
    rows.append({"route": "real (ceiling / floor)", "miou": ceiling, "fid": rows[0]["fid_floor"], "miou_ratio": 1.0,
                 "fid_ratio": 1.0})
    return pd.DataFrame(rows)


def train_minutes(checkpoint: str | Path) -> float:
    """Minutes of training of the run of ``checkpoint`` (the last ``train_minutes`` its metrics.csv logged; NaN for a
    checkpoint outside its run folder)."""
    try:
        m = pd.read_csv(Path(checkpoint).parent / "diffusion" / "metrics.csv")
    except OSError:
        return float("nan")
    logged = m["train_minutes"].dropna() if "train_minutes" in m else m.iloc[:0]
    return float(logged.iloc[-1]) if len(logged) else float("nan")


def single_stage_table(table: pd.DataFrame, single, single_ckpt: str | Path, masks: np.ndarray, real: np.ndarray,
                       judge: Segmenter, *, per_mask: int = 2, seed: int = 1000,
                       minutes: dict[str, float] | None = None) -> pd.DataFrame:
    """``table`` (:func:`stage_table`) with a row for ``single``, one model trained directly at the high resolution,
    scored on the same masks, seeds and judge; every route's training minutes (``minutes``: the two stages', by
    route) and its speed against the single stage's (its seconds per image over theirs)."""
    masks_t, n = torch.from_numpy(np.array(masks)), len(masks)
    images, per_image = _timed(lambda: torch.stack([single.generate(masks_t, seed=[seed + j * n + i for i in range(n)])
                                                    for j in range(per_mask)], dim=1), n * per_mask)
    ev = score(GeneratedSet(images, {"seconds_per_image": per_image}, Path(".")), masks, real, judge)
    row = {"route": "single stage", **_summary(ev), "seconds_per_image": per_image,
           "train_minutes": train_minutes(single_ckpt)}
    out = pd.concat([table.assign(train_minutes=table["route"].map(minutes or {})), pd.DataFrame([row])],
                    ignore_index=True)
    out["speed_vs_single"] = per_image / out["seconds_per_image"]
    return out


def fid_gap(sets: dict[str, GeneratedSet], real: np.ndarray, judge: Segmenter, *, resamples: int = 1000,
            seed: int = 0) -> dict[str, float]:
    """Bicubic's FID minus the cascade's (judge features, both against the real images of the same masks) with a 95%
    bootstrap interval over masks: each draw takes masks with replacement and scores both routes on that draw
    (paired). Above 0: the cascade's images are nearer the real ones. Features are standardised by the real images'
    statistics, as in :func:`~semsegdiff.eval.evaluate.score`."""
    real_f = judge.features(torch.from_numpy(np.array(real)).permute(0, 3, 1, 2)).double()
    mu, sd = real_f.mean(0), real_f.std(0).clamp(min=1e-6)
    feats = {k: (torch.stack([judge.features(sets[k].images[:, j]) for j in range(sets[k].images.shape[1])], 1)
                 .double() - mu) / sd for k in ("bicubic", "cascade")}  # (N, K, D)
    real_f = (real_f - mu) / sd

    def gap(idx: np.ndarray) -> float:
        return (frechet_few(real_f[idx], feats["bicubic"][idx].flatten(0, 1))
                - frechet_few(real_f[idx], feats["cascade"][idx].flatten(0, 1)))

    n, rng = len(real_f), np.random.default_rng(seed)
    draws = [gap(rng.integers(0, n, n)) for _ in range(resamples)]
    low, high = np.percentile(draws, [2.5, 97.5])
    return {"gap": gap(np.arange(n)), "low": float(low), "high": float(high), "resamples": resamples, "n_masks": n}


def cascade_targets(table: pd.DataFrame, gap: dict[str, float] | None = None) -> pd.DataFrame:
    """Issue 38's quick targets that one model seed can check: consistency >= 0.95x the high-res ceiling, FID <= 2x
    the floor, FID below bicubic's (and, given :func:`fid_gap`, with the paired interval of the gap above 0; with a
    single-stage row from :func:`single_stage_table`, its Table I at >= 3x its speed); a row each with the measured
    value, its interval where there is one, and whether it is met."""
    t = table.set_index("route")
    c, b = t.loc["cascade"], t.loc["bicubic"]
    rows = [("cascade consistency >= 0.95x the real ceiling", c["miou_ratio"], c["miou_ratio"] >= 0.95, None),
            ("cascade FID <= 2x the real floor", c["fid_ratio"], c["fid_ratio"] <= 2.0, None),
            ("cascade FID below bicubic of the base (ratio < 1)", c["fid"] / b["fid"], c["fid"] < b["fid"], None)]
    if "single stage" in t.index:  # the same minutes of training, one model at the high resolution
        single = t.loc["single stage"]
        as_good = c["miou_ratio"] >= single["miou_ratio"] and c["fid_ratio"] <= single["fid_ratio"]
        rows.append(("cascade's Table I at least the single stage's (consistency, FID), trained as long",
                     c["miou_ratio"] - single["miou_ratio"], as_good, None))
        rows.append(("cascade >= 3x the single stage's images per second", c["speed_vs_single"],
                     c["speed_vs_single"] >= 3, None))
    if gap is not None:
        rows.append(("bicubic's FID minus the cascade's, paired 95% interval above 0 (same-mask real set)", gap["gap"],
                     gap["low"] > 0, (gap["low"], gap["high"])))
    return pd.DataFrame([{"target": r, "measured": round(float(v), 3),
                          "ci_low": round(ci[0], 3) if ci else float("nan"),
                          "ci_high": round(ci[1], 3) if ci else float("nan"), "met": bool(ok)}
                         for r, v, ok, ci in rows])
