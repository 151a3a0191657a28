"""Training the diffusion model with Lightning: one function from a run configuration to a checkpoint.

Run folder layout (``out``, by default ``runs/<profile>``)::

    diffusion.ckpt                 the final checkpoint (EMA weights + configuration)
    diffusion/metrics.csv          CSV log: train_loss per step, val_loss per validation
    diffusion/previews/*.png       mask | generated | real grids, one per validation (+ .npz arrays)
    diffusion/checkpoints/last.ckpt and stepNNNNNNN.ckpt (every ckpt_every epochs)
    previous/<time>/               an earlier run in the same folder, moved aside (never deleted)

Several GPUs or nodes go through Lightning DDP: set ``devices``/``num_nodes`` (or launch
with torchrun / srun, which Lightning detects).
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from ..config import GROUPS, LEGACY, RUN_ONLY_KEYS, validate
from ..data import SegDataModule, dataset_for
from ..data.datamodule import to_model_range
from ..data.prepare import train_count
from ..errors import CheckpointError, DataError, OutputError, SettingError
from ..frame import label
from ..files import atomic_path, claim, file_fingerprint, hold, marker, overlaps
from ..trainer import is_rank_zero, make_trainer, resolve_accelerator, save_final
from .cost import check_cost, check_disk
from .diffusion import to_uint8
from .ema import EMA
from .module import DiffusionModule, check_compatible, config_diff, read_checkpoint
from .upscale import downsample
from .warm_start import check_init, warm_start


def run_paths(out: str | Path) -> dict[str, Path]:
    """Where a training run in ``out`` keeps its files."""
    out = Path(out)
    return {"checkpoint": out / "diffusion.ckpt", "logs": out / "diffusion", "metrics": out / "diffusion" / "metrics.csv",
            "previews": out / "diffusion" / "previews", "checkpoints": out / "diffusion" / "checkpoints",
            "last": out / "diffusion" / "checkpoints" / "last.ckpt", "previous": out / "previous"}


class Previews(Callback):
    """At every validation, on rank zero: mask | generated | real grid of the first val batch (PNG + arrays).

    The same masks and the same noise every time, with the EMA weights (swapped in for validation);
    a model with attributes is asked for the real scenes' attributes.
    """

    def __init__(self, folder: Path, n: int):
        self.folder, self.n = Path(folder), n

    def on_validation_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any,
                                batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        if batch_idx != 0 or not trainer.is_global_zero or trainer.sanity_checking:
            return
        from ..figures import preview_grid

        n = min(self.n, batch["mask"].shape[0])
        masks, real = batch["mask"][:n].cpu(), batch["image"][:n].cpu()
        attrs = batch["attributes"][:n].cpu() if module.cfg["attributes"] and "attributes" in batch else None
        instances = batch["instances"][:n].cpu() if "instances" in batch else None
        low = None  # an upscaler's preview: the real images downsampled and upscaled again
        if module.is_upscaler:
            low = to_uint8(downsample(to_model_range(real.float()), module.cfg["upscale"]))
        images = module.generate(masks, seed=0, attrs=attrs, instances=instances, low=low)  # the real scenes' too
        name = self.folder / f"epoch{trainer.current_epoch + 1:04d}-step{trainer.global_step:06d}"
        preview_grid(masks, images, name.with_suffix(".png"), real=real)
        with atomic_path(name.with_suffix(".npz")) as tmp, open(tmp, "wb") as f:  # the arrays, for figures
            np.savez_compressed(f, masks=masks.cpu().numpy(), images=images.cpu().numpy(), real=real.cpu().numpy(),
                                epoch=trainer.current_epoch + 1, step=trainer.global_step)


def train(cfg: dict[str, Any], *, out: str | Path | None = None, root: str | Path = ".", resume: bool = False,
          accelerator: str | None = None, progress: bool = True, max_steps: int = -1,
          callbacks: Sequence[Callback] = ()) -> Path:
    """Train the diffusion model described by ``cfg`` (a profile); return the final checkpoint's path.

    Everything is checked before the run folder is touched (settings, devices, the output
    path, the checkpoint to resume, the dataset). ``resume`` continues from
    ``<out>/diffusion/checkpoints/last.ckpt`` at its global step (a fresh start when there
    is none). Without it, an earlier run in ``out`` is moved to ``out/previous/<time>/``.
    ``callbacks`` are added to the trainer's (timers, say).
    """
    cfg = validate(cfg)
    if cfg["sampler"] == "lcm":
        raise SettingError("sampler (--sampler): lcm samples a distilled student (semsegdiff distill), not the "
                           "diffusion model trained here; train with a solver and distil the checkpoint")
    device, precision = resolve_accelerator(cfg, accelerator)
    out = Path(root) / (out or Path("runs") / cfg["profile"])
    paths = run_paths(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: is a file, expected a run folder (--out)")
    data_path = Path(root) / cfg["data"]
    if cfg["data"] != "synthetic" and data_path.exists() and overlaps(out, data_path):
        raise OutputError(f"{out}: the run folder overlaps the dataset {data_path}; choose --out outside it")
    ckpt_path = paths["last"] if resume and paths["last"].is_file() else None
    resume_step = None
    if ckpt_path:
        check_compatible(ckpt_path, cfg)
        check_resume(ckpt_path, cfg, TRAINED_KEYS, "train")
        resume_step = int(read_checkpoint(ckpt_path)["global_step"])
    init = Path(root) / cfg["init"] if cfg["init"] else None
    started = check_init(init, cfg) if init and not ckpt_path else None  # the weights fit: before any work
    if init:  # the run records which weights it started from (a path may be reused for other weights)
        cfg = {**cfg, "init_sha": file_fingerprint(init)}
    claim(out, "training run", legacy=is_run_folder, create=False)
    warning = check_cost(cfg, train_count(cfg, root=root), device=device, precision=precision, max_steps=max_steps)
    if warning and is_rank_zero():  # before any data is rendered or prepared: time and memory
        print(warning, flush=True)
    check_disk(cfg, out, numbered=0 if max_steps > 0 else cfg["epochs"] // cfg["ckpt_every"], what="this training run")
    if resume and not ckpt_path:
        print(f"no {paths['last']} to resume from: starting a new run", flush=True)
    elif ckpt_path:
        print(f"resuming {ckpt_path} at step {resume_step}", flush=True)
    elif started is not None and is_rank_zero():
        print(f"starting from the weights of {init}" + (f"; new, at zero: {', '.join(started)}" if started else ""),
              flush=True)
    prepared = dataset_for(cfg, root=root, progress=progress)
    if "train" not in prepared.splits:
        raise DataError(f"{prepared.root}: the dataset has no train split (it has {', '.join(prepared.splits)})")
    if prepared.size != cfg["size"]:
        raise DataError(f"{prepared.root}: cache is {label(prepared.size)}px but the run asks for size "
                        f"{label(cfg['size'])}")
    if cfg.get("instance_edges"):
        prepared.check_instances("instance_edges")  # maps for only some masks: refused, naming them
    if cfg.get("instance_edges") and not prepared.has_instances and is_rank_zero():
        print(f"instance_edges: {prepared.root} holds no instance ids (its {prepared.meta.get('source_format')} "
              "layout has no instance maps): the edge channel holds class boundaries only", flush=True)
    with hold(claim(out, "training run", legacy=is_run_folder), "semsegdiff train"):
        # everything checked: now the run folder may change (one process at a time)
        return _fit(cfg, out, prepared, ckpt_path=ckpt_path, resume_step=resume_step, accelerator=accelerator,
                    progress=progress, max_steps=max_steps, callbacks=callbacks, init=init if started is not None else None)


def _fit(cfg: dict[str, Any], out: Path, prepared, *, ckpt_path: Path | None, resume_step: int | None,
         accelerator: str | None, progress: bool, max_steps: int, callbacks: Sequence[Callback],
         init: Path | None = None) -> Path:
    """The training run itself, in the checked and held run folder ``out``."""
    paths = run_paths(out)
    if not ckpt_path and is_rank_zero():
        move_aside(out)
    pl.seed_everything(cfg["seed"], workers=True, verbose=False)
    data = SegDataModule(prepared.root, batch_size=cfg["batch_size"], num_workers=cfg["num_workers"],
                         attribute_balance=cfg["attribute_balance"])
    validation = data.has("val")
    if not validation and progress:
        print(f"{prepared.root} has no val split: no validation loss and no preview grids", flush=True)
    trainer = make_trainer(
        cfg, out, name="diffusion", val_every=cfg["preview_every"], accelerator=accelerator, progress=progress,
        max_steps=max_steps, resume_step=resume_step,
        callbacks=[EMA(decay=cfg["ema_decay"], start=cfg["ema_start"]), Previews(paths["previews"], cfg["n_preview"]),
                   *callbacks])
    module = DiffusionModule(**cfg)
    if init is not None:  # before fit: the EMA's first copy is of these weights
        warm_start(module.model, init)
    trainer.fit(module, train_dataloaders=data.train_dataloader(),
                val_dataloaders=data.val_dataloader() if validation else None, ckpt_path=ckpt_path, weights_only=True)
    # EMA weights in state_dict, configuration in hyper_parameters; no optimizer state
    return save_final(trainer, paths["checkpoint"])


def ensure_trained(cfg: dict[str, Any], *, root: str | Path = ".", retrain: bool = False, max_steps: int = -1,
                   progress: bool = True, name: str | None = None) -> Path:
    """``runs/<profile>/diffusion.ckpt`` trained with ``cfg``: reused when it was, trained (again) otherwise.

    The one way the notebooks get their model, so each of them also runs alone. ``name`` (default: the
    profile) names the run folder: a variant of the profile's model (``quick-instance_edges-true``) keeps its own.
    """
    folder = name or cfg["profile"]
    path = run_paths(Path(root) / "runs" / folder)["checkpoint"]
    here = {**cfg, "init": str(Path(root) / cfg["init"])} if cfg.get("init") else cfg  # init is under root, as in train
    if not retrain and matches(path, here):
        print(f"reusing {path} (trained with these settings; retrain=True to train again)", flush=True)
        return path
    return train(cfg, out=Path("runs") / folder, root=root, max_steps=max_steps, progress=progress)


# What a resumed training run must share with its checkpoint besides the shapes (check_compatible): the data and
# how it is trained; epochs may grow (what resuming is for), run settings may change.
TRAINED_KEYS = tuple(k for g in ("data", "schedule", "training") for k in GROUPS[g] if k not in ("cache", "epochs"))


def check_resume(path: Path, cfg: dict[str, Any], keys: Sequence[str], command: str) -> None:
    """Refuse, before any work, a resume from ``path`` with settings that differ from what trained it: the
    continued run would record settings its first steps were not trained with."""
    diff = config_diff({**LEGACY, **read_checkpoint(path)["hyper_parameters"]}, cfg, keys)
    if diff:
        raise SettingError(f"{path}: --resume continues the same run, but {len(diff)} setting"
                           f"{'s differ' if len(diff) > 1 else ' differs'} from what trained it ({'; '.join(diff)}); "
                           f"resume without changing them, or start a new {command} run without --resume")


def kept_epochs(cfg: dict[str, Any], fraction: float) -> int:
    """The most epochs, at most ``fraction`` of ``cfg``'s, after which its run kept a numbered checkpoint (a
    multiple of ``ckpt_every``); all of its epochs when it kept none that early (a run shorter than ckpt_every)."""
    every = cfg["ckpt_every"]
    kept = int(fraction * cfg["epochs"]) // every * every
    return kept if kept >= every else cfg["epochs"]


def checkpoint_at(checkpoint: str | Path, step: int) -> Path:
    """The checkpoint the run of ``checkpoint`` kept at optimizer step ``step`` (its final one when that is the step,
    or when the run ended before it: cut short by ``max_steps``); a :class:`CheckpointError` when the run went past
    ``step`` and kept none there (``ckpt_every`` epochs apart)."""
    checkpoint = Path(checkpoint)
    if int(read_checkpoint(checkpoint).get("global_step", -1)) <= step:
        return checkpoint
    kept = run_paths(checkpoint.parent)["checkpoints"] / f"step{step:07d}.ckpt"
    if not kept.is_file():
        steps = sorted(p.stem for p in kept.parent.glob("step*.ckpt"))
        raise CheckpointError(f"{checkpoint}: its run kept no checkpoint at step {step} (it kept "
                              f"{', '.join(steps) or 'none'}); choose epochs that are a multiple of its ckpt_every")
    return kept


def ensure_variant(cfg: dict[str, Any], checkpoint: str | Path, changes: dict[str, Any], *, root: str | Path = ".",
                   fraction: float = 2 / 3, progress: bool = False) -> tuple[Path, Path]:
    """The profile's run of ``checkpoint`` and a variant with ``changes``, trained as many steps from the same weights:
    (the run's checkpoint to compare with, the variant's), the variant in ``runs/<profile>-<setting>-<value>/``.

    The variant starts (``init``) from the checkpoint the run kept at ``fraction`` of its epochs and trains the
    rest with the changes, what they add at zero; it is compared with the run's end. A change that takes a part
    away cannot start from those weights: that variant trains from scratch for the ``fraction`` and is compared
    with the run's checkpoint there.
    """
    checkpoint, start = Path(checkpoint), kept_epochs(cfg, fraction)
    other = {**cfg, **changes}
    name = "-".join([cfg["profile"], *(f"{k}-{str(v).lower()}" for k, v in changes.items())])
    kept = checkpoint_at(checkpoint, start * (int(read_checkpoint(checkpoint)["global_step"]) // cfg["epochs"]))
    if start < cfg["epochs"]:
        try:
            check_init(kept, other)
        except (CheckpointError, SettingError):
            pass  # a part taken away: from scratch
        else:  # ema_start 0: averaged from the first step, as the run's own EMA went on averaging
            warm = {**other, "epochs": cfg["epochs"] - start, "init": str(kept.resolve()), "ema_start": 0}
            return checkpoint, ensure_trained(warm, root=root, progress=progress, name=name)
    return kept, ensure_trained({**other, "epochs": start}, root=root, progress=progress, name=name)


def is_run_folder(folder: Path) -> bool:
    """Whether an unmarked ``folder`` (an earlier version wrote no marker) holds a run of ours, by its content:
    a readable semsegdiff checkpoint, or a subfolder semsegdiff marked."""
    for name in ("diffusion.ckpt", "diffusion/checkpoints/last.ckpt"):
        if (folder / name).is_file():
            try:
                read_checkpoint(folder / name)
                return True
            except CheckpointError:
                pass
    return any(p.is_dir() and marker(p) is not None for p in folder.iterdir())


def beside(checkpoint: str | Path, command: str) -> Path:
    """The run folder of ``checkpoint``, where ``command`` writes what it makes from it unless given ``--out``; an
    :class:`OutputError` when semsegdiff did not write that folder (a checkpoint in a user's own folder)."""
    folder = Path(checkpoint).parent
    if folder.is_dir() and marker(folder) is None and not is_run_folder(folder):
        raise OutputError(f"{folder}: holds {Path(checkpoint).name} but was not written by semsegdiff, so "
                          f"{command} will not write its outputs beside it; give --out (a new or empty folder)")
    return folder


def move_aside(out: Path) -> Path | None:
    """Move an earlier run in ``out`` (final checkpoint, logs) to ``out/previous/<time>/``; say where."""
    paths = run_paths(out)
    found = [p for p in (paths["checkpoint"], paths["logs"]) if p.exists()]
    if not found:
        return None
    target = paths["previous"] / time.strftime("%Y%m%d-%H%M%S")
    while target.exists():
        target = target.with_name(target.name + "+")
    target.mkdir(parents=True)
    for p in found:
        os.replace(p, target / p.name)
    print(f"moved the earlier run in {out} to {target} (delete it when you no longer need it)", flush=True)
    return target


def load_previews(out: str | Path) -> list[dict[str, Any]]:
    """The preview arrays of a run, in training order: dicts with masks, images, real, epoch, step."""
    previews = []
    for f in sorted(run_paths(out)["previews"].glob("*.npz")):
        with np.load(f) as z:
            previews.append({k: z[k].item() if z[k].ndim == 0 else z[k] for k in z.files})
    return previews


def matches(checkpoint: str | Path, cfg: dict[str, Any]) -> bool:
    """Whether ``checkpoint`` exists and was trained with ``cfg`` (ignoring settings that do not change the model)."""
    try:
        hp = {**LEGACY, **read_checkpoint(checkpoint)["hyper_parameters"]}  # settings added since: what training did
    except CheckpointError:
        return False
    if config_diff(hp, cfg, [k for k in cfg if k not in (*RUN_ONLY_KEYS, "init")]):
        return False
    try:  # warm-started: from the same weights, wherever the file now is
        return hp.get("init_sha", "") == (file_fingerprint(cfg["init"]) if cfg.get("init") else "")
    except OSError:
        return False
