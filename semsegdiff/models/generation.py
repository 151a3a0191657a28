"""Generate images for a folder of masks and write them with a manifest (``semsegdiff generate``)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torchvision.io import write_png

from ..config import check_device, check_setting
from ..data.formats import read_mask_folder
from ..errors import DataError
from ..files import atomic_dir, check_output
from .module import load_checkpoint


def generate_folder(checkpoint: str | Path, masks: str | Path, out: str | Path, *, sampler: str | None = None,
                    steps: int | None = None, guidance: float | None = None, per_mask: int = 1, seed: int = 0,
                    batch_size: int = 64, resize: bool = False, device: str | None = None, overwrite: bool = False,
                    progress: bool = True) -> pd.DataFrame:
    """Generate ``per_mask`` images for every mask PNG in ``masks``; write PNGs and ``manifest.csv`` to ``out``.

    Sampler, steps and guidance default to the checkpoint's. Image ``k`` of mask ``i``
    (sorted by file name) uses seed ``seed + i * per_mask + k``. Everything is checked
    before any work; ``out`` appears only once everything is written. Returns the manifest.
    """
    per_mask, seed = check_setting("per_mask", per_mask), check_setting("seed", seed)
    check_output(out, overwrite=overwrite, inputs=[checkpoint, masks])
    device = check_device(device, "--device")
    model = load_checkpoint(checkpoint, device=device)
    sampler, steps, guidance = (model.cfg[k] if v is None else check_setting(k, v)
                                for k, v in (("sampler", sampler), ("steps", steps), ("guidance", guidance)))
    files, ids = read_mask_folder(masks, size=model.size if resize else None)
    if ids.shape[1:] != (model.size, model.size):
        raise DataError(f"{masks}: masks are {ids.shape[2]}x{ids.shape[1]} but {checkpoint} was trained on "
                        f"{model.size}x{model.size}; pass --resize to centre-crop and resize them")
    reps = torch.from_numpy(ids).repeat_interleave(per_mask, dim=0)
    seeds = [seed + j for j in range(len(reps))]
    rows = []
    with atomic_dir(out, overwrite=overwrite, inputs=[checkpoint, masks]) as tmp:
        images = model.generate(reps, sampler=sampler, steps=steps, guidance=guidance, seed=seeds,
                                batch_size=batch_size, progress=progress)
        for j, image in enumerate(images):
            f = files[j // per_mask]
            name = f"{f.stem}_{j % per_mask:02d}.png"
            write_png(image, str(tmp / name))
            rows.append({"image": name, "mask": str(f), "seed": seeds[j], "sampler": sampler, "steps": steps,
                         "guidance": guidance, "checkpoint": str(checkpoint)})
        manifest = pd.DataFrame(rows)
        manifest.to_csv(tmp / "manifest.csv", index=False)
    return manifest
