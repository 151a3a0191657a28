"""Training the diffusion model with Lightning: one function from a run configuration to a checkpoint.

Run folder layout (``out``, by default ``runs/<profile>``)::

    diffusion.ckpt                 the final checkpoint (EMA weights + configuration)
    diffusion/metrics.csv          CSV log: train_loss per step, val_loss per validation
    diffusion/previews/*.png       mask | generated | real grids, one per validation
    diffusion/checkpoints/last.ckpt and stepNNNNNNN.ckpt (every ckpt_every epochs)

Several GPUs or nodes go through Lightning DDP: set ``devices``/``num_nodes`` (or launch
with torchrun / srun, which Lightning detects).
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

from ..config import device_and_precision
from ..data import SegDataModule, ensure_dataset
from .module import EMA, CheckpointError, DiffusionModule, check_compatible, config_diff, read_checkpoint, validate


def run_paths(out: str | Path) -> dict[str, Path]:
    """Where a training run in ``out`` keeps its files."""
    out = Path(out)
    return {"checkpoint": out / "diffusion.ckpt", "logs": out / "diffusion", "metrics": out / "diffusion" / "metrics.csv",
            "previews": out / "diffusion" / "previews", "checkpoints": out / "diffusion" / "checkpoints",
            "last": out / "diffusion" / "checkpoints" / "last.ckpt"}


class EpochLog(Callback):
    """One printed line per epoch (loss, time, time left): progress for logs, notebooks and papermill."""

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.start, self.first_epoch = time.perf_counter(), trainer.current_epoch  # after a resume too

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        m, e = trainer.callback_metrics, trainer.current_epoch + 1
        per_epoch = (time.perf_counter() - self.start) / (e - self.first_epoch)
        left = per_epoch * (trainer.max_epochs - e)
        val = f"  val_loss {float(m['val_loss']):.4f}" if "val_loss" in m else ""
        print(f"epoch {e}/{trainer.max_epochs}  step {trainer.global_step}  "
              f"train_loss {float(m.get('train_loss_epoch', float('nan'))):.4f}{val}  "
              f"{per_epoch:.0f} s/epoch, ~{left / 60:.1f} min left", flush=True)


def train(cfg: dict[str, Any], *, out: str | Path | None = None, root: str | Path = ".", resume: bool = False,
          accelerator: str | None = None, progress: bool = True, max_steps: int = -1) -> Path:
    """Train the diffusion model described by ``cfg`` (a profile); return the final checkpoint's path.

    ``resume`` continues from ``<out>/diffusion/checkpoints/last.ckpt`` at its global step
    (a fresh start when there is none). Without it, an existing run folder is started over.
    """
    validate(cfg)
    out = Path(root) / (out or Path("runs") / cfg["profile"])
    paths = run_paths(out)
    ckpt_path = paths["last"] if resume and paths["last"].is_file() else None
    if ckpt_path:
        check_compatible(ckpt_path, cfg)
    elif paths["logs"].exists() and _is_rank_zero():
        shutil.rmtree(paths["logs"])  # a fresh run: no stale metrics, previews or checkpoints
    prepared = ensure_dataset(cfg["data"], size=cfg["size"], cache=cfg["cache"], n_synthetic=cfg["n_synthetic"],
                              seed=cfg["seed"], root=root, progress=progress)
    if prepared.size != cfg["size"]:
        raise ValueError(f"{prepared.root}: cache is {prepared.size}px but the run asks for size {cfg['size']}")
    pl.seed_everything(cfg["seed"], workers=True, verbose=False)
    data = SegDataModule(prepared.root, batch_size=cfg["batch_size"], num_workers=cfg["num_workers"])
    module = DiffusionModule(**cfg)
    module.preview_dir = paths["previews"]
    device, precision = device_and_precision()
    accelerator = accelerator or device
    if accelerator == "cpu":
        precision = "32-true"
    logger = CSVLogger(out, name="diffusion", version="")
    if cfg["logger"] == "tensorboard":
        try:
            logger = TensorBoardLogger(out, name="diffusion", version="")
        except ModuleNotFoundError:
            raise ValueError("logger = 'tensorboard' needs TensorBoard: pip install -e '.[tensorboard]'") from None
    bar = progress and sys.stderr.isatty()  # a live bar in a terminal, one line per epoch elsewhere
    every = dict(dirpath=paths["checkpoints"], save_on_train_epoch_end=True, enable_version_counter=False)
    trainer = pl.Trainer(
        max_epochs=cfg["epochs"], max_steps=max_steps, accelerator=accelerator, devices=cfg["devices"],
        num_nodes=cfg["num_nodes"], strategy=cfg["strategy"], precision=precision,
        gradient_clip_val=cfg["grad_clip"], log_every_n_steps=cfg["log_every"], logger=logger,
        check_val_every_n_epoch=cfg["preview_every"], num_sanity_val_steps=0,
        enable_progress_bar=bar, enable_model_summary=progress, default_root_dir=out,
        callbacks=[
            *([EpochLog()] if progress and not bar else []),
            EMA(decay=cfg["ema_decay"], start=cfg["ema_start"]),
            ModelCheckpoint(filename="step{step:07d}", auto_insert_metric_name=False, save_last=cfg["ckpt_every"] == 1,
                            every_n_epochs=cfg["ckpt_every"], save_top_k=-1, **every),
            # last.ckpt after every epoch, for --resume (the numbered one above keeps it when N == 1)
            *([ModelCheckpoint(filename="last", every_n_epochs=1, save_top_k=1, **every)] if cfg["ckpt_every"] > 1 else []),
        ],
    )
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
    # atomic write; EMA weights in state_dict, config in hyper_parameters; no optimizer state
    trainer.save_checkpoint(paths["checkpoint"], weights_only=True)
    return paths["checkpoint"]


def load_previews(out: str | Path) -> list[dict[str, Any]]:
    """The preview arrays of a run, in training order: dicts with masks, images, real, epoch, step."""
    import numpy as np

    previews = []
    for f in sorted(run_paths(out)["previews"].glob("*.npz")):
        with np.load(f) as z:
            previews.append({k: z[k].item() if z[k].ndim == 0 else z[k] for k in z.files})
    return previews


RUN_ONLY_KEYS = {"devices", "num_nodes", "strategy", "num_workers", "logger", "sampler", "steps", "guidance",
                 "n_preview", "ckpt_every", "log_every", "profile"}


def matches(checkpoint: str | Path, cfg: dict[str, Any]) -> bool:
    """Whether ``checkpoint`` exists and was trained with ``cfg`` (ignoring settings that do not change the model)."""
    try:
        hp = read_checkpoint(checkpoint)["hyper_parameters"]
    except CheckpointError:
        return False
    return not config_diff(hp, cfg, [k for k in cfg if k not in RUN_ONLY_KEYS])


def _is_rank_zero() -> bool:
    from pytorch_lightning.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0
