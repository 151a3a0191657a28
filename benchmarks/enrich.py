"""semsegdiff enrich measured: is the exported folder the study's data (a segmenter trained on it gains what notebook
05 says), and how fast are pairs written (1 against 2 processes, the student against the teacher, quick and paper size).

Gain: the study's low regime (the real train images ``_real_subset`` picks, linked into a BDD100K-layout folder with
the real val split) is exported with notebook 05's best arm as the recipe (``real+gen hard`` at N 2x: ``--recipe
'{hard: 1}' --n 2x --filter 0``); the study's segmenter (its architecture, steps and batch) is trained on the
export's train split read through ``open_dataset`` and on the real images alone, ``--seeds`` paired seeds each, and
scored on the real val split; the paired gain and its 95% interval (``eval.arm_table``) are printed beside notebook
05's (``figures/05_adas_ablation_table.csv``).

Speed: pairs written per second by ``enrich`` (recipe ``all``, no filter) at the quick size with 1 and 2 processes
and with the checkpoint's student (``runs/quick/student``, when there), and at the paper size (a paper-profile
U-Net trained 2 steps on 128 px scenes: the time per pair is the network's, not its quality).

    .venv/bin/python benchmarks/enrich.py [--checkpoint runs/quick/diffusion.ckpt] [--seeds 3] [--out runs/bench-enrich]
"""
from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from semsegdiff.config import get_profile
from semsegdiff.data import ensure_dataset, open_dataset
from semsegdiff.data.prepare import source_folder
from semsegdiff.enrich import enrich
from semsegdiff.eval import arm_table
from semsegdiff.eval.ablation import _real_subset, train_and_score
from semsegdiff.eval.arms import ArmData
from semsegdiff.models import load_checkpoint
from semsegdiff.quiet import quiet

ROOT = Path(__file__).resolve().parent.parent


def low_regime(cfg: dict, out: Path) -> Path:
    """The study's low-regime real train images and the real val split, linked into a BDD100K-layout folder."""
    if (out / "images").is_dir():
        return out
    src = source_folder(cfg)
    ds, prepared = open_dataset(src), ensure_dataset(cfg["data"], size=cfg["size"], cache=cfg["cache"],
                                                     n_synthetic=cfg["n_synthetic"], seed=cfg["seed"],
                                                     val_fraction=cfg["val_fraction"], progress=False)
    names = prepared.meta["splits"]["train"]["names"]
    keep = {names[i] for i in _real_subset(len(names), cfg["ablate_low_fraction"], cfg["seed"])}
    for split, samples in ds.splits.items():
        for s in samples:
            if split == "train" and s.name not in keep:
                continue
            for f in (s.image, s.mask):
                target = out / f.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(f, target)
    shutil.copy(src / "attributes.csv", out / "attributes.csv")
    return out


def train_split(folder: Path, cfg: dict) -> ArmData:
    """The train pairs of a dataset folder, read through open_dataset and prepared at the study's frame."""
    prepared = ensure_dataset(folder, size=cfg["size"], cache=cfg["cache"], progress=False)
    images, masks = np.array(prepared.images("train")), np.array(prepared.masks("train"))
    return ArmData(images, masks, {"real": len(images), "added": 0, "generated": 0})


def gain(cfg: dict, ckpt: Path, work: Path, seeds: int) -> pd.DataFrame:
    low = low_regime(cfg, work / "low")
    export = work / "export"
    if not (export / "enrichment.csv").is_file():
        enrich(ckpt, low, export, n="2x", recipe={"hard": 1}, filter=0, seed=cfg["seed"], cache=cfg["cache"],
               progress=False, **{k: cfg[k] for k in ("ablate_steps", "ablate_arch", "judge_batch_size", "hard_max")})
    real, enriched = train_split(low, cfg), train_split(export, cfg)
    prepared = ensure_dataset(low, size=cfg["size"], cache=cfg["cache"], progress=False)
    val = (np.array(prepared.images("val")), np.array(prepared.masks("val")))
    rows = []
    for arm, data in (("real", real), ("real+gen hard (exported)", enriched)):
        for seed in range(seeds):
            r = train_and_score(cfg, data, val, work / "runs" / f"{arm.split()[0]}-{seed}", seed,
                                key={"arm": arm, "seed": seed, "n": len(data.images)})
            rows.append({"regime": "low", "arm": arm, "n_mult": 0.0 if arm == "real" else 2.0, "threshold": 0.0,
                         "seed": seed, "gen_seed": 0, **r})
    return arm_table(pd.DataFrame(rows))


def speed(ckpt: Path, work: Path, cfg: dict) -> pd.DataFrame:
    low = low_regime(cfg, work / "low")
    rows = []
    student = ckpt.parent / "student/diffusion.ckpt"
    cases = [("quick, 1 process", ckpt, {}), ("quick, 2 processes", ckpt, {"devices": 2})]
    if student.is_file():
        cases.append(("quick, student (lcm)", ckpt, {"student": student}))
    cases.append(("paper size (128 px, 72 M U-Net)", paper_checkpoint(work), {}))
    for name, model, extra in cases:
        n = 4 if "paper" in name else 512  # the paper U-Net: about 30 s a pair on 2 CPU cores
        out = work / "speed" / name.split(",")[0].split()[0] / str(len(rows))
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        data = low if "paper" not in name else paper_data(work)
        enrich(model, data, out, n=str(n), recipe={"all": 1}, filter=0, real="none", progress=False,
               cache=cfg["cache"], **extra)
        seconds = time.perf_counter() - start
        rows.append({"case": name, "pairs": n, "seconds": round(seconds, 1), "pairs_per_second": round(n / seconds, 2),
                     "frame": load_checkpoint(model).frame})
    return pd.DataFrame(rows)


def paper_data(work: Path) -> Path:
    from semsegdiff.data.synthetic import write_dataset

    out = work / "paper-data"
    return out if out.is_dir() else write_dataset(out, n=16, size=128, seed=5, progress=False)


def paper_checkpoint(work: Path) -> Path:
    from semsegdiff.models import train

    path = work / "paper-run" / "diffusion.ckpt"
    if not path.is_file():
        cfg = get_profile("paper", data=str(paper_data(work)), epochs=1, batch_size=2, num_workers=0,
                          cache=str(work / "cache"), n_preview=2)
        train(cfg, out=work / "paper-run", progress=False, max_steps=2)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=Path("runs/quick/diffusion.ckpt"))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("runs/bench-enrich"))
    p.add_argument("--skip", choices=["gain", "speed"], action="append", default=[])
    a = p.parse_args()
    quiet()
    cfg = load_checkpoint(a.checkpoint).cfg
    cfg = {**get_profile(cfg["profile"]), **cfg}
    if "gain" not in a.skip:
        table = gain(cfg, a.checkpoint, a.out, a.seeds)
        print(table[["arm", "runs", "mean", "std", "delta", "ci_low", "ci_high", "verdict"]].to_markdown(index=False,
                                                                                                        floatfmt=".4f"))
        nb = ROOT / "figures/05_adas_ablation_table.csv"
        if nb.is_file():
            ref = pd.read_csv(nb).query("arm == 'real+gen hard'")
            print("notebook 05 (figures/05_adas_ablation_table.csv):")
            print(ref[["arm", "n_mult", "runs", "delta", "ci_low", "ci_high"]].to_markdown(index=False, floatfmt=".4f"))
    if "speed" not in a.skip:
        print(speed(a.checkpoint, a.out, cfg).to_markdown(index=False))


if __name__ == "__main__":
    main()
