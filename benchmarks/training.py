"""Training throughput (images/s) and the share of step time spent waiting for data.

Runs the real training path (``semsegdiff.models.DiffusionModule`` on the profile's
prepared dataset through ``SegDataModule``) for a fixed number of optimizer steps under
Lightning's ``SimpleProfiler``, then reads its recorded durations: time in
``train_dataloader_next`` (waiting for a batch) against ``run_training_batch`` (forward,
backward, optimizer step). The first steps are skipped as warm-up.

    python benchmarks/training.py [--profile quick] [--steps 60] [--warmup 10] [-o key=value ...]
"""
from __future__ import annotations

import argparse
import tempfile

import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.profilers import SimpleProfiler

from semsegdiff.config import device_and_precision, get_profile
from semsegdiff.data import SegDataModule, ensure_dataset
from semsegdiff.models import DiffusionModule


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="quick", choices=["quick", "paper"])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("-o", action="append", default=[], metavar="KEY=VALUE", help="override a profile setting")
    a = p.parse_args()
    cfg = get_profile(a.profile, **{k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in a.o)})
    device, precision = device_and_precision()
    prepared = ensure_dataset(cfg["data"], size=cfg["size"], cache=cfg["cache"], n_synthetic=cfg["n_synthetic"],
                              seed=cfg["seed"])
    data = SegDataModule(prepared.root, batch_size=cfg["batch_size"], num_workers=cfg["num_workers"])
    model = DiffusionModule(**cfg)
    with tempfile.TemporaryDirectory() as tmp:
        profiler = SimpleProfiler(dirpath=tmp, filename="profile")  # its full report goes to a file, not here
        trainer = pl.Trainer(max_steps=a.steps + a.warmup, accelerator=device, devices=1, precision=precision,
                             profiler=profiler, logger=False, enable_checkpointing=False, limit_val_batches=0,
                             enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp)
        trainer.fit(model, datamodule=data)
    rec = profiler.recorded_durations
    wait = sum(rec["[_TrainingEpochLoop].train_dataloader_next"][a.warmup:a.warmup + a.steps])
    step = sum(rec["run_training_batch"][a.warmup:a.warmup + a.steps])
    n_params = sum(p.numel() for p in model.model.parameters())
    name = torch.cuda.get_device_name(0) if device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"profile {a.profile}: {cfg['size']}x{cfg['size']}, batch {cfg['batch_size']}, {n_params / 1e6:.2f} M "
          f"parameters, {precision}, {name}")
    print(f"throughput: {a.steps * cfg['batch_size'] / (wait + step):.1f} images/s over {a.steps} steps "
          f"({(wait + step) / a.steps * 1000:.1f} ms/step)")
    print(f"waiting for data: {wait / (wait + step):.1%} of step time ({wait / a.steps * 1000:.2f} ms/step)")


if __name__ == "__main__":
    main()
