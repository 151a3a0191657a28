"""The cascade's upscaler settings, side by side in one run: steps, guidance and the noise level of the base's image,
each scored at the high resolution by the high-res judge against the real ceiling, with seconds per image; or
(``--seeds N``) the profile's upscaler trained with N seeds (its scenes and weights), each scored as notebook 07 does.

    .venv/bin/python benchmarks/cascade.py --base runs/quick/diffusion.ckpt \
        --upscaler runs/quick-upscaler/diffusion.ckpt --masks 48
    .venv/bin/python benchmarks/cascade.py --base runs/quick/diffusion.ckpt --seeds 3 --masks 32
    .venv/bin/python benchmarks/cascade.py --base runs/quick/diffusion.ckpt \
        --upscaler runs/quick-upscaler/diffusion.ckpt --single-stage 4 --masks 32 --steps 1 2 3 5 10 --guidance 1 1.75
    .venv/bin/python benchmarks/cascade.py --base runs/quick/diffusion.ckpt --seeds 3 --single-stage 4 --masks 32 \
        --steps 2 3 10 --guidance 1 1.75

``--study``: the enrichment study at the upscaler's frame: segmenters (the profile's ablation settings: low regime,
N = 2x, 300 steps, 3 seeds) trained on real, real + cascade and real + bicubic of the same base images, scored on
real val at that frame, paired by seed with intervals (eval.stats.arm_table).

``--single-stage EPOCHS``: the base's profile trained directly at the upscaler's frame for EPOCHS epochs (choose
them to match the two stages' training minutes, printed), scored beside the cascade with the same judge: Table I
and seconds per image of each, the cascade at each of the upscaler's ``--steps`` x ``--guidance`` (where its speed
comes from), with whether it meets issue 38's target: at least the single stage's Table I at >= 3x its speed.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from semsegdiff.config import get_profile
from semsegdiff.data import dataset_for
from semsegdiff.eval import ensure_judge, single_stage_table, stage_sets, stage_table, train_minutes
from semsegdiff.models import Cascade, ensure_trained, load_checkpoint


def seed_upscaler(a: argparse.Namespace, seed: int) -> Path:
    """The profile's upscaler trained with ``seed`` (seed 0: runs/<profile>/, the others under runs/bench-cascade/)."""
    name = a.profile if seed == 0 else f"bench-cascade/{a.profile}-seed{seed}"
    return ensure_trained(get_profile(a.profile, seed=seed), progress=False, name=name)


def scoring(a: argparse.Namespace, upscaler: str | Path) -> tuple[Cascade, object, np.ndarray, np.ndarray]:
    """The cascade of ``--base`` and ``upscaler``, the judge kept beside the upscaler (trained at its frame on its
    data) and the first ``--masks`` val masks and real images of that data."""
    cascade = Cascade.load(a.base, upscaler)
    cfg = cascade.upscaler.cfg
    judge, _ = ensure_judge(cfg, out=Path(upscaler).parent, progress=False)
    data = dataset_for(cfg, progress=False)
    return cascade, judge, data.masks("val")[:a.masks], data.images("val")[:a.masks]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--upscaler", help="a trained upscaler (the settings sweep)")
    ap.add_argument("--seeds", type=int, default=0, help="train the profile's upscaler with seeds 0..N-1 instead")
    ap.add_argument("--study", action="store_true", help="the enrichment study at the upscaler's frame")
    ap.add_argument("--single-stage", type=int, default=0, metavar="EPOCHS",
                    help="compare with a single-stage model at the upscaler's frame trained for EPOCHS epochs")
    ap.add_argument("--profile", default="quick-upscaler", help="--seeds: the upscaler's profile")
    ap.add_argument("--masks", type=int, default=48)
    ap.add_argument("--per-mask", type=int, default=2)
    ap.add_argument("--steps", type=int, nargs="+", default=[5, 10])
    ap.add_argument("--guidance", type=float, nargs="+", default=[1.0, 1.75])
    ap.add_argument("--aug-levels", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3])
    a = ap.parse_args()
    if a.single_stage:
        return single_stage(a)
    if a.seeds:
        return seed_spread(a)
    if a.study:
        return study(a)
    cascade, judge, masks, real = scoring(a, a.upscaler)
    cfg = cascade.upscaler.cfg
    rows = []
    grid = [(s, g, cfg["aug_level"]) for s in a.steps for g in a.guidance] + \
        [(max(a.steps), min(a.guidance), lv) for lv in a.aug_levels if lv != cfg["aug_level"]]
    for steps, guidance, level in grid:
        start = time.perf_counter()
        sets = stage_sets(cascade, masks, per_mask=a.per_mask, aug_level=level, steps=steps, guidance=guidance)
        table = stage_table(sets, masks, real, judge).set_index("route")
        for route in ("bicubic", "cascade"):
            rows.append({"route": route, "steps": steps, "guidance": guidance, "aug_level": level,
                         **table.loc[route, ["miou", "miou_std", "miou_ratio", "fid", "fid_std", "fid_ratio",
                                             "seconds_per_image"]].to_dict()})
        print(f"steps {steps} guidance {guidance:g} aug {level:g}: {time.perf_counter() - start:.0f} s", flush=True)
    out = pd.DataFrame(rows).drop_duplicates(["route", "steps", "guidance", "aug_level"])
    out = out[(out["route"] == "cascade") | ~out.duplicated("route")]  # bicubic once: it does not depend on these
    print(f"judge {Path(a.upscaler).parent / 'judge.ckpt'}; {len(masks)} val masks x {a.per_mask} seeds; ceiling mIoU "
          f"{table.loc['real (ceiling / floor)', 'miou']:.3f}")
    print(out.round(3).to_string(index=False))




def seed_spread(a: argparse.Namespace) -> None:
    """The profile's upscaler with seeds 0..N-1 (seed 0: runs/<profile>/, the others under runs/bench-cascade/), each
    with its judge and its val masks, scored as notebook 07 does (its defaults); mean and sd over the seeds."""
    rows = []
    for seed in range(a.seeds):
        up = seed_upscaler(a, seed)
        cascade, judge, masks, real = scoring(a, up)
        sets = stage_sets(cascade, masks, per_mask=a.per_mask)
        table = stage_table(sets, masks, real, judge).set_index("route")
        for route in ("bicubic", "cascade"):
            rows.append({"seed": seed, "route": route, **table.loc[route, ["miou_ratio", "fid_ratio"]].to_dict(),
                         "ceiling": table.loc["real (ceiling / floor)", "miou"]})
        print(f"seed {seed}: {up}", flush=True)
    out = pd.DataFrame(rows)
    wide = out.pivot(index="seed", columns="route", values=["miou_ratio", "fid_ratio"])
    wide["fid_cascade_over_bicubic"] = wide[("fid_ratio", "cascade")] / wide[("fid_ratio", "bicubic")]
    print(wide.round(3).to_string())
    print("mean:\n" + wide.mean().round(3).to_string() + "\nsd:\n" + wide.std().round(3).to_string())


def single_stage(a: argparse.Namespace) -> None:
    """The base's profile trained at the upscaler's frame, against the cascade on the same masks, seeds and judge, at
    each of the upscaler's steps x guidance; with ``--seeds N`` for upscalers and single stages of seeds 0..N-1
    (the base is fixed), each with its own judge and val masks, as ``--seeds`` alone does."""
    rows = []
    for seed in range(max(a.seeds, 1)):
        up_path = seed_upscaler(a, seed) if a.seeds else a.upscaler
        cascade, judge, masks, real = scoring(a, up_path)
        up_cfg = cascade.upscaler.cfg
        cfg = get_profile(cascade.base.cfg["profile"], size=up_cfg["size"], epochs=a.single_stage, seed=seed)
        single_path = ensure_trained(cfg, progress=False, name=f"bench-cascade/{cfg['profile']}-single-"
                                     f"{up_cfg['size']}" + (f"-seed{seed}" if seed else ""))
        base = train_minutes(a.base)
        minutes = {"bicubic": base, "cascade": base + train_minutes(up_path)}
        single = None
        for steps in a.steps:  # the upscaler's steps and guidance: where the cascade's speed comes from
            for guidance in a.guidance:
                sets = stage_sets(cascade, masks, per_mask=a.per_mask, steps=steps, guidance=guidance)
                table = stage_table(sets, masks, real, judge)
                if single is None:  # the single stage once, at its own settings, on the same masks and seeds
                    first = single_stage_table(table, load_checkpoint(single_path), single_path, masks, real, judge,
                                               per_mask=a.per_mask, minutes=minutes)
                    single = first[first["route"] == "single stage"].iloc[0]
                    rows.append(first[first["route"].isin(["single stage", "bicubic"])].assign(seed=seed))
                table = table.assign(train_minutes=table["route"].map(minutes), steps=steps, guidance=guidance,
                                     seed=seed)
                rows.append(table[table["route"] == "cascade"].assign(
                    speed_vs_single=single["seconds_per_image"] / table["seconds_per_image"],
                    miou_over_single=table["miou_ratio"] - single["miou_ratio"],
                    fid_over_single=table["fid_ratio"] - single["fid_ratio"]))
        print(f"seed {seed}: {len(masks)} val masks x {a.per_mask} seeds at {up_cfg['size']} px; upscaler {up_path}; "
              f"single stage {single_path}", flush=True)
    out = pd.concat(rows, ignore_index=True)
    cols = ["seed", "route", "steps", "guidance", "train_minutes", "miou_ratio", "miou_std", "fid_ratio", "fid_std",
            "seconds_per_image", "speed_vs_single"]
    print(out[[c for c in cols if c in out]].round(3).to_string(index=False))
    cascade_rows = out[out["route"] == "cascade"]
    # the target (issue 38): at least the single stage's Table I (consistency and FID) at >= 3x its speed, every seed
    cascade_rows = cascade_rows.assign(meets=(cascade_rows["miou_over_single"] >= 0)
                                       & (cascade_rows["fid_over_single"] <= 0) & (cascade_rows["speed_vs_single"] >= 3))
    summary = cascade_rows.groupby(["steps", "guidance"]).agg(
        miou_over_single=("miou_over_single", "mean"), miou_over_single_sd=("miou_over_single", "std"),
        fid_over_single=("fid_over_single", "mean"), fid_over_single_sd=("fid_over_single", "std"),
        speed_vs_single=("speed_vs_single", "mean"), speed_min=("speed_vs_single", "min"),
        seeds_meeting=("meets", "sum"), seeds=("meets", "size"))
    print("cascade minus single stage (ratios to the ceiling / floor), over seeds:\n" + summary.round(3).to_string())


def study(a: argparse.Namespace) -> None:
    """Real, real + cascade, real + bicubic at the upscaler's frame: the study's low regime, paired seeds."""
    from semsegdiff.eval.ablation import _real_subset, train_and_score
    from semsegdiff.eval.arms import ArmData
    from semsegdiff.eval.stats import arm_table

    cascade = Cascade.load(a.base, a.upscaler)
    cfg = {**get_profile(cascade.base.cfg["profile"]), **{k: cascade.upscaler.cfg[k] for k in
                                                          ("data", "size", "n_synthetic", "seed", "val_fraction")}}
    data = dataset_for(cfg, progress=False)
    images, masks = np.array(data.images("train")), np.array(data.masks("train"))
    val = (np.array(data.images("val")), np.array(data.masks("val")))
    real = _real_subset(len(masks), cfg["ablate_low_fraction"], cfg["seed"])
    n_mult = cfg["ablate_n"][0]
    src = np.resize(real, int(round(n_mult * len(real))))  # each real mask in turn
    sets = stage_sets(cascade, masks[src], per_mask=1, seed=cfg["eval_seed"])
    gen = {k: sets[k].images[:, 0].permute(0, 2, 3, 1).numpy() for k in ("cascade", "bicubic")}
    work = Path("runs/bench-cascade/study") / f"{cfg['size']}px"
    rows = []
    for seed in range(cfg["ablate_seeds"]):
        for arm, extra in (("real", None), ("real+cascade", gen["cascade"]), ("real+bicubic", gen["bicubic"])):
            x = images[real] if extra is None else np.concatenate([images[real], extra])
            y = masks[real] if extra is None else np.concatenate([masks[real], masks[src]])
            counts = {"real": len(real), "generated": 0 if extra is None else len(extra)}
            r = train_and_score(cfg, ArmData(x, y, counts), val, work / arm.replace("+", "_") / f"seed{seed}", seed,
                                key={"arm": arm, "seed": seed, "base": str(a.base), "upscaler": str(a.upscaler)})
            rows.append({"regime": "low", "arm": arm, "n_mult": 0.0 if extra is None else n_mult, "threshold": 0.0,
                         "seed": seed, "miou": r["miou"]})
            print(f"{arm:<14} seed {seed}: val mIoU {r['miou']:.4f} ({r['seconds']:.0f} s)", flush=True)
    results = pd.DataFrame(rows)
    print(f"{len(real)} real + {len(src)} generated at {cfg['size']} px, {len(val[1])} val images")
    print(arm_table(results).round(4).to_string(index=False))
    both = results.pivot(index="seed", columns="arm", values="miou")
    diff = both["real+cascade"] - both["real+bicubic"]
    from semsegdiff.eval.stats import bootstrap_ci

    lo, hi = bootstrap_ci(diff.to_numpy())
    print(f"real+cascade - real+bicubic: {diff.mean() * 100:+.2f} points [{lo * 100:+.2f}, {hi * 100:+.2f}] "
          f"(seeds: {', '.join(f'{d * 100:+.2f}' for d in diff)})")


if __name__ == "__main__":
    main()
