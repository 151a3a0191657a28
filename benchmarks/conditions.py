"""Rare conditions on three seeds of the quick model: each value's guidance scale against its two targets (issue 39).

Notebook 06's attribute check on each model: every value of time and weather generated on the masks of the
first ``--masks`` real val images of that value (each mask equally often, at least ``--masks`` images) and held
to those photos, at one attribute guidance scale for every value (each of ``--scales``) and with the profile's
scale per value (``condition_guidance``). Per value: recovered / its real recall (target >= 0.9) and the judge's
consistency / its consistency on the real photos of the same masks (target >= 0.95). One judge and one attribute
classifier (``runs/quick``'s, trained there if missing); models are seed_spread's (the seed changes the
initialisation and the noise, not the scenes), trained in ``--out`` if missing, or the given ``--checkpoints``.

    python benchmarks/conditions.py [--out runs/seeds] [--seeds 0 1 2] [--checkpoints A B C] [--masks 24]
                                    [--scales 1 2 2.5 4.5] [--tables "{night: 1, fog: 3.5}" ...]

Writes ``--out/conditions.csv`` (one row per seed, setting and value) and prints, per value and setting, the mean
over seeds and the worst seed of each ratio.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from precision_quality import trained
from semsegdiff.config import check_setting, get_profile
from semsegdiff.data import dataset_for
from semsegdiff.eval import check_conditions, ensure_classifier, ensure_judge
from semsegdiff.eval.conditions import CONSISTENCY, RECALL
from semsegdiff.models import load_checkpoint
from semsegdiff.quiet import quiet


def check(ckpt: Path, cfg: dict, judge, classifier, n: int, scales: list[float], tables: list[str]) -> pd.DataFrame:
    """One row per (setting, value with real images) of ``ckpt``: its two ratios."""
    prepared = dataset_for(cfg, progress=False)
    masks, real, codes = (np.asarray(getattr(prepared, k)("val")) for k in ("masks", "images", "attributes"))
    model = load_checkpoint(ckpt, precision=cfg["precision"])
    settings = {"per value (condition_guidance)": {}} | {f"{g:g} for every value": {
        "attribute_guidance": g, "condition_guidance": {}} for g in scales} | {
        f"table {t}": {"condition_guidance": check_setting("condition_guidance", t)} for t in tables}
    rows = []
    for name, kw in settings.items():
        table = check_conditions(model, classifier, judge, masks[:n], real, codes, seed=cfg["eval_seed"],
                                 real_masks=masks, common=False, **kw)[0]
        table = table[(table["real_images"] > 0) & table["ratio"].notna()]
        for r in table.itertuples():
            rows.append({"setting": name, "attribute": r.attribute, "value": r.value, "recovered_vs_real": r.ratio,
                         "consistency_vs_real": r.consistency_vs_real})
        print(f"  {name}: worst recovered {table['ratio'].min():.2f}, worst consistency "
              f"{table['consistency_vs_real'].min():.2f}", flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/seeds"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--checkpoints", type=Path, nargs="+", help="one model per seed instead of training them")
    p.add_argument("--masks", type=int, default=24, help="real val images per value whose masks are generated")
    p.add_argument("--scales", type=float, nargs="*", default=[1.0, 2.0, 2.5, 4.5])
    p.add_argument("--tables", nargs="*", default=[], help="other condition_guidance tables, e.g. '{night: 1, fog: 3.5}'")
    a = p.parse_args()
    quiet()
    base = get_profile("quick")
    base = {**base, "data": str(dataset_for(base, progress=False).root)}  # one prepared dataset for every seed
    judge = ensure_judge(get_profile("quick"), out=Path("runs/quick"), progress=False)[0]
    classifier, _ = ensure_classifier(get_profile("quick"), out=Path("runs/quick"), progress=False)
    tables = []
    for k, seed in enumerate(a.seeds):
        cfg = {**base, "seed": seed}
        ckpt = a.checkpoints[k] if a.checkpoints else trained(cfg, a.out / f"seed{seed}")[0]
        print(f"seed {seed}: {ckpt}", flush=True)
        tables.append(check(ckpt, cfg, judge, classifier, a.masks, a.scales, a.tables).assign(seed=seed))
    table = pd.concat(tables)
    a.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(a.out / ("conditions.csv" if not a.tables else "conditions_tables.csv"), index=False,
                 float_format="%.6g")
    summary = table.groupby(["setting", "attribute", "value"], sort=False)[["recovered_vs_real", "consistency_vs_real"]]
    summary = pd.concat({"mean": summary.mean(), "worst seed": summary.min()}, axis=1)
    print(f"targets: recovered >= {RECALL}x the real recall, consistency >= {CONSISTENCY}x the real images'")
    print(summary.to_markdown(floatfmt=".2f"))


if __name__ == "__main__":
    main()
