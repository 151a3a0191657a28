"""Does bf16 mixed precision change what the quick model learns? Quality beside the seed-to-seed spread.

Trains the quick model (its profile's epochs) in fp32 with three seeds and in bf16 mixed
precision with three, on the same prepared data (the seed changes the initialisation and
the noise, not the scenes), then scores each with one judge and one attribute classifier:
val loss on fixed draws (the last validation of training), Table I consistency and FID against
the real ceiling and floor (``eval_masks`` x ``eval_per_mask``), and the attribute check of
notebook 06 (time / weather recovered against the real ceiling, consistency with conditions
against none asked). Each model is sampled and scored in its training precision; the first
fp32 model is also sampled in bf16 (what sampling precision alone does). bf16 is a fair
default only where its numbers sit inside the spread of the fp32 seeds.

    python benchmarks/precision_quality.py [--out runs/precision] [--check-masks 64] [-o epochs=12]

Models, judge and classifier are kept in ``--out`` and reused by a second run; the table is
printed and written to ``--out/precision_quality.csv``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from semsegdiff.config import get_profile
from semsegdiff.data import dataset_for
from semsegdiff.files import file_fingerprint, write_text
from semsegdiff.eval import check_conditions, condition_summary, ensure_classifier, ensure_judge, evaluate_checkpoint
from semsegdiff.models import load_checkpoint, matches, run_paths, train
from semsegdiff.quiet import quiet

VARIANTS = {"fp32 seed 0": ("32", 0), "fp32 seed 1": ("32", 1), "fp32 seed 2": ("32", 2), "bf16 seed 0": ("bf16-mixed", 0),
            "bf16 seed 1": ("bf16-mixed", 1), "bf16 seed 2": ("bf16-mixed", 2)}


def trained(cfg: dict, out: Path) -> tuple[Path, float]:
    """The checkpoint of ``cfg`` in ``out`` (trained unless it already was) and its training minutes (NaN: reused)."""
    path = run_paths(out)["checkpoint"]
    if matches(path, cfg) and load_checkpoint(path).cfg["precision"] == cfg["precision"]:
        return path, float("nan")
    start = time.perf_counter()
    train(cfg, out=out, progress=False)
    return path, (time.perf_counter() - start) / 60


def val_loss(run: Path) -> float:
    metrics = pd.read_csv(run_paths(run)["metrics"])
    return float(metrics["val_loss"].dropna().iloc[-1])


def score(ckpt: Path, precision: str, judge: Path, classifier, judge_model, cfg: dict, n_check: int,
          out: Path) -> dict:
    """Table I ratios and the attribute check of ``ckpt`` sampled (and scored) in ``precision`` (kept in
    ``out/scores.json`` for this checkpoint: a second run reads them back)."""
    kept = out / "scores.json"
    key = {"checkpoint": file_fingerprint(ckpt), "precision": precision, "n_check": n_check,
           "eval_masks": cfg["eval_masks"], "eval_per_mask": cfg["eval_per_mask"]}
    if kept.is_file() and json.loads(kept.read_text()).get("key") == key:
        return json.loads(kept.read_text())["scores"]
    scores = _score(ckpt, precision, judge, classifier, judge_model, cfg, n_check, out)
    write_text(kept, json.dumps({"key": key, "scores": scores}, indent=1))
    return scores


def _score(ckpt: Path, precision: str, judge: Path, classifier, judge_model, cfg: dict, n_check: int,
           out: Path) -> dict:
    ev = evaluate_checkpoint(ckpt, judge=judge, out=out / "eval", n_masks=cfg["eval_masks"], progress=False,
                             per_mask=cfg["eval_per_mask"], precision=precision, overwrite=True)
    t = ev.table.set_index("metric")
    fid = [m for m in t.index if m.startswith("FID")][0]
    prepared = dataset_for(cfg, progress=False)
    masks, real, codes = (np.asarray(getattr(prepared, k)("val")) for k in ("masks", "images", "attributes"))
    model = load_checkpoint(ckpt, precision=precision)
    judge_model.precision = classifier.precision = precision
    check, _ = check_conditions(model, classifier, judge_model, masks[:n_check], real, codes, seed=cfg["eval_seed"],
                                real_masks=masks)
    return {"consistency_ratio": float(t.loc["consistency mIoU", "ratio"]), "fid_ratio": float(t.loc[fid, "ratio"]),
            **condition_summary(check)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/precision"))
    p.add_argument("--check-masks", type=int, default=64, help="val masks of the attribute check")
    p.add_argument("-o", action="append", default=[], metavar="KEY=VALUE", help="override a quick setting")
    a = p.parse_args()
    quiet()
    overrides = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in a.o)}
    base = get_profile("quick", **overrides, precision="32")
    data = str(dataset_for(base, progress=False).root)  # one prepared dataset for every seed
    base = {**base, "data": data}
    judge_path = ensure_judge(base, out=a.out, progress=False, device="cpu")[1]
    classifier, _ = ensure_classifier(base, out=a.out, progress=False, device="cpu")
    from semsegdiff.eval import load_segmenter

    judge_model = load_segmenter(judge_path)
    rows = []
    for name, (precision, seed) in VARIANTS.items():
        cfg = {**base, "precision": precision, "seed": seed}
        run = a.out / name.replace(" ", "-")
        ckpt, minutes = trained(cfg, run)
        for sampled in [precision] + (["bf16-mixed"] if name == "fp32 seed 0" else []):
            scores = score(ckpt, sampled, judge_path, classifier, judge_model, cfg, a.check_masks, run / sampled)
            rows.append({"model": name, "trained": precision, "sampled": sampled, "train_minutes": minutes,
                         "val_loss": val_loss(run), **scores})
            print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format=lambda v: f"{v:.4f}"), flush=True)
    report(rows, a.out / "precision_quality.csv")


def report(rows: list[dict], path: Path) -> None:
    """Write the rows as a CSV and print them as a Markdown table."""
    table = pd.DataFrame(rows)
    table.to_csv(path, index=False)
    print(table.to_markdown(index=False, floatfmt=".4f"))


if __name__ == "__main__":
    main()
