"""Evaluation throughput: images scored per second by the protocol, against scoring one image at a time.

Ours: ``semsegdiff.eval.score`` on a generated set (batched judge segmentation and features,
one confusion matrix per seed, FID/KID on features computed once). Baseline: the same judge
called image by image with a metric object per image, as a per-sample evaluation loop does.
Both use the same untrained judge of the profile's size (speed does not depend on the weights)
and the same images, in one process, measured back to back.

    python benchmarks/evaluation.py [--profile quick] [--n 256] [--device cpu]
"""
from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="quick")
    p.add_argument("--n", type=int, default=256, help="masks scored (2 images each)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args()

    from semsegdiff.config import get_profile
    from semsegdiff.eval import GeneratedSet, Segmenter, consistency, score

    cfg = get_profile(a.profile)
    size, n = cfg["size"], a.n
    torch.manual_seed(0)
    judge = Segmenter(arch=cfg["judge_arch"], size=size).to(a.device).eval()
    g = torch.Generator().manual_seed(0)
    masks = torch.randint(0, 19, (n, size, size), generator=g).to(torch.uint8).numpy()
    real = torch.randint(0, 256, (n, size, size, 3), generator=g).to(torch.uint8).numpy()
    images = torch.randint(0, 256, (n, 2, 3, size, size), generator=g).to(torch.uint8)
    generated = GeneratedSet(images, {"seconds_per_image": 0.0, "n_masks": n, "per_mask": 2}, None)

    score(GeneratedSet(images[:8], generated.manifest, None), masks[:8], real[:8], judge)  # warm-up
    start = time.perf_counter()
    score(generated, masks, real, judge)
    ours = time.perf_counter() - start

    start = time.perf_counter()
    for k in range(2):
        for i in range(n):
            pred = judge.predict_ids(images[i, k][None])
            consistency(pred, torch.from_numpy(masks[i][None]))
            judge.features(images[i, k][None])
    baseline = time.perf_counter() - start
    total = 2 * n
    print(f"profile {a.profile} ({size}x{size}), {n} masks x 2 seeds = {total} images, judge {cfg['judge_arch']}, "
          f"device {a.device}")
    print(f"  protocol (batched, every metric incl. FID/KID/SSIM and the real ceiling): {total / ours:8.1f} images/s")
    print(f"  one image at a time (segmentation + consistency + features only):      {total / baseline:8.1f} images/s")
    print(f"  ratio: {baseline / ours:.1f}x")


if __name__ == "__main__":
    main()
