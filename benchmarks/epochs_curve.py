"""The quick model's targets against training minutes: one long run, every numbered checkpoint scored.

Trains the quick model for ``--epochs`` (keeping a checkpoint every ``--every`` epochs, in the
profile's precision), then scores each checkpoint as ``precision_quality.py`` does (Table I
consistency and FID ratios with one judge; time / weather recovered and consistency with
conditions with one attribute classifier): where each target of notebooks 04 and 06 is met,
and after how many minutes of training on this machine.

    python benchmarks/epochs_curve.py [--epochs 24] [--every 4] [--out runs/epochs] [-o precision=32]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml

from precision_quality import report, score
from semsegdiff.config import get_profile
from semsegdiff.data import dataset_for
from semsegdiff.eval import ensure_classifier, ensure_judge, load_segmenter
from semsegdiff.models import matches, read_checkpoint, run_paths, train
from semsegdiff.quiet import quiet


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=24)
    p.add_argument("--every", type=int, default=4)
    p.add_argument("--out", type=Path, default=Path("runs/epochs"))
    p.add_argument("--check-masks", type=int, default=64)
    p.add_argument("-o", action="append", default=[], metavar="KEY=VALUE", help="override a quick setting")
    a = p.parse_args()
    quiet()
    overrides = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in a.o)}
    cfg = get_profile("quick", **{"epochs": a.epochs, "ckpt_every": a.every, **overrides})
    cfg["data"] = str(dataset_for(cfg, progress=False).root)
    run = a.out / "run"
    if not matches(run_paths(run)["checkpoint"], cfg):
        train(cfg, out=run, progress=True)
    judge_path = ensure_judge({**cfg, "precision": "32"}, out=a.out, progress=False, device="cpu")[1]
    classifier, _ = ensure_classifier({**cfg, "precision": "32"}, out=a.out, progress=False, device="cpu")
    judge_model = load_segmenter(judge_path)
    metrics = pd.read_csv(run_paths(run)["metrics"])
    minutes = metrics.dropna(subset=["train_minutes"]).groupby("epoch")["train_minutes"].max()
    rows = []
    for ckpt in sorted(run_paths(run)["checkpoints"].glob("step*.ckpt")):
        epoch = int(read_checkpoint(ckpt)["epoch"])  # the epoch it was saved in (0-based)
        scores = score(ckpt, cfg["precision"], judge_path, classifier, judge_model, cfg, a.check_masks,
                       a.out / ckpt.stem)
        rows.append({"epoch": epoch + 1, "train_minutes": float(minutes.get(epoch, float("nan"))), **scores})
        print(f"epoch {epoch + 1}: {scores}", flush=True)
    report(rows, a.out / "epochs_curve.csv")


if __name__ == "__main__":
    main()
