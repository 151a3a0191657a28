"""Every target of `make run` on three seeds of the quick model: is a target met with margin, or by the seed?

The same commit's figures read FID 1.93x the floor on one machine and 2.20x on another: training
differs in floating point from its first steps, which is what another seed does too. This trains
the quick model with seeds 0, 1 and 2 on the same prepared data (the seed changes the
initialisation and the noise, not the scenes; seed 0 is `make run`'s model) and measures, for each,
every row of `figures/*_targets.csv` that depends on the model, with one judge and one attribute
classifier (trained once, on the real images):

- Table I consistency / ceiling and FID / floor (`eval_masks` x `eval_per_mask`, the real images'
  conditions, the profile's sampler, steps and guidance), as notebook 04;
- the gap of DPM-Solver++ 20 and 10 to DDPM 1000 on the first `--reference-masks` val masks, paired
  by mask with its 95% interval, as notebook 04;
- time / weather recovered against the real ceiling and consistency with conditions against none
  asked, on notebook 06's `--check-masks` masks and seeds;
- the enrichment study's arms against `real` (the profile's study: regime, N, steps, 3 segmenter
  seeds), as notebook 05.

    python benchmarks/seed_spread.py [--out runs/seeds] [--seeds 0 1 2] [--reference-masks 24] [--check-masks 24]

Models, judges, generated sets and study runs are kept in ``--out`` and reused by a second run; the
table (one row per seed, then mean and sd) is printed and written to ``--out/seed_spread.csv``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from precision_quality import trained
from semsegdiff.config import get_profile
from semsegdiff.data import dataset_for
from semsegdiff.eval import (arm_table, check_conditions, condition_summary, ensure_classifier, ensure_judge,
                             evaluate_checkpoint, load_segmenter, reference_gaps, run_study, sweep)
from semsegdiff.models import load_checkpoint
from semsegdiff.quiet import quiet


def scores(ckpt: Path, cfg: dict, judge_path: Path, judge, classifier, out: Path, reference_masks: int,
           check_masks: int) -> dict:
    """Every model-dependent target of notebooks 04-06 for ``ckpt``."""
    row = {}
    ev = evaluate_checkpoint(ckpt, judge=judge_path, out=out / "eval", progress=False, overwrite=True)
    t = ev.table.set_index("metric")
    row["consistency_ratio"] = float(t.loc["consistency mIoU", "ratio"])
    row["fid_ratio"] = float(t.loc[[m for m in t.index if m.startswith("FID")][0], "ratio"])
    prepared = dataset_for(cfg, progress=False)
    masks, real, codes = (np.asarray(getattr(prepared, k)("val")) for k in ("masks", "images", "attributes"))
    model = load_checkpoint(ckpt, precision=cfg["precision"])
    settings = [dict(sampler=s, steps=n, guidance=cfg["guidance"], n_masks=reference_masks)
                for s, n in (("ddpm", 1000), ("dpmsolver++", 20), ("dpmsolver++", 10))]
    rows, evs = sweep(model, ckpt, masks, real, judge, settings, per_mask=1, seed=cfg["eval_seed"],
                      cache=out / "generated", subset=reference_masks, attrs=codes)
    gaps = reference_gaps(rows, evs, ("ddpm", 1000), reference_masks).set_index(["sampler", "steps"])
    for n in (20, 10):
        g = gaps.loc[("dpmsolver++", n)]
        row.update({f"dpm{n}_gap": g["gap_points"], f"dpm{n}_low": g["gap_low"], f"dpm{n}_high": g["gap_high"]})
    check, _ = check_conditions(model, classifier, judge, masks[:check_masks], real, codes, seed=cfg["eval_seed"],
                                real_masks=masks)
    row.update(condition_summary(check))
    results = run_study({**cfg, "seed": 0}, ckpt, out=out / "ablation", progress=False)  # the same real subset
    table = arm_table(results)
    for r in table[table["arm"] != "real"].itertuples():
        row.update({f"{r.arm} delta": 100 * r.delta, f"{r.arm} low": 100 * r.ci_low, f"{r.arm} high": 100 * r.ci_high})
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/seeds"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--reference-masks", type=int, default=24)
    p.add_argument("--check-masks", type=int, default=24)
    a = p.parse_args()
    quiet()
    base = get_profile("quick")
    base = {**base, "data": str(dataset_for(base, progress=False).root)}  # one prepared dataset for every seed
    judge_path = ensure_judge(base, out=a.out, progress=False)[1]
    classifier, _ = ensure_classifier(base, out=a.out, progress=False)
    judge = load_segmenter(judge_path)
    rows = []
    for seed in a.seeds:
        cfg = {**base, "seed": seed}
        run = a.out / f"seed{seed}"
        ckpt, minutes = trained(cfg, run)
        rows.append({"seed": seed, "train_minutes": minutes,
                     **scores(ckpt, cfg, judge_path, judge, classifier, run, a.reference_masks, a.check_masks)})
        print(pd.DataFrame(rows[-1:]).T.to_string(float_format=lambda v: f"{v:.4f}"), flush=True)
    table = pd.DataFrame(rows).set_index("seed")
    table = pd.concat([table, table.agg(["mean", "std"])])
    table.to_csv(a.out / "seed_spread.csv", float_format="%.6g")
    print(table.T.to_markdown(floatfmt=".3f"))


if __name__ == "__main__":
    main()
