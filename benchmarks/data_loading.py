"""Images/s through the DataModule from a prepared cache vs per-item reading of the reference layout.

The reference pipeline decodes a JPEG and an RGB PNG per item and maps colours to ids with one
comparison per class, as the WINS 2024 reference code does. Both run side by side in this
process at 128x128, batch 50, no worker processes, on real BDD100K pairs (the test fixture,
replicated). Prints images/s of each and the ratio (target: the cache is >= 20x faster).

    python benchmarks/data_loading.py [--copies 100] [--epochs 3]
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from semsegdiff.data import SegDataModule, prepare

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "bdd_sample"


class ReferenceStyleDataset(Dataset):
    """Per item: open the JPEG and the colour PNG with PIL, map colours to ids class by class."""

    def __init__(self, root: Path):
        self.images = sorted((root / "images").glob("*.jpg"))
        self.masks = [root / "masks" / f"{p.stem}.png" for p in self.images]
        self.colors = list(json.loads((root / "colormap.json").read_text()).values())

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image = np.asarray(Image.open(self.images[i]).convert("RGB"))
        rgb = np.asarray(Image.open(self.masks[i]).convert("RGB"))
        mask = np.full(rgb.shape[:2], 255, np.uint8)
        for cls, color in enumerate(self.colors):
            mask[(rgb == color).all(-1)] = cls
        return torch.from_numpy(image.copy()).permute(2, 0, 1), torch.from_numpy(mask)


def rate(loader: DataLoader, epochs: int) -> float:
    n, start = 0, time.perf_counter()
    for _ in range(epochs):
        for batch in loader:
            n += len(batch["image"] if isinstance(batch, dict) else batch[0])
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=100, help="copies of the 4 real pairs (400 pairs by default)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "reference"
        for kind in ("images", "masks"):
            (src / kind).mkdir(parents=True)
            for f in (FIXTURE / kind).iterdir():
                for k in range(args.copies):
                    shutil.copy(f, src / kind / f"{f.stem}-{k:04d}{f.suffix}")
        shutil.copy(FIXTURE / "colormap.json", src)
        start = time.perf_counter()
        cache = prepare(src, Path(tmp) / "cache", size=128, val_fraction=0.0, progress=False)
        prep_s = time.perf_counter() - start
        n = 4 * args.copies
        reference = DataLoader(ReferenceStyleDataset(src), batch_size=args.batch, shuffle=True)
        ours = SegDataModule(cache, batch_size=args.batch).train_dataloader()
        rate(ours, 1), rate(reference, 1)  # warm up page cache and allocators
        ref_rate = rate(reference, args.epochs)
        our_rate = rate(ours, args.epochs)
    print(f"{n} real BDD100K pairs at 128x128, batch {args.batch}, {args.epochs} epochs, 0 workers, 1 thread")
    print(f"  one-off prepare:                      {prep_s:8.2f} s ({n / prep_s:,.0f} images/s)")
    print(f"  reference layout, decoded per item:   {ref_rate:10,.0f} images/s")
    print(f"  prepared cache through SegDataModule: {our_rate:10,.0f} images/s")
    print(f"  speed-up: {our_rate / ref_rate:.1f}x (target >= 20x)")


if __name__ == "__main__":
    main()
