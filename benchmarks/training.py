"""Training throughput (images/s), model FLOP utilisation, data wait, and what `semsegdiff train` adds on top.

Runs the real training path (``DiffusionModule`` on the profile's prepared dataset through
``SegDataModule``, the profile's precision, fused AdamW, the EMA callback) for a fixed number of
optimizer steps, timed by a callback between the end of the warm-up steps and the last step
(CUDA synchronised at both ends), with Lightning's ``SimpleProfiler`` for the data wait. FLOPs
per image are counted by torch's FlopCounterMode on the U-Net (forward + backward); MFU is
that rate over the GPU's dense bf16 peak (``mfu.py``).

Variants, measured one after the other in this process (the machine is shared: compare ratios):

- ``bare``: a plain Trainer: no checkpoints, no validation, no logger (in the profile's ``precision``);
- ``precision``: the bare run in fp32 and in bf16 mixed precision, in interleaved pairs
  (``--repeats``), with the ratio of their medians (where bf16 is native: CUDA, AVX512-BF16, AMX);
- ``+ <setting>``: each of ``--try`` (e.g. ``channels_last=true``, ``compile=true``), one at a time;
- ``train()``: the path ``semsegdiff train`` runs (CSV logs, checkpoints on the profile's cadence,
  validation + previews every ``preview_every`` epochs); the time of one checkpoint and one
  validation are measured too and amortised over their intervals.

Every variant prints its mean training loss over the timed steps: the same data, seed and
schedule, so a speed setting that changes the loss curve shows here.

    python benchmarks/training.py [--profile quick|gpu|paper] [--steps 60] [--warmup 10]
        [--try channels_last=true --try compile=true] [--train-path] [-o key=value ...]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.profilers import SimpleProfiler

from mfu import device_name, mfu_line, train_step_flops
from semsegdiff.config import PROFILES, device_and_precision, get_profile
from semsegdiff.data import SegDataModule, dataset_for
from semsegdiff.models import EMA, DiffusionModule
from semsegdiff.precision import lightning_precision
from semsegdiff.quiet import quiet


class StepTimer(Callback):
    """Wall time from the end of step ``warmup`` to the end of step ``warmup + steps``; the losses in between."""

    def __init__(self, warmup: int, steps: int):
        self.warmup, self.steps, self.start, self.end, self.losses = warmup, steps, None, None, []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        step = trainer.global_step
        if step == self.warmup or step == self.warmup + self.steps:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            if step == self.warmup:
                self.start = time.perf_counter()
            else:
                self.end = time.perf_counter()
                trainer.should_stop = True
        if self.warmup < step <= self.warmup + self.steps:
            self.losses.append(outputs["loss"].detach() if isinstance(outputs, dict) else outputs.detach())

    def result(self, batch: int) -> tuple[float, float]:
        """(images/s, mean loss of the timed steps)."""
        return self.steps * batch / (self.end - self.start), float(torch.stack(self.losses).float().mean())


def bare(cfg: dict, prepared, warmup: int, steps: int) -> tuple[float, float, float]:
    """(images/s, mean loss, data wait share) of a plain Trainer on the real module and data."""
    device, precision = device_and_precision(cfg["precision"])
    pl.seed_everything(cfg["seed"], verbose=False)
    data = SegDataModule(prepared.root, batch_size=cfg["batch_size"], num_workers=cfg["num_workers"])
    timer = StepTimer(warmup, steps)
    with tempfile.TemporaryDirectory() as tmp:
        profiler = SimpleProfiler(dirpath=tmp, filename="profile")  # its full report goes to a file, not here
        trainer = pl.Trainer(max_epochs=10**6, accelerator=device, devices=1, precision=precision, profiler=profiler,
                             logger=False, enable_checkpointing=False, limit_val_batches=0, enable_progress_bar=False,
                             enable_model_summary=False, default_root_dir=tmp,
                             gradient_clip_val=cfg["grad_clip"] or None,
                             callbacks=[EMA(decay=cfg["ema_decay"], start=cfg["ema_start"]), timer])
        trainer.fit(DiffusionModule(**cfg), train_dataloaders=data.train_dataloader())
    rec = profiler.recorded_durations
    wait = sum(rec["[_TrainingEpochLoop].train_dataloader_next"][warmup:warmup + steps])
    images_s, loss = timer.result(cfg["batch_size"])
    return images_s, loss, wait / (steps * cfg["batch_size"] / images_s)


class _Keep(Callback):
    def setup(self, trainer, module, stage):
        self.trainer = trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="quick", choices=list(PROFILES))
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=10, help="steps before timing (compilation, cudnn autotuning)")
    p.add_argument("--try", dest="tries", action="append", default=[], metavar="KEY=VALUE",
                   help="a speed setting measured against the bare run, e.g. compile=true")
    p.add_argument("--train-path", action="store_true", help="also time `semsegdiff train`'s path")
    p.add_argument("-o", action="append", default=[], metavar="KEY=VALUE", help="override a profile setting")
    p.add_argument("--repeats", type=int, default=2, help="interleaved fp32 / bf16 pairs (the ratio: of medians)")
    a = p.parse_args()
    quiet()
    overrides = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in a.o)}
    cfg = get_profile(a.profile, **overrides)
    if cfg["data"] != "synthetic" and not Path(cfg["data"]).exists():
        cfg = get_profile(a.profile, **{"data": "synthetic", **overrides})  # speed does not depend on the data
    device, precision = device_and_precision(cfg["precision"])
    prepared = dataset_for(cfg)
    net = DiffusionModule(**cfg).model.to(device)
    flops = train_step_flops(net, cfg["size"], 19, device)
    n_params = sum(p.numel() for p in net.parameters())
    del net
    print(f"profile {a.profile}: {cfg['size']}x{cfg['size']}, batch {cfg['batch_size']}, {n_params / 1e6:.1f} M parameters, "
          f"{precision}, {device_name(device)}; data {prepared.root.name}")
    print(f"counted FLOPs per training image (forward + backward): {flops / 1e9:.1f} GFLOP")
    rows = []
    base = {**cfg, "channels_last": False, "compile": False}
    images_s, loss, wait = bare(base, prepared, a.warmup, a.steps)
    rows.append(("bare", images_s, loss))
    print(f"bare          {images_s:8.1f} images/s ({cfg['batch_size'] / images_s * 1000:.1f} ms/step), "
          f"loss {loss:.4f}, data wait {wait:.1%}; {mfu_line(images_s * flops, device)}", flush=True)
    compare_precision(base, prepared, a.warmup, a.steps, a.repeats, flops, device)
    for t in a.tries:
        key, value = t.split("=", 1)
        variant = get_profile(a.profile, **{**overrides, "data": cfg["data"], key: yaml.safe_load(value)})
        images_s, loss, _ = bare({**base, key: variant[key]}, prepared, a.warmup, a.steps)
        rows.append((f"+ {t}", images_s, loss))
        print(f"+ {t:<12}{images_s:8.1f} images/s ({images_s / rows[0][1]:.2f}x bare), loss {loss:.4f}; "
              f"{mfu_line(images_s * flops, device)}", flush=True)
    if a.train_path:
        timer = _Keep()
        images_s, loss, ckpt_s, val_s = _train_path(cfg, a.warmup, a.steps, timer)
        steps_per_epoch = len(prepared.masks("train")) // cfg["batch_size"]
        step_s = cfg["batch_size"] / images_s
        ckpt_every = cfg["ckpt_minutes"] * 60 if cfg["ckpt_minutes"] else steps_per_epoch * step_s
        val_every = cfg["preview_every"] * steps_per_epoch * step_s
        amortised = images_s / (1 + ckpt_s / ckpt_every + val_s / val_every)
        print(f"train()       {images_s:8.1f} images/s ({images_s / rows[0][1]:.2f}x bare), loss {loss:.4f}; one "
              f"checkpoint {ckpt_s:.2f} s every {ckpt_every / 60:.1f} min, one validation {val_s:.2f} s every "
              f"{val_every / 60:.1f} min: {amortised:.1f} images/s amortised ({amortised / rows[0][1]:.2f}x bare)")


def compare_precision(cfg: dict, prepared, warmup: int, steps: int, repeats: int, flops: float, device: str) -> None:
    """fp32 against bf16 mixed precision, in interleaved pairs (the machine's load drifts): images/s, loss, ratio."""
    if lightning_precision("bf16-mixed", device) != "bf16-mixed":
        print(f"precision: no native bf16 on {device_name(device)}, so only fp32 runs here")
        return
    rates: dict[str, list[float]] = {"32": [], "bf16-mixed": []}
    for r in range(repeats):
        for setting in rates:
            images_s, loss, _ = bare({**cfg, "precision": setting}, prepared, warmup, steps)
            rates[setting].append(images_s)
            print(f"precision {setting:<10} (pair {r + 1}) {images_s:8.1f} images/s, loss {loss:.4f}; "
                  f"{mfu_line(images_s * flops, device)}", flush=True)
    fp32, bf16 = (statistics.median(v) for v in rates.values())
    print(f"precision: bf16-mixed {bf16:.1f} vs fp32 {fp32:.1f} images/s (medians of {repeats}): "
          f"{bf16 / fp32:.2f}x", flush=True)


def _train_path(cfg, warmup, steps, keep):
    from semsegdiff.models import train

    timer = StepTimer(warmup, steps)
    with tempfile.TemporaryDirectory() as tmp:
        train({**cfg, "epochs": 10**5}, out=Path(tmp) / "run", progress=False, callbacks=[timer, keep],
              max_steps=warmup + steps + 1)
        images_s, loss = timer.result(cfg["batch_size"])
        trainer = keep.trainer
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        trainer.save_checkpoint(Path(tmp) / "again.ckpt")
        ckpt_s = time.perf_counter() - start
        loader = SegDataModule(dataset_for(cfg).root, batch_size=cfg["batch_size"]).val_dataloader()
        start = time.perf_counter()
        trainer.validate(trainer.lightning_module, dataloaders=loader, verbose=False, weights_only=True)
        val_s = time.perf_counter() - start
    return images_s, loss, ckpt_s, val_s


if __name__ == "__main__":
    main()
