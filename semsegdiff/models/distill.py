"""Few-step generation: a latent-consistency student distilled from a trained model (``semsegdiff distill``).

Latent Consistency Distillation (LCM, https://arxiv.org/abs/2310.04378, Algorithm 1, in pixel
space) does both distillations of the issue at once:

- guidance: the student takes the guidance scale ``w`` as an input (embedded like the time step)
  and learns the teacher's *guided* prediction, so each of its steps is one forward, not two;
- steps: it learns the consistency function ``f(x_t, t) = c_skip(t) x_t + c_out(t) x0(x_t, t)``
  that maps any point of the teacher's guided ODE trajectory to its end, so 1, 2 or 4 steps of
  diffusers' ``LCMScheduler`` (denoise, re-noise to the next timestep) generate an image.

Each step: a timestep ``t`` from a grid of ``distill_grid`` DDIM steps and ``s = t - T/grid``;
``x_t`` is a training image noised to ``t``; the teacher's guided DDIM step gives ``x_s``; the
loss is the pseudo-Huber distance (c = 0.001, as LCM-LoRA) between the student's ``f(x_t, t, w)`` and the target
network's ``f(x_s, s, w)`` (no gradient). The target network is an EMA of the student
(``distill_target_ema``, LCM's mu = 0.95), kept by the same :class:`~semsegdiff.models.EMA`
callback that averages every model of the package; it is also the student's saved weights.

Why consistency distillation and not progressive distillation: one training run serves every
step count (1, 2, 4), where progressive distillation needs one run per halving (1000 -> ... ->
4 -> 2 -> 1, each from the previous student), and it folds guidance in at the same time.

The student is a checkpoint like any other (``load_checkpoint(path).generate(masks)`` samples
with ``lcm`` and ``distill_steps`` steps by default). Local regeneration works with it as with
a diffusion model: at each of its steps the kept pixels are the photo noised to the level of
the next step (RePaint-style blending, few steps); RePaint's resampling jumps need the teacher.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytorch_lightning as pl
import torch

from ..config import GROUPS, RUN_ONLY_KEYS, validate
from ..data import SegDataModule, dataset_for
from ..data.datamodule import to_model_range
from ..errors import CheckpointError, DataError, OutputError, SettingError
from ..frame import label
from ..files import claim, file_fingerprint, hold, overlaps, snapshot
from ..trainer import fused_adamw, is_rank_zero, make_trainer, resolve_accelerator, save_final
from .cost import COPIES, check_cost, check_disk
from .diffusion import Guided, drop_attributes
from .ema import EMA
from .module import DiffusionModule, check_base, config_diff, load_checkpoint, read_checkpoint
from .training import beside, check_resume, is_run_folder, move_aside, run_paths
from .condition import condition

# Settings a student may change from its teacher's: how it is distilled and run (never the network or data).
STUDENT_KEYS = tuple(k for k in RUN_ONLY_KEYS if k not in ("profile", "cache")) + ("batch_size", "grad_clip")
# What a resumed distillation must share with its last.ckpt (distill_iters may grow; run settings may change).
DISTILLED_KEYS = ("distill_lr", "distill_grid", "distill_guidance", "distill_target_ema", "batch_size", "grad_clip",
                  "seed")


class _Frozen:
    """Holds the teacher outside the module tree: not trained, averaged, saved, or copied with the student."""

    def __init__(self, module: torch.nn.Module):
        self.module = module.requires_grad_(False).eval()

    def __deepcopy__(self, memo: dict) -> _Frozen:
        return self


class Distiller(DiffusionModule):
    """The student (this module's ``model``: the teacher's U-Net plus a guidance input) and its frozen teacher."""

    def __init__(self, teacher: DiffusionModule | None = None, /, **cfg: Any):
        super().__init__(**cfg)
        self._teacher = _Frozen(teacher.model) if teacher is not None else None
        n, grid = self.cfg["num_train_timesteps"], self.cfg["distill_grid"]
        self.skip = n // grid  # LCM's k: one teacher DDIM step
        self.register_buffer("grid", torch.arange(1, grid + 1) * self.skip - 1, persistent=False)  # [k-1, ..., T-1]
        self.register_buffer("abar", self.noise.alphas_cumprod.clone().float(), persistent=False)
        self.sampler = self.scheduler("lcm")  # the student's sampler: its boundary scalings are the training's

    @property
    def target_network(self) -> torch.nn.Module:
        """The EMA of the student (the :class:`EMA` callback's average); the student itself before it exists."""
        ema = next((cb for cb in self.trainer.callbacks if isinstance(cb, EMA)), None) if self._trainer else None
        return self.model if ema is None or ema.average is None else ema.average.model

    validation_step = pl.LightningModule.validation_step  # no validation loop (no held-out loss to track)

    def on_fit_start(self) -> None:
        super().on_fit_start()
        if self._teacher is not None:
            self._teacher.module.to(self.device)

    def boundary(self, t: torch.Tensor, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``c_skip(t) x + c_out(t) x0``: the consistency function, with the scalings ``LCMScheduler`` samples with."""
        c_skip, c_out = self.sampler.get_scalings_for_boundary_condition_discrete(t.float()[:, None, None, None])
        return c_skip * x + c_out * self.x0(out, x, t)

    def x0(self, out: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The clean image predicted from a model output (v or epsilon) at ``x_t``."""
        a = self.abar[t][:, None, None, None]
        if self.cfg["prediction_type"] == "v_prediction":
            return a.sqrt() * x - (1 - a).sqrt() * out
        return (x - (1 - a).sqrt() * out) / a.sqrt()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, masks = to_model_range(batch["image"]), batch["mask"]
        b, dev = images.shape[0], images.device
        attrs = None
        if self.cfg["attributes"] and batch.get("attributes") is not None:  # each condition also learned left out
            attrs = drop_attributes(batch["attributes"], self.cfg["p_uncond_attr"], dev)
        lo, hi = self.cfg["distill_guidance"]
        w = lo + (hi - lo) * torch.rand(b, device=dev)
        t = self.grid[torch.randint(0, len(self.grid), (b,), device=dev)]
        s = (t - self.skip).clamp(min=0)
        x_t = self.noise.add_noise(images, torch.randn_like(images), t)
        cond = condition(self.model, masks, batch.get("instances"))
        student = self.boundary(t, x_t, self.model(x_t, t, cond, attrs=attrs, guidance=w).float())
        with torch.no_grad():
            teacher = Guided(self._teacher.module, masks, w, attrs, precision=self.cfg["precision"],
                             instances=batch.get("instances"))(x_t, t)  # guided v (or epsilon), per-image w
            x0 = self.x0(teacher, x_t, t)
            a_t, a_s = self.abar[t][:, None, None, None], self.abar[s][:, None, None, None]
            eps = (x_t - a_t.sqrt() * x0) / (1 - a_t).sqrt()
            x_s = a_s.sqrt() * x0 + (1 - a_s).sqrt() * eps  # one DDIM step of the teacher's guided ODE
            target = self.boundary(s, x_s, self.target_network(x_s, s, cond, attrs=attrs, guidance=w).float())
        loss = ((student - target).square() + 1e-6).sqrt().mean() - 1e-3  # pseudo-Huber, c = 0.001 (LCM-LoRA's)
        self.watch(loss, batch_size=b)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        fused = fused_adamw(self)
        return torch.optim.AdamW(self.model.parameters(), lr=self.cfg["distill_lr"], weight_decay=0.0, **fused)


def student_config(teacher_path: Path, teacher_cfg: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The student's run configuration: its teacher's, the distillation and run ``overrides``, and the teacher's hash."""
    unknown = [k for k in overrides if k not in STUDENT_KEYS]
    if unknown:
        raise SettingError(f"{', '.join(unknown)}: a student keeps its teacher's network, data and schedule; "
                           f"only {', '.join(GROUPS['distillation'])} and run settings can change")
    cfg = validate({**teacher_cfg, "allow_slow": False,  # asked for this run, never inherited from the teacher's
                    **{k: v for k, v in overrides.items() if v is not None}})
    if cfg["num_train_timesteps"] % cfg["distill_grid"]:
        raise SettingError(f"distill_grid (--distill-grid): {cfg['distill_grid']} must divide the teacher's "
                           f"num_train_timesteps ({cfg['num_train_timesteps']})")
    cfg.update(sampler="lcm", steps=cfg["distill_steps"], teacher=file_fingerprint(teacher_path),
               teacher_path=str(teacher_path))
    return validate(cfg)


def distill(teacher: str | Path, *, out: str | Path | None = None, root: str | Path = ".", resume: bool = False,
            accelerator: str | None = None, progress: bool = True, max_steps: int = -1,
            **overrides: Any) -> Path:
    """Distil a consistency student from the checkpoint ``teacher``; return the student's checkpoint path.

    ``out`` (default: ``student/`` next to the teacher) gets ``diffusion.ckpt`` and the logs of
    any training run (:func:`semsegdiff.models.run_paths`); ``overrides`` are distillation and
    run settings (``distill_iters``, ``distill_lr``, ...). ``resume`` continues from
    ``last.ckpt`` if it was distilled from the same teacher (a different teacher is refused).
    Everything is checked before the run folder changes.
    """
    teacher = Path(teacher)
    model = check_base(load_checkpoint(teacher), teacher, "distill")
    if model.is_student:
        raise CheckpointError(f"{teacher}: is a distilled student; distil from the diffusion model it came from "
                              f"({model.cfg.get('teacher_path', 'its teacher')})")
    cfg = student_config(teacher, dict(model.cfg), overrides)
    device, precision = resolve_accelerator(cfg, accelerator)
    out = Path(root) / out if out is not None else beside(teacher, "distill") / "student"
    paths = run_paths(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: is a file, expected a run folder (--out)")
    if overlaps(out, teacher):  # moving an earlier run aside must never move the teacher
        raise OutputError(f"{out}: holds the teacher {teacher}; choose another --out for the student")
    ckpt_path = paths["last"] if resume and paths["last"].is_file() else None
    done = 0
    if ckpt_path:
        earlier = read_checkpoint(ckpt_path)
        if earlier["hyper_parameters"].get("teacher") != cfg["teacher"]:
            hp = earlier["hyper_parameters"]
            raise CheckpointError(f"{ckpt_path}: was distilled from another teacher ({hp.get('teacher_path')}, "
                                  f"sha256 {str(hp.get('teacher'))[:12]}), not {teacher} "
                                  f"({cfg['teacher'][:12]}); resume with that teacher or start over without --resume")
        check_resume(ckpt_path, cfg, DISTILLED_KEYS, "distill")
        done = int(earlier["global_step"])
    claim(out, "distillation run", legacy=is_run_folder, create=False)
    if resume and not ckpt_path:
        print(f"no {paths['last']} to resume from: starting a new distillation", flush=True)
    iters = cfg["distill_iters"] if max_steps <= 0 else min(max_steps, cfg["distill_iters"])
    if done >= iters:
        print(f"{ckpt_path} has {done} optimizer steps already (asked for {iters}): nothing to train; raise "
              "--distill-iters (or --max-steps) to continue it", flush=True)
    warning = check_cost(cfg, 0, device=device, precision=precision, steps=max(iters - done, 0), factor=2.0,
                         copies=COPIES + 2, what="distils")  # the teacher and the target network: two more copies
    if warning and is_rank_zero():  # before any data is rendered or prepared
        print(warning, flush=True)
    check_disk(cfg, out, numbered=0, what="this distillation")
    prepared = dataset_for(cfg, root=root, progress=progress)
    if "train" not in prepared.splits or prepared.size != cfg["size"]:
        raise DataError(f"{prepared.root}: no {label(cfg['size'])}px train split to distil on")
    with hold(claim(out, "distillation run", legacy=is_run_folder), "semsegdiff distill"):
        if not ckpt_path and is_rank_zero():
            move_aside(out)
        pl.seed_everything(cfg["seed"], workers=True, verbose=False)
        data = SegDataModule(prepared.root, batch_size=cfg["batch_size"], num_workers=cfg["num_workers"])
        loader = data.train_dataloader()
        # epochs enough for the steps still to do after the resumed ones (StopAtStep stops at exactly iters)
        per_epoch = max(len(loader), 1)
        cfg["epochs"] = math.ceil(done / per_epoch) + math.ceil(max(iters - done, 0) / per_epoch) + 1
        ema = EMA(decay=cfg["distill_target_ema"], start=0)
        trainer = make_trainer(cfg, out, name="diffusion", val_every=10**9, accelerator=accelerator,
                               progress=progress, max_steps=iters, resume_step=done if ckpt_path else None,
                               callbacks=[ema])
        student = Distiller(model, **cfg)
        missing, _ = student.load_state_dict(model.state_dict(), strict=False)  # the teacher's weights
        assert all(".guidance_emb." in k for k in missing), missing  # only the guidance input is new
        trainer.fit(student, train_dataloaders=loader, ckpt_path=ckpt_path, weights_only=True)
        return save_final(trainer, paths["checkpoint"])


def ensure_student(cfg: dict[str, Any], teacher: str | Path, *, root: str | Path = ".", progress: bool = True) -> Path:
    """``student/diffusion.ckpt`` next to ``teacher``, distilled from it with ``cfg``'s distillation settings for at
    least ``distill_iters`` steps: reused when it was (for as many steps or more), continued from its ``last.ckpt``
    when the same distillation stopped earlier, distilled anew otherwise. The notebooks' way to get a student."""
    teacher = Path(teacher)
    out = teacher.parent / "student"
    paths = run_paths(out)
    settings = {k: cfg[k] for k in GROUPS["distillation"]}
    try:
        ckpt = read_checkpoint(paths["checkpoint"])
        done, hp = int(ckpt["global_step"]), ckpt["hyper_parameters"]
        same = (hp.get("teacher") == file_fingerprint(teacher)
                and not config_diff(hp, settings, settings.keys() - {"distill_iters"}))
    except CheckpointError:
        same, done = False, 0
    if same and done >= cfg["distill_iters"]:
        print(f"reusing the student {paths['checkpoint']} ({done} optimizer steps from {teacher})", flush=True)
        return paths["checkpoint"]
    resume = same and paths["last"].is_file()
    print(f"distilling a student of {teacher} into {out} ({cfg['distill_iters']} optimizer steps"
          + (f", continuing after {done})" if resume else ")"), flush=True)
    return distill(teacher, root=root, progress=progress, resume=resume, **settings)


def student_series(cfg: dict[str, Any], teacher: str | Path, schedule: list[int], *, root: str | Path = ".",
                   progress: bool = True) -> list[tuple[int, Path, float]]:
    """Students of ``teacher`` after each number of optimizer steps of ``schedule`` (one distillation, continued
    from point to point): (steps, checkpoint, minutes of distillation to get there). Each point is kept as
    ``student/steps-N.ckpt``, reused while the teacher and the distillation settings are the same."""
    out = Path(teacher).parent / "student"
    settings = {k: cfg[k] for k in GROUPS["distillation"] if k != "distill_iters"}
    series = []
    for iters in sorted(set(schedule)):
        kept = out / f"steps-{iters}.ckpt"
        try:
            hp = read_checkpoint(kept)["hyper_parameters"]
            fresh = hp.get("teacher") != file_fingerprint(teacher) or bool(config_diff(hp, settings, settings))
        except CheckpointError:
            fresh = True
        if fresh:
            path = ensure_student({**cfg, "distill_iters": iters}, teacher, root=root, progress=progress)
            if int(read_checkpoint(path)["global_step"]) != iters:  # a longer student was there: start over
                move_aside(out)
                path = ensure_student({**cfg, "distill_iters": iters}, teacher, root=root, progress=progress)
            snapshot(path, kept)
        series.append((iters, kept, distill_minutes(out, iters)))
    return series


def distill_minutes(out: Path, steps: int) -> float:
    """Minutes of distillation in the run folder ``out`` until optimizer step ``steps`` (its logged clock)."""
    try:
        metrics = pd.read_csv(run_paths(out)["metrics"])
    except (OSError, ValueError):
        return float("nan")
    clock = metrics.dropna(subset=["train_minutes"]) if "train_minutes" in metrics else metrics.iloc[:0]
    clock = clock[clock["step"] <= steps]
    return float(clock["train_minutes"].max()) if len(clock) else float("nan")
