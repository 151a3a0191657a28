"""Run profiles, the groups and rules of their settings, and the runtime every run prints first.

One code path, three profiles: ``quick`` (CPU, minutes: CI and ``make run``), ``gpu`` (one GPU, minutes: the
paper-size U-Net on the embedded scenes at 128 px), ``paper`` (GPU, 128x128 BDD100K, the reference's settings). Every
setting is a ``semsegdiff train`` flag and a notebook override; :func:`check_setting`
converts a value to the type of its quick default and checks its range, so ``5e-4`` from a
command line or a YAML notebook parameter is the number 0.0005, and ``--steps 0`` is an error.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import yaml

from .attributes import check_value_scales
from .errors import SettingError
from .frame import check_multiple, frame, parse_size
from .recipe import RARE_CONDITIONS, STEPS, parse_n, parse_shares

QUICK: dict[str, Any] = {
    # data
    "data": "synthetic",  # the embedded procedural dataset, or a dataset/cache path
    "size": 32,  # frame after crop and resize: a side (a square, the reference's crop) or HxW such as 32x56
    "crop": 0.5,  # where the crop sits along the side it cuts: 0 top / left, 0.5 centre, 1 bottom / right
    "n_synthetic": 2000,  # scenes generated when data == "synthetic"
    "val_fraction": 0.125,  # val share of layouts without their own splits (synthetic, reference)
    "seed": 0,  # synthetic scenes, train/val split, weight initialisation
    "cache": "data",  # where generated and prepared datasets are kept
    # model (semsegdiff.models.CondUNet)
    "channels": 32,  # width of the first U-Net level
    "channel_mult": [1, 2, 2],  # width multipliers per resolution
    "num_res_blocks": 1,  # residual blocks per encoder level
    "attn_levels": 1,  # self-attention in this many lowest resolutions (and the middle)
    "emb_dim": 128,  # time-embedding width
    "injection": "input_add",  # mask injection: input_add (reference) or spade (SDM)
    "mask_hidden": 32,  # width of the mask encoder
    "dropout": 0.0,
    "attributes": True,  # also condition on time of day, weather and scene type (semsegdiff.attributes)
    "scale_shift": True,  # the time/attribute embedding scales and shifts each block's GroupNorm (AdaGN), not added
    "instance_edges": False,  # an instance-boundary channel beside the one-hot mask (semsegdiff.models.condition)
    "upscale": 1,  # 1: a base model; k > 1: the cascade's upscaler from a frame k times smaller (models/cascade.py)
    # diffusion (diffusers schedulers)
    "noise_schedule": "squaredcos_cap_v2",  # or "reference" (half-cosine betas 1e-4..0.02)
    "prediction_type": "v_prediction",  # or "epsilon" (the reference's)
    "num_train_timesteps": 1000,
    # training (Lightning)
    "p_uncond": 0.1,  # per-sample mask dropout for classifier-free guidance
    "p_uncond_attr": 0.15,  # per-sample, per-attribute dropout (each condition guided on its own)
    "attribute_balance": 0.0,  # draw images with weight prod share(value)^-this (1: every value alike); cost Table I: off
    "attribute_lr_scale": 30.0,  # lr of the attribute embeddings (zero at the start) = this x lr: at 1 they stay small
    "epochs": 12,  # 3.0 min in bf16 on a 2-core EPYC; Table I flat from 12 on (benchmarks/epochs_curve.py)
    "batch_size": 32,  # per device
    "lr": 1e-3,
    "weight_decay": 0.0,
    "grad_clip": 1.0,  # gradient norm clipping (0: off)
    "ema_decay": 0.995,
    "ema_start": 200,  # optimizer steps before the EMA starts averaging (a copy before)
    "train_crop": 0,  # train on random square crops of this side (0: whole frames); an upscaler samples whole frames
    "noise_aug": 0.5,  # an upscaler's low-res input is noised to a level drawn in [0, this] x the timesteps (CDM)
    "init": "",  # start from this checkpoint's weights ("": from scratch); what it lacks starts at zero (warm_start.py)
    # run: how training is carried out and logged; none of these changes the trained model
    "num_workers": 0,  # DataLoader workers per device
    "ckpt_every": 4,  # keep a numbered checkpoint every N epochs (last.ckpt: every epoch); notebook 06 scores each
    "preview_every": 4,  # validation loss + preview grid every N epochs
    "n_preview": 8,  # masks in a preview grid
    "log_every": 10,  # optimizer steps between logged training losses
    "logger": "csv",  # csv or tensorboard
    "devices": "auto",  # Lightning devices: auto, N, or a list of GPU ids
    "num_nodes": 1,
    "strategy": "auto",  # auto picks DDP for several devices (ddp_notebook inside Jupyter)
    "ckpt_minutes": 0.0,  # last.ckpt every N minutes of training (0: at the end of every epoch); --resume loses <= N
    "channels_last": False,  # channels-last memory format for the U-Net's convolutions (faster on recent GPUs)
    "compile": False,  # torch.compile the U-Net (nn.Module.compile; compiles once, pays off on long GPU runs)
    "precision": "auto",  # auto: bf16 mixed on CUDA and on CPUs with native bf16, else fp32; 32; bf16-mixed
    "allow_slow": False,  # start a CPU run estimated at over an hour (refused otherwise, before any work)
    "sampler": "dpmsolver++",  # sampling: see CHOICES["sampler"]
    "steps": 10,  # notebook 04: DPM-Solver++ 10 scores as 20 does here (consistency 0.308 vs 0.302), at half the time
    "guidance": 1.75,  # classifier-free guidance (1: conditional only, 0: unconditional): Table I's best FID ratio
    "attribute_guidance": 2.5,  # scale of the attributes asked for (= guidance: one joint scale, 2 forwards; else 3)
    "condition_guidance": {"night": 1.0, "rain": 3.5, "fog": 4.0},  # per value instead: night drawn unguided, fog not
    "aug_level": 0.1,  # an upscaler's low-res input noised to this x the timesteps at sampling (notebook 07's sweep)
    # judge: the segmenter that scores generated images (semsegdiff.eval.judge), trained on the real train split
    "judge_arch": "unet_resnet18",  # see CHOICES["judge_arch"]
    "judge_epochs": 8,  # its val mIoU is flat from epoch 8 on (an earlier run: 0.265 at 8 and at 10)
    "judge_batch_size": 32,
    "judge_lr": 3e-3,  # peak of a one-cycle schedule
    "judge_weights": "",  # local weights file for its encoder/backbone ("": trained from scratch; never downloaded)
    # evaluation (semsegdiff.eval.evaluate)
    "eval_masks": 250,  # val masks scored (the first N; the quick val split has 250)
    "eval_per_mask": 2,  # images per mask, one per generation seed: metrics are mean +- std over them
    "eval_seed": 1000,  # seed of the first generated image
    "inception": "",  # FID Inception weights file (torch-fidelity's pt_inception-2015-12-05); "": judge features
    # enrichment ablation (semsegdiff.eval.ablation): segmenters trained on real + generated data, scored on real val
    "ablate_arms": ["real", "real+gen", "real+gen hard"],  # quick: 3 of CHOICES["ablate_arms"] (+ real+rare: a minute)
    "ablate_regimes": ["low"],  # "full": every real train image; "low": ablate_low_fraction of them
    "ablate_low_fraction": 0.1,
    "ablate_n": [2.0],  # generated images per real training image (N = this x the real count)
    "ablate_seeds": 3,  # segmenter seeds per arm (paired across arms)
    "ablate_gen_seeds": 1,  # generation seeds: run s uses generated set s mod this
    "ablate_steps": 300,  # optimizer steps of every segmenter (the same schedule for every arm)
    "ablate_arch": "unet_resnet18",  # the segmenter (never the judge's weights)
    "filter_thresholds": [1.25, 2.0],  # FreeMask: a pixel is ignored when its loss > this x its class's mean real loss
    "hard_max": 20,  # FreeMask re-sampling: at most this many generated images for the hardest mask
    "ablate_student": "",  # a distilled student of the study's checkpoint (semsegdiff distill): arm real+gen student
    # distillation (semsegdiff.models.distill, `semsegdiff distill`): a latent-consistency (LCM) student for 1-4 steps
    "distill_iters": 1200,  # optimizer steps of the student (from the teacher's weights); ~26 min on 2 CPU cores
    "distill_lr": 2e-4,
    "distill_grid": 50,  # the teacher's ODE grid: one DDIM step spans num_train_timesteps / this (LCM's skipping step)
    "distill_guidance": [1.0, 3.0],  # range of guidance scales the student learns, drawn uniformly per image
    "distill_target_ema": 0.95,  # EMA decay of the target network (LCM's mu); the student's saved weights too
    "distill_steps": 4,  # the student's default sampling steps (any of 1 .. distill_grid works)
    # enrichment (semsegdiff enrich): the exported dataset; each default from the study (docs/enrichment.md)
    "enrich_n": "10x",  # generated images: a multiple of the real train images, or a count ("5000")
    "enrich_recipe": {"hard": 0.7, "rare": 0.15, "cond": 0.15},  # shares of the steps (semsegdiff.recipe.STEPS)
    "enrich_conditions": {"night": 1.0, "rain": 1.0, "fog": 1.0},  # shares of the rare conditions `cond` asks for
    "enrich_filter": 1.25,  # FreeMask: a generated label pixel whose loss > this x its class's real mean is 255; 0 off
    "enrich_real": "link",  # the real train pairs in the export: link (hard links), copy, or none
}

PAPER_UNET = {  # the reference's network size: 72.2 M parameters, 217 GFLOP per 128x128 forward
    "channels": 128, "channel_mult": [1, 2, 2, 4], "num_res_blocks": 2, "attn_levels": 2, "emb_dim": 256,
    "mask_hidden": 64,
}
PROFILES: dict[str, dict[str, Any]] = {
    "quick": QUICK,  # CPU, minutes: what CI and `make run` use
    "gpu": {  # one GPU, minutes (`make run PROFILE=gpu`): the paper-size U-Net on the embedded scenes at 128 px
        **QUICK, **PAPER_UNET,
        "size": 128, "n_synthetic": 8000, "steps": 20,  # 7000 train / 1000 val, BDD100K's split sizes
        "instance_edges": True,  # the embedded scenes carry instance ids
        "epochs": 10, "batch_size": 128, "lr": 5e-4, "weight_decay": 0.01, "ema_start": 200,
        "num_workers": 6, "ckpt_every": 10, "preview_every": 5, "log_every": 20, "ckpt_minutes": 5.0,
        "judge_epochs": 10, "judge_batch_size": 64, "eval_masks": 500,
        "ablate_steps": 400, "ablate_n": [1.0], "ablate_gen_seeds": 2, "distill_iters": 2000,
    },
    "paper": {  # GPU, the reference's resolution and hyper-parameters
        **QUICK, **PAPER_UNET,
        "data": "data/bdd100k",  # official BDD100K layout (images/10k, labels/sem_seg)
        "size": 128, "attributes": False, "scale_shift": False, "steps": 20,  # the reference's: mask alone, added emb
        "epochs": 300, "batch_size": 50, "lr": 3e-4, "weight_decay": 0.01, "ema_start": 2000,
        "num_workers": 4, "ckpt_every": 25, "preview_every": 10, "log_every": 50, "ckpt_minutes": 10.0,
        "guidance": 3.0, "attribute_guidance": 3.0,  # the reference's
        "judge_epochs": 60, "eval_masks": 1000, "ablate_gen_seeds": 2,
        "ablate_arms": ["real", "real+gen", "real+gen filtered", "real+gen hard", "real+rare", "real+rare local",
                        "real+copypaste", "gen only"],  # every arm but real+cond (the reference has no attributes)
        "ablate_regimes": ["full", "low"], "ablate_n": [0.25, 0.5, 1.0, 2.0], "ablate_seeds": 5,
        "ablate_steps": 20000, "ablate_arch": "deeplabv3_resnet50", "distill_iters": 10000, "distill_lr": 1e-4,
        "enrich_recipe": {"hard": 0.85, "rare": 0.15},  # no attributes: no cond step
    },
}
# The WINS 2024 recipe as its code ran it, on our code path: to reproduce the reference and compare it with `paper`
# on the same data. What `paper` changes, and why (each measured; DESIGN.md and docs/experiments.md):
PAPER_VS_REFERENCE = {
    "noise_schedule": "squaredcos_cap_v2 instead of the reference's half-cosine betas: with v-prediction the schedule "
                      "the fast solvers were checked on",
    "prediction_type": "v-prediction instead of epsilon: with epsilon the x0 estimate at t ~ T is divided by "
                       "sqrt(alpha_bar_T) (0.007 for the reference betas), DPM-Solver++ diverges (mIoU 0.02 vs 0.90)",
    "sampler": "DPM-Solver++ instead of DDPM: within a point of DDPM 1000 in consistency (notebook 04), 50x faster",
    "steps": "20 instead of 1000 (with the guidance of both branches in one batched forward)",
}
# The cascade's second stage of each profile: `semsegdiff train --profile quick-upscaler`; a fully convolutional
# U-Net (no attention) trained on crops, sampling whole frames from the base's images (semsegdiff.models.cascade).
UPSCALER = {"upscale": 4, "attn_levels": 0, "noise_aug": 0.5, "aug_level": 0.1}
PROFILES["quick-upscaler"] = {**QUICK, **UPSCALER, "upscale": 2, "size": 64, "train_crop": 32,  # 32 -> 64: make run's
                              "n_synthetic": 800, "epochs": 8}  # minutes (x4 to 128 px: docs/experiments.md)
PROFILES["gpu-upscaler"] = {**PROFILES["gpu"], **UPSCALER, "size": 512, "train_crop": 128,  # 128 -> 512 px
                            "channels": 64, "channel_mult": [1, 2, 2, 4], "num_res_blocks": 2, "instance_edges": False}
PROFILES["paper-upscaler"] = {**PROFILES["paper"], **UPSCALER, "size": "512x896", "train_crop": 128,  # 128x224 ->
                              "channels": 64, "channel_mult": [1, 2, 2, 4], "num_res_blocks": 2, "epochs": 100}
STAGES = {"quick-upscaler": "quick", "gpu-upscaler": "gpu", "paper-upscaler": "paper"}  # upscaler -> its base
PROFILES["reference"] = {  # the reference recipe: `semsegdiff train --profile reference` (a GPU profile)
    **PROFILES["paper"], "noise_schedule": "reference", "prediction_type": "epsilon", "sampler": "ddpm", "steps": 1000,
}

# Groups of settings, defined once (in the order of QUICK above).
GROUPS: dict[str, tuple[str, ...]] = {
    "data": ("data", "size", "crop", "n_synthetic", "val_fraction", "seed", "cache"),
    "model": ("channels", "channel_mult", "num_res_blocks", "attn_levels", "emb_dim", "injection", "mask_hidden",
              "dropout", "attributes", "scale_shift", "instance_edges", "upscale"),  # CondUNet keyword arguments
    "schedule": ("noise_schedule", "prediction_type", "num_train_timesteps"),  # make_scheduler keyword arguments
    "training": ("p_uncond", "p_uncond_attr", "attribute_balance", "attribute_lr_scale", "epochs", "batch_size", "lr",
                 "weight_decay", "grad_clip", "ema_decay", "ema_start", "train_crop", "noise_aug", "init"),
    "run": ("num_workers", "ckpt_every", "preview_every", "n_preview", "log_every", "logger", "devices", "num_nodes",
            "strategy", "ckpt_minutes", "channels_last", "compile", "precision", "allow_slow"),
    "sampling": ("sampler", "steps", "guidance", "attribute_guidance", "condition_guidance",  # generate()'s defaults,
                 "aug_level"),  # stored with the model
    "judge": ("judge_arch", "judge_epochs", "judge_batch_size", "judge_lr", "judge_weights"),
    "evaluation": ("eval_masks", "eval_per_mask", "eval_seed", "inception"),
    "ablation": ("ablate_arms", "ablate_regimes", "ablate_low_fraction", "ablate_n", "ablate_seeds", "ablate_gen_seeds",
                 "ablate_steps", "ablate_arch", "filter_thresholds", "hard_max", "ablate_student"),
    "distillation": ("distill_iters", "distill_lr", "distill_grid", "distill_guidance", "distill_target_ema",
                     "distill_steps"),
    "enrichment": ("enrich_n", "enrich_recipe", "enrich_conditions", "enrich_filter", "enrich_real"),
}
MODEL_KEYS = GROUPS["model"]
SCHEDULE_KEYS = GROUPS["schedule"]
# What a resumed run cannot change: the weights' shapes and what they were trained for (dropout has no weights).
SHAPE_KEYS = ("num_classes", "size", *(k for k in MODEL_KEYS if k != "dropout"))
# ... nor its optimizer's parameter groups: a resumed optimizer keeps the learning rates it was saved with.
RESUME_KEYS = (*SHAPE_KEYS, "attribute_lr_scale")
# What checkpoints saved before a setting existed were trained with (loading fills these in, not the profile's value).
LEGACY = {"attributes": False, "scale_shift": False, "attribute_balance": 0.0, "attribute_lr_scale": 1.0, "crop": 0.5,
          "instance_edges": False, "upscale": 1, "train_crop": 0, "noise_aug": 0.5, "init": ""}
# Settings that do not change what training produces: a checkpoint trained with other values is reused.
RUN_ONLY_KEYS = ("profile", "cache", *GROUPS["run"], *GROUPS["sampling"], *GROUPS["judge"], *GROUPS["evaluation"],
                 *GROUPS["ablation"], *GROUPS["distillation"], *GROUPS["enrichment"])
OPTIONAL_PATHS = ("judge_weights", "inception", "ablate_student", "init")  # may be "" (not given)

# The rules of each setting: allowed choices, or an inclusive (low, high) range (None: unbounded).
CHOICES: dict[str, tuple[str, ...]] = {
    "injection": ("input_add", "spade"),
    "noise_schedule": ("squaredcos_cap_v2", "linear", "scaled_linear", "reference"),
    "prediction_type": ("v_prediction", "epsilon"),
    "logger": ("csv", "tensorboard"),
    "precision": ("auto", "32", "bf16-mixed"),  # semsegdiff.precision
    "strategy": ("auto", "ddp", "ddp_spawn", "ddp_notebook", "fsdp"),
    "sampler": ("ddpm", "ddim", "dpmsolver++", "unipc", "lcm"),  # lcm: a distilled student's (semsegdiff distill)
    "judge_arch": ("unet_resnet18", "deeplabv3_resnet50"),
    "ablate_arch": ("unet_resnet18", "deeplabv3_resnet50"),
    "ablate_arms": ("real", "real+gen", "real+gen filtered", "real+gen hard", "real+rare", "real+rare local",
                    "real+copypaste", "real+cond", "gen only", "real+gen student"),
    "ablate_regimes": ("full", "low"),
    "enrich_real": ("link", "copy", "none"),
}
RANGES: dict[str, tuple[float | None, float | None]] = {
    "size": (8, 2048), "crop": (0.0, 1.0), "n_synthetic": (2, 10_000_000), "val_fraction": (0.0, 0.9),
    "seed": (0, 2**32 - 1), "upscale": (1, 16), "train_crop": (0, 4096), "noise_aug": (0.0, 1.0),
    "aug_level": (0.0, 1.0),
    "channels": (1, 1024), "channel_mult": (1, 16), "num_res_blocks": (1, 8), "attn_levels": (0, 8),
    "emb_dim": (1, 8192), "mask_hidden": (1, 1024), "dropout": (0.0, 0.95), "num_train_timesteps": (2, 100_000),
    "p_uncond": (0.0, 0.99), "p_uncond_attr": (0.0, 0.99), "attribute_balance": (0.0, 1.0),
    "attribute_lr_scale": (0.0, 1000.0), "attribute_guidance": (0.0, 100.0), "epochs": (1, 1_000_000),
    "batch_size": (1, 65_536), "lr": (1e-9, 1.0),
    "weight_decay": (0.0, 10.0), "grad_clip": (0.0, 1e6), "ema_decay": (0.0, 0.99999), "ema_start": (0, None),
    "num_workers": (0, 256), "ckpt_every": (1, None), "preview_every": (1, None), "n_preview": (1, 256),
    "log_every": (1, None), "num_nodes": (1, 4096), "ckpt_minutes": (0.0, None), "steps": (1, 1000), "guidance": (0.0, 100.0),
    "judge_epochs": (1, 100_000), "judge_batch_size": (1, 65_536), "judge_lr": (1e-9, 1.0), "eval_masks": (2, 10**7),
    "eval_per_mask": (1, 64), "eval_seed": (0, 2**32 - 1), "ablate_low_fraction": (0.001, 1.0), "ablate_n": (0.01, 100.0),
    "ablate_seeds": (1, 100), "ablate_gen_seeds": (1, 16), "ablate_steps": (1, 10**7), "filter_thresholds": (0.01, 100.0),
    "hard_max": (1, 1000), "distill_iters": (1, 10**8), "distill_lr": (1e-9, 1.0), "distill_grid": (2, 1000),
    "distill_guidance": (0.0, 100.0), "distill_target_ema": (0.0, 0.99999), "distill_steps": (1, 1000),
    "enrich_filter": (0.0, 100.0),
    # flags of other commands, checked by the same rules
    "per_mask": (1, 100_000), "workers": (1, 256), "max_steps": (-1, None), "resample": (0, 100), "dilate": (0, 64),
}
OTHER_DEFAULTS: dict[str, Any] = {"per_mask": 1, "workers": 4, "max_steps": -1, "resample": 0, "dilate": 2}  # types


FLAGS = {"distill_steps": "semsegdiff distill --steps", "enrich_n": "--n", "enrich_recipe": "--recipe",
         "enrich_conditions": "--conditions", "enrich_filter": "--filter", "enrich_real": "--real"}  # not --<key>
SHARE_KEYS = {"enrich_recipe": STEPS, "enrich_conditions": tuple(RARE_CONDITIONS)}


def check_setting(key: str, value: Any) -> Any:
    """``value`` converted to the type of ``key``'s quick default and checked against its rules.

    Strings are read as YAML first (``"5e-4"`` -> 0.0005, ``"[1, 2]"`` -> [1, 2]). Raises
    :class:`SettingError` naming the setting and its flag.
    """
    name = f"{key} ({FLAGS.get(key, '--' + key.replace('_', '-'))})"
    if key not in QUICK and key not in OTHER_DEFAULTS:
        raise SettingError(f"unknown setting {key!r}; valid: {', '.join(QUICK)}")
    default = QUICK.get(key, OTHER_DEFAULTS.get(key))
    if key == "devices":
        return _devices(name, value)
    if key == "size":
        value = parse_size(value, name)
        for side in frame(value):
            _check_rule(name, key, side)
        return value
    if key == "enrich_n":
        parse_n(value, name)
        return str(value).strip().lower()
    if isinstance(value, str) and not isinstance(default, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise SettingError(f"{name}: {value!r} is not valid YAML ({str(e).splitlines()[0]})") from None
    if isinstance(default, dict):  # a guidance scale per value, or shares of a recipe's steps or conditions
        return check_value_scales(value, name) if key not in SHARE_KEYS else parse_shares(value, SHARE_KEYS[key], name)
    if isinstance(default, list):
        kind, longest = type(default[0]), 6 if key == "channel_mult" else 16
        example = {int: "[1, 2, 2]", float: "[0.5, 1.0]", str: f"[{default[0]}]"}[kind]
        if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= longest:
            raise SettingError(f"{name}: expected a list of 1 to {longest} {kind.__name__} values such as {example}, "
                               f"got {value!r}")
        value = [_scalar(name, key, v, kind) for v in value]
    else:
        value = _scalar(name, key, value, type(default))
    for v in value if isinstance(value, list) else [value]:
        _check_rule(name, key, v)
    return value


def _scalar(name: str, key: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise SettingError(f"{name}: expected true or false, got {value!r}")
        return value
    if kind is str:
        if key in OPTIONAL_PATHS and value in ("", None):
            return ""
        if not isinstance(value, str) or not value.strip():
            raise SettingError(f"{name}: expected a non-empty string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):  # "1e-3" that YAML 1.1 keeps as a string, "0x10", ...
            try:
                value = float(value)
            except ValueError:
                raise SettingError(f"{name}: {value!r} is not a number") from None
        else:
            raise SettingError(f"{name}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise SettingError(f"{name}: must be a finite number, got {value!r}")
    if kind is int:
        if value != int(value):
            raise SettingError(f"{name}: expected a whole number, got {value!r}")
        return int(value)
    return float(value)


def _check_rule(name: str, key: str, value: Any) -> None:
    if key in CHOICES and value not in CHOICES[key]:
        raise SettingError(f"{name}: {value!r} is not one of {', '.join(CHOICES[key])}")
    low, high = RANGES.get(key, (None, None))
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise SettingError(f"{name}: {value!r} is out of range; must be {bounds}")


def _devices(name: str, value: Any) -> Any:
    """Lightning's devices: "auto", a count >= 1, or a list of GPU ids."""
    if isinstance(value, str) and value.strip() != "auto":
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            pass
    ok = value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1024) or (
        isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                                 for v in value))
    if not ok:
        raise SettingError(f"{name}: expected 'auto', a count such as 2, or a list of GPU ids such as [0, 1]; "
                           f"got {value!r}")
    return value


def validate(cfg: dict[str, Any]) -> dict[str, Any]:
    """Check (and convert) every known setting of ``cfg`` and their combinations; return the converted copy."""
    out = dict(cfg)
    for key in cfg:
        if key in QUICK:
            out[key] = check_setting(key, cfg[key])
    if "channel_mult" in out and "size" in out:
        halvings = len(out["channel_mult"]) - 1
        check_multiple(out["size"], 2 ** halvings, f"channel_mult {out['channel_mult']} ({halvings} downsamplings)")
        if out.get("attn_levels", 0) > len(out["channel_mult"]):
            raise SettingError(f"attn_levels (--attn-levels): {out['attn_levels']} is more than the "
                               f"{len(out['channel_mult'])} levels of channel_mult {out['channel_mult']}")
    if out.get("upscale", 1) > 1 and "size" in out:
        check_multiple(out["size"], out["upscale"], f"upscale {out['upscale']} (the base's frame is size / upscale)")
    crop = out.get("train_crop", 0)
    if crop and "size" in out:
        need = math.lcm(2 ** (len(out.get("channel_mult", [1])) - 1), out.get("upscale", 1))
        if crop % need or crop > min(frame(out["size"])):
            raise SettingError(f"train_crop (--train-crop): {crop} must be a multiple of {need} (the U-Net's "
                               f"downsamplings and upscale) and at most the frame's shorter side "
                               f"({min(frame(out['size']))}); 0 trains on whole frames")
    if "real+gen student" in out.get("ablate_arms", []) and not out.get("ablate_student"):
        raise SettingError("ablate_arms (--ablate-arms): the arm 'real+gen student' needs the student's checkpoint "
                           "(ablate_student, --ablate-student; made by semsegdiff distill)")
    lo_hi = out.get("distill_guidance", [0.0, 0.0])
    if len(lo_hi) != 2 or lo_hi[0] > lo_hi[1]:
        raise SettingError(f"distill_guidance (--distill-guidance): expected [low, high] with low <= high, got {lo_hi}")
    if out.get("distill_steps", 0) > out.get("distill_grid", math.inf):
        raise SettingError(f"distill_steps (semsegdiff distill --steps): {out['distill_steps']} is more than the "
                           f"{out['distill_grid']} timesteps of distill_grid the student is distilled on; choose "
                           f"1..{out['distill_grid']} (the student is made for 1-4)")
    if out.get("steps", 0) > out.get("num_train_timesteps", math.inf):
        raise SettingError(f"steps (--steps): {out['steps']} is more than num_train_timesteps "
                           f"({out['num_train_timesteps']})")
    return out


def get_profile(name: str, **overrides: Any) -> dict[str, Any]:
    """Settings of profile ``name`` with ``overrides`` applied (``None`` keeps the default), checked."""
    if name not in PROFILES:
        raise SettingError(f"profile (--profile): unknown profile {name!r}; choose one of: {', '.join(PROFILES)}")
    cfg = dict(PROFILES[name], profile=name)
    for key, value in overrides.items():
        if key not in cfg:
            raise SettingError(f"unknown setting {key!r} for profile {name!r}; valid: {', '.join(sorted(QUICK))}")
        if value is not None:
            cfg[key] = value
    return validate(cfg)


# Notebook parameters that set a profile setting under another name (the others are named as the setting).
NOTEBOOK_SETTINGS = {"arms": "ablate_arms", "regimes": "ablate_regimes", "n_generated": "ablate_n",
                     "seeds": "ablate_seeds", "train_steps": "ablate_steps", "sampling_steps": "steps",
                     "n_masks": "eval_masks", "per_mask": "eval_per_mask", "student": "ablate_student"}


def parameter_setting(name: str) -> str | None:
    """The profile setting a notebook parameter sets (``arms`` -> ``ablate_arms``), or None."""
    key = NOTEBOOK_SETTINGS.get(name, name)
    return key if key in QUICK and name not in ("profile", "overrides") else None


def resolve(profile: str, overrides: dict[str, Any] | None = None, *, defaults: dict[str, Any] | None = None,
            **settings: Any) -> dict[str, Any]:
    """A notebook's settings, each from one place: the profile's, then the notebook's ``defaults``, then
    ``overrides``, then ``settings`` (its parameters by setting name; None: not given). A setting given both as a
    parameter and in ``overrides`` is refused, never silently replaced by one of them."""
    overrides = dict(overrides or {})
    if not all(isinstance(k, str) for k in overrides):
        raise SettingError(f"overrides: expected a mapping of setting names to values, got {overrides!r}")
    both = sorted(k for k, v in settings.items() if v is not None and k in overrides)
    if both:
        names = {v: k for k, v in NOTEBOOK_SETTINGS.items()}
        raise SettingError("; ".join(f"{k}: given both as the notebook parameter {names.get(k, k)} and in overrides"
                                     for k in both) + "; give each setting in one place")
    return get_profile(profile, **{**(defaults or {}), **overrides,
                                   **{k: v for k, v in settings.items() if v is not None}})


def device_and_precision(precision: str = "auto") -> tuple[str, str]:
    """The automatic device (CUDA when present, else the CPU) and the Lightning precision of the ``precision``
    setting there (:mod:`semsegdiff.precision`: auto is bf16 mixed on CUDA and on CPUs with native bf16)."""
    from .precision import lightning_precision

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return device, lightning_precision(precision, device)


def check_device(device: str | None, flag: str = "--accelerator") -> str:
    """The device to run on: ``device`` (cpu, cuda, gpu, cuda:N) if it is there, else the automatic choice."""
    if device is None:
        return device_and_precision()[0]
    kind = device.split(":")[0]
    if kind not in ("cpu", "cuda", "gpu"):
        raise SettingError(f"{flag}: {device!r} is not one of cpu, cuda, gpu (or cuda:N)")
    if kind != "cpu" and not torch.cuda.is_available():
        raise SettingError(f"{flag} {device}: no CUDA GPU is visible to PyTorch here; use cpu or leave it out")
    if ":" in device:
        index = device.split(":")[1]
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise SettingError(f"{flag} {device}: there are {torch.cuda.device_count()} GPUs (cuda:0 ...)")
    return device
