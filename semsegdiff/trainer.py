"""The Lightning set-up every trainer of the package shares: device, precision, logger, checkpoints, DDP.

:func:`make_trainer` reads the run settings of a configuration (``epochs``, ``devices``,
``num_nodes``, ``strategy``, ``grad_clip``, ``log_every``, ``logger``, ``ckpt_every``) and
writes under ``out/name/``::

    metrics.csv                 train loss per logged step, validation metrics (appended on resume)
    checkpoints/last.ckpt       every epoch (or every ``ckpt_minutes`` of training, and at its end), with optimizer
                                state, for --resume
    checkpoints/stepNNNNNNN.ckpt every ``ckpt_every`` epochs
"""
from __future__ import annotations

import csv
import os
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

from .config import check_device
from .precision import lightning_precision
from .errors import SettingError


def resolve_accelerator(cfg: dict[str, Any], accelerator: str | None = None) -> tuple[str, str]:
    """(accelerator, precision) for a run; a clear error when the asked-for devices are not there."""
    accelerator = check_device(accelerator)
    accelerator = "cuda" if accelerator.startswith(("cuda", "gpu")) else "cpu"
    devices, n_gpus = cfg["devices"], torch.cuda.device_count()
    if accelerator == "cpu" and isinstance(devices, list):
        raise SettingError(f"devices (--devices): {devices} are GPU ids, but the run is on the CPU")
    if accelerator == "cuda":
        wanted = max(devices) + 1 if isinstance(devices, list) else devices if isinstance(devices, int) else 1
        if wanted > n_gpus:
            raise SettingError(f"devices (--devices): {devices} asks for more GPUs than the {n_gpus} visible here")
    return accelerator, lightning_precision(cfg.get("precision", "auto"), accelerator)


class NormClipping:
    """Gradient-norm clipping by the module itself, so that it works with fused AdamW (mixed into LightningModules).

    Lightning's mixed-precision plugin refuses to clip for an optimizer that unscales gradients itself (fused
    AdamW: "does not allow for gradient clipping"), a guard for fp16's GradScaler. Our precisions (fp32, bf16
    mixed) have no scaler, so the gradients are already true and clipping them here is what the plugin would do.
    """

    def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer, gradient_clip_val: float | None = None,
                                    gradient_clip_algorithm: str | None = None) -> None:
        if getattr(self.trainer.precision_plugin, "scaler", None) is not None:  # fp16: Lightning unscales first
            super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)
        elif gradient_clip_val:
            torch.nn.utils.clip_grad_norm_(self.parameters(), gradient_clip_val)


def fused_adamw(module: pl.LightningModule) -> dict[str, bool]:
    """``fused=True`` for AdamW on CUDA (one kernel for every parameter's update), unless fp16 scales the gradients."""
    scaled = module._trainer is not None and getattr(module.trainer.precision_plugin, "scaler", None) is not None
    return {"fused": True} if module.device.type == "cuda" and not scaled else {}


class EpochLog(Callback):
    """One printed line per epoch (loss, time, time left): progress for logs, notebooks and papermill."""

    def __init__(self, monitor: str = "train_loss"):
        self.monitor = monitor

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.start, self.first_epoch = time.perf_counter(), trainer.current_epoch  # after a resume too

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        m, e = trainer.callback_metrics, trainer.current_epoch + 1
        per_epoch = (time.perf_counter() - self.start) / (e - self.first_epoch)
        left = per_epoch * (trainer.max_epochs - e)
        val = "".join(f"  {k} {float(v):.4f}" for k, v in m.items() if k.startswith("val_"))
        print(f"epoch {e}/{trainer.max_epochs}  step {trainer.global_step}  "
              f"{self.monitor} {float(m.get(self.monitor + '_epoch', float('nan'))):.4f}{val}  "
              f"{per_epoch:.0f} s/epoch, ~{left / 60:.1f} min left", flush=True)


class TrainClock(Callback):
    """Logs ``train_minutes``, the wall time of training so far (validation included; kept across a resume), at the
    end of every epoch: what each checkpoint cost, for curves of a target against minutes."""

    def __init__(self):
        self.seconds, self.start = 0.0, None

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.start is not None:
            self.seconds += time.perf_counter() - self.start
        module.log("train_minutes", self.seconds / 60, on_epoch=True, rank_zero_only=True)

    def state_dict(self) -> dict[str, float]:
        return {"seconds": self.seconds}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.seconds = float(state.get("seconds", 0.0))


class StopAtStep(Callback):
    """Stop after ``max_steps`` optimizer steps.

    Lightning's own ``max_steps`` switches its loops to iteration-based resuming, which
    reruns part of the last epoch when a run is resumed from an end-of-epoch checkpoint.
    """

    def __init__(self, max_steps: int):
        self.max_steps = max_steps

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step >= self.max_steps:
            trainer.should_stop = True

    def on_train_epoch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step >= self.max_steps:  # a resumed run that has them already: not one batch more
            trainer.should_stop = True


class LastAtEnd(Callback):
    """Write ``last.ckpt`` when training ends, where it is otherwise written only every ``ckpt_minutes``: a run that
    ended (or stopped at ``--max-steps``) before its first interval had no checkpoint to ``--resume`` from, and a
    resume started over. Atomic; not after a non-finite loss (that run ends in an exception, never here)."""

    def __init__(self, path: Path):
        self.path = path

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}-end.tmp")
        trainer.save_checkpoint(tmp, weights_only=False)  # optimizer state too (resume); every rank takes part
        if trainer.is_global_zero:
            os.replace(tmp, self.path)


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, keeping the rows logged before ``keep_before`` (the resumed step) on resume."""

    def __init__(self, log_dir: str, keep_before: int | None):
        self.keep_before = keep_before
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        if self.keep_before is None:  # a fresh run in a folder with logs: start the file over
            path.unlink()
            return
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            rows = [r for r in reader if r.get("step", "").isdigit() and int(r["step"]) < self.keep_before]
            self.metrics_keys = list(reader.fieldnames or [])
        with open(path, "w", newline="") as f:  # the killed run's rows after its checkpoint will be logged again
            writer = csv.DictWriter(f, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows(rows)


class ResumableCSVLogger(CSVLogger):
    """CSV logs that survive a kill: flushed at every logged step, appended to on resume."""

    def __init__(self, save_dir: str | Path, name: str, *, resume_step: int | None = None):
        super().__init__(save_dir, name=name, version="", flush_logs_every_n_steps=1)
        self.resume_step = resume_step

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(self.log_dir, self.resume_step)
        return self._experiment


def make_trainer(cfg: dict[str, Any], out: str | Path, *, name: str, callbacks: Sequence[Callback] = (),
                 val_every: int = 1, accelerator: str | None = None, progress: bool = True, max_steps: int = -1,
                 resume_step: int | None = None, checkpoints: bool = True, numbered: bool = True) -> pl.Trainer:
    """A Lightning ``Trainer`` for the run settings of ``cfg``, logging and checkpointing under ``out/name``.

    CUDA when present (or ``accelerator``), else the CPU, in the ``precision`` setting; several devices
    or nodes go through DDP (``ddp_notebook`` inside Jupyter). ``max_steps`` > 0 stops
    after that many optimizer steps; ``resume_step`` keeps the logs of a resumed run;
    ``checkpoints=False`` keeps no intermediate checkpoints (short runs that are cheaper to redo),
    ``numbered=False`` only ``last.ckpt`` (a run whose history nothing reads: a judge).
    """
    from .quiet import quiet

    quiet()
    accelerator, precision = resolve_accelerator(cfg, accelerator)
    logs = Path(out) / name
    if cfg["logger"] == "tensorboard":
        try:
            logger = TensorBoardLogger(out, name=name, version="")
        except ModuleNotFoundError:
            raise SettingError("logger (--logger): 'tensorboard' needs TensorBoard: pip install -e '.[tensorboard]'") \
                from None
    else:
        logger = ResumableCSVLogger(out, name, resume_step=resume_step)
    bar = progress and sys.stderr.isatty()  # a live bar in a terminal, one line per epoch elsewhere
    every = dict(dirpath=logs / "checkpoints", save_on_train_epoch_end=True, enable_version_counter=False)
    minutes = cfg.get("ckpt_minutes", 0)
    last = (dict(train_time_interval=timedelta(minutes=minutes)) if minutes else dict(every_n_epochs=1))
    linked = numbered and cfg["ckpt_every"] == 1 and not minutes  # last.ckpt: a link to the newest numbered one
    kept = [*([ModelCheckpoint(filename="step{step:07d}", auto_insert_metric_name=False,
                               save_last="link" if linked else False, every_n_epochs=cfg["ckpt_every"],
                               save_top_k=-1, **every)] if numbered else []),
            # last.ckpt after every epoch or every ckpt_minutes, for --resume
            *([ModelCheckpoint(filename="last", save_top_k=1, **last, **every)] if not linked else []),
            *([LastAtEnd(logs / "checkpoints" / "last.ckpt")] if minutes else [])] if checkpoints else []
    return pl.Trainer(
        max_epochs=cfg["epochs"], accelerator=accelerator, devices=cfg["devices"], num_nodes=cfg["num_nodes"],
        strategy=cfg["strategy"], precision=precision, gradient_clip_val=cfg["grad_clip"] or None,
        log_every_n_steps=cfg["log_every"], logger=logger, check_val_every_n_epoch=val_every, num_sanity_val_steps=0,
        enable_progress_bar=bar, enable_model_summary=progress, default_root_dir=out, enable_checkpointing=checkpoints,
        callbacks=[*([EpochLog()] if progress and not bar else []), *([StopAtStep(max_steps)] if max_steps > 0 else []),
                   TrainClock(), *callbacks, *kept],
    )


def save_final(trainer: pl.Trainer, path: Path) -> Path:
    """Save the trainer's weights-only checkpoint to ``path`` atomically (every rank calls it, rank zero writes)."""
    from .files import output_mode

    tmp = path.with_name(f".{path.name}.{os.getpid()}-final.tmp")
    trainer.save_checkpoint(tmp, weights_only=True)
    if trainer.is_global_zero:
        os.chmod(tmp, output_mode())
        os.replace(tmp, path)
    return path


def is_rank_zero() -> bool:
    """True in the process of global rank 0 (also before the Trainer exists: reads the launcher's environment)."""
    from pytorch_lightning.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0
