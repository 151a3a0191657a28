"""Fast samplers against DDPM 1000 on more masks than `make run` can afford: the gap with a tight interval.

Notebook 04 holds every sampler to the reference procedure (DDPM 1000 steps, guided) on 24 val
masks, where the 95% interval of a gap is about +-2.3 mIoU points: too wide to tell a 1-point
loss. This generates the first ``--masks`` val masks (``--seeds`` images each, the real images'
conditions, the profile's guidance) with DDPM 1000 and each fast sampler, scores them with the
judge, and prints each gap to DDPM 1000 with its interval, paired by mask
(:func:`semsegdiff.eval.reference_gaps`), and the seconds per image. Sets are cached next to the
checkpoint, as notebook 04 caches them.

    python benchmarks/sampler_gaps.py [--checkpoint runs/quick/diffusion.ckpt] [--masks 96] [--seeds 1]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from semsegdiff.data import dataset_for
from semsegdiff.eval import ensure_judge, reference_gaps, sweep
from semsegdiff.models import load_checkpoint
from semsegdiff.quiet import quiet

SAMPLERS = [("ddpm", 1000), ("ddim", 20), ("dpmsolver++", 20), ("dpmsolver++", 10), ("unipc", 10)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=Path("runs/quick/diffusion.ckpt"))
    p.add_argument("--masks", type=int, default=96)
    p.add_argument("--seeds", type=int, default=1, help="images per mask (one generation seed each)")
    a = p.parse_args()
    quiet()
    model = load_checkpoint(a.checkpoint)
    cfg = model.cfg
    ds = dataset_for(cfg, progress=False)
    masks, real, codes = (np.asarray(getattr(ds, k)("val")) for k in ("masks", "images", "attributes"))
    judge, _ = ensure_judge(cfg, out=a.checkpoint.parent, progress=False)
    settings = [dict(sampler=s, steps=n, guidance=cfg["guidance"], n_masks=a.masks) for s, n in SAMPLERS]
    rows, evs = sweep(model, a.checkpoint, masks, real, judge, settings, per_mask=a.seeds, seed=cfg["eval_seed"],
                      cache=a.checkpoint.parent / "generated", subset=a.masks, progress=True, attrs=codes)
    rows = reference_gaps(rows, evs, ("ddpm", 1000), a.masks)
    print(f"{a.masks} masks x {a.seeds} seeds, guidance {cfg['guidance']:g}, {a.checkpoint}")
    print(rows[["sampler", "steps", "mIoU", "gap_points", "gap_low", "gap_high", "seconds_per_image"]]
          .to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
