"""Instance edges on the quick scale: are the boundaries between adjacent objects of one class visible?

Two quick models are trained on the same synthetic scenes (whose masks come with instance ids) for
the same epochs: one on the one-hot mask alone, one with the instance-boundary channel
(``instance_edges``). Measured on the val masks (the profile's evaluation: ``eval_masks`` masks,
``eval_per_mask`` images each, the profile's sampler):

1. Table I of each (its consistency / the real ceiling, FID / the real-vs-real floor), with the same judge;
2. a boundary judge (the judge's network trained on the REAL train images to predict the class and
   instance boundaries: :mod:`semsegdiff.eval.boundaries`) run on the generated images: boundary
   F-measure against the conditioning edges, and the separation recall on the pixels where two
   instances of one class meet; the real val images give the ceiling. The differences between the
   models carry 95% bootstrap intervals over masks (paired: the same masks and seeds).

    python benchmarks/instance_edges.py [--out runs/instances] [--seeds 0 1 2]

Everything is kept in ``--out`` and reused by a second run; the tables are printed and written to
``--out/instance_edges.csv`` and ``--out/instance_edges_gaps.csv``; ``--out/instance_edges.png`` shows
masks with adjacent objects, their edges and both models' samples.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from precision_quality import trained
from semsegdiff import figures
from semsegdiff.config import get_profile
from semsegdiff.data import dataset_for
from semsegdiff.eval import ensure_judge, evaluate_checkpoint
from semsegdiff.eval.boundaries import (boundary_counts, edge_targets, paired_difference, predict_edges, separations,
                                        summarize, train_boundary_judge)
from semsegdiff.eval.judge import load_segmenter
from semsegdiff.quiet import quiet

TOLERANCES = (1, 0)


def step_cost(base: dict, batch: dict, repeats: int = 7, steps: int = 4) -> float:
    """Seconds per training step with the edge channel / without, measured side by side (alternating, the fastest
    of ``repeats`` rounds of ``steps`` forward + backward passes on one real batch: other work on the machine only
    slows a round down). Run it on an idle machine."""
    import time


    from semsegdiff.models.diffusion import diffusion_loss
    from semsegdiff.models.module import DiffusionModule

    models = {e: DiffusionModule(**{**base, "instance_edges": e}).model for e in (False, True)}
    noise = DiffusionModule(**base).noise
    images = batch["image"].float() / 127.5 - 1
    times = {False: [], True: []}
    for _ in range(repeats):
        for e, net in models.items():
            start = time.perf_counter()
            for _ in range(steps):
                diffusion_loss(net, images, batch["mask"], noise, instances=batch.get("instances")).backward()
            times[e].append((time.perf_counter() - start) / steps)
    return float(min(times[True]) / min(times[False]))


def scores(name: str, counts: dict[int, np.ndarray], extra: dict) -> list[dict]:
    return [{"model": name, "tolerance": t, **summarize(c), **extra} for t, c in counts.items()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/instances"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds of the two models")
    a = p.parse_args()
    quiet()
    out = a.out.resolve()
    base = get_profile("quick", cache=str(out / "data"))
    prepared = dataset_for(base, progress=False)
    base = {**base, "data": str(prepared.root)}  # one prepared dataset for every seed: the seed changes the
    # initialisation and the noise, not the scenes
    n = min(base["eval_masks"], len(prepared.masks("val")))
    masks, ids = np.asarray(prepared.masks("val")[:n]), np.asarray(prepared.instances("val")[:n])
    real = np.asarray(prepared.images("val")[:n])
    sep = separations(masks, ids)
    print(f"{n} val masks, {int(sep.any(axis=(1, 2)).sum())} with adjacent objects of one class "
          f"({int(sep.sum())} pixels where they meet)", flush=True)
    from semsegdiff.data import SegDataModule

    batch = next(iter(SegDataModule(prepared.root, batch_size=base["batch_size"]).train_dataloader()))
    ratio = step_cost(base, batch)
    print(f"a training step with the edge channel takes {ratio:.3f}x the time of one without (side by side)",
          flush=True)
    judge = ensure_judge(base, out=out, progress=False)[1]
    boundary_path = out / "boundary_judge.ckpt"
    if not boundary_path.is_file():
        train_boundary_judge(base, prepared, out, progress=False)
    boundary = load_segmenter(boundary_path)
    edges = edge_targets(masks, ids)
    rows = scores("real val images (ceiling)", {t: boundary_counts(predict_edges(boundary, real), edges, sep, t)
                                                for t in TOLERANCES}, {})
    per_image, examples = {}, {}
    for seed in a.seeds:
        for edge in (False, True):
            name = f"{'instance edges' if edge else 'mask only'} seed {seed}"
            cfg = {**base, "instance_edges": edge, "seed": seed}
            run = out / name.replace(" ", "_")
            ckpt, minutes = trained(cfg, run)
            ev = evaluate_checkpoint(ckpt, judge=judge, out=run / "eval", progress=False, overwrite=True)
            t = ev.table.set_index("metric")
            fid = [m for m in t.index if m.startswith("FID")][0]
            images = ev.generated.images  # (n, per_mask, 3, H, W)
            k = images.shape[1]
            pred = predict_edges(boundary, images.reshape(-1, *images.shape[2:]))
            rep = lambda x: np.repeat(x, k, axis=0)  # noqa: E731
            counts = {t_: boundary_counts(pred, rep(edges), rep(sep), t_) for t_ in TOLERANCES}
            per_image[edge, seed] = {t_: c.reshape(n, k, -1).sum(1) for t_, c in counts.items()}  # per mask
            examples[edge] = images[:, 0]
            rows += scores(name, counts, {
                "epochs": cfg["epochs"], "train_minutes": minutes,
                "consistency_ratio": float(t.loc["consistency mIoU", "ratio"]),
                "fid_ratio": float(t.loc[fid, "ratio"])})
            print(pd.DataFrame(rows[-2:]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows).assign(step_cost_ratio=ratio)
    table.to_csv(out / "instance_edges.csv", index=False, float_format="%.6g")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    gaps = pd.DataFrame([{"seed": seed, "tolerance": t_, **paired_difference(per_image[False, seed][t_],
                                                                              per_image[True, seed][t_])}
                         for seed in a.seeds for t_ in TOLERANCES])
    gaps.to_csv(out / "instance_edges_gaps.csv", index=False, float_format="%.6g")
    print("instance edges minus mask only (95% bootstrap over masks):")
    print(gaps.to_markdown(index=False, floatfmt=".4f"))
    figure(masks, ids, real, examples, sep, out / "instance_edges.png")


def figure(masks, ids, real, examples: dict, sep: np.ndarray, path: Path, n: int = 6) -> None:
    """The val masks with the most pixels where objects of one class meet: mask, instances, both models, real."""
    pick = np.argsort(-sep.reshape(len(sep), -1).sum(1), kind="stable")[:n]
    fig = figures.plot_image_rows({
        "mask": masks[pick], "instances": figures.instance_colors(ids[pick], masks[pick]),
        "mask only": examples[False][pick].permute(0, 2, 3, 1).cpu().numpy(),
        "+ instance edges": examples[True][pick].permute(0, 2, 3, 1).cpu().numpy(), "real": real[pick]})
    figures.save(fig, path.stem, path.parent)


if __name__ == "__main__":
    main()
