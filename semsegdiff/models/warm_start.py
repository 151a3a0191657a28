"""Warm start (the setting ``init``): a new training run that begins from a trained checkpoint's weights.

Every weight the checkpoint has is copied. What it lacks starts silent, so the warm-started model draws
what the checkpoint drew until training teaches it the new input: input channels it did not take (an
instance-edge channel, an upscaler's low-res image) get zero weights, as ControlNet adds a condition to a
trained model, and parts it did not have keep their own start (the attribute and noise-level embeddings
start at zero). The optimizer and the EMA start afresh; ``--resume`` is what continues a run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import SCHEDULE_KEYS
from ..errors import CheckpointError, SettingError
from ..labels import NUM_CLASSES
from .module import DiffusionModule, read_checkpoint


def check_init(path: str | Path, cfg: dict[str, Any]) -> list[str]:
    """Refuse, before any work, an ``init`` checkpoint the run's model cannot start from; return what starts new.

    The model of ``cfg`` is built on the ``meta`` device (no memory, no compute) and filled as training would.
    """
    hp = read_checkpoint(path)["hyper_parameters"]
    if "teacher" in hp:
        raise SettingError(f"init (--init): {path} is a distilled student; start from its teacher")
    for key in ("num_classes", *SCHEDULE_KEYS):
        theirs, ours = hp.get(key), cfg.get(key, NUM_CLASSES if key == "num_classes" else None)
        if theirs is not None and theirs != ours:
            raise SettingError(f"init (--init): {path} was trained with {key} {theirs!r}, this run has {ours!r}: "
                               "its weights predict for another set-up")
    with torch.device("meta"):
        module = DiffusionModule(**cfg)
    return warm_start(module.model, path)


def warm_start(model: nn.Module, path: str | Path) -> list[str]:
    """Copy the weights of the checkpoint ``path`` into ``model`` (a CondUNet); return what starts new.

    Nothing is changed when a weight does not fit: CheckpointError naming the file and the weight.
    """
    state = {k.removeprefix("model."): v for k, v in read_checkpoint(path)["state_dict"].items()
             if k.startswith("model.")}
    own = model.state_dict()
    extra = sorted(set(state) - set(own))
    if extra:
        raise CheckpointError(f"init (--init): {path} has weights this run's model lacks ({', '.join(extra[:3])}"
                              f"{', ...' if len(extra) > 3 else ''}): start from a model with fewer parts, not more")
    new, widen = [n for n in own if n not in state], []
    for name, src in state.items():
        dst = own[name]
        if src.shape == dst.shape:
            continue
        if (src.dim() == dst.dim() >= 2 and src.shape[0] == dst.shape[0] and src.shape[2:] == dst.shape[2:]
                and src.shape[1] < dst.shape[1]):
            widen.append(name)
            continue
        raise CheckpointError(f"init (--init): {path}: the weight {name} is {tuple(src.shape)} there and "
                              f"{tuple(dst.shape)} here; only new input channels and new parts can start from zero")
    with torch.no_grad():  # every weight checked: now copy
        for name, src in state.items():
            dst = own[name]
            if name in widen:
                dst.zero_()
                dst[:, :src.shape[1]].copy_(src)
            else:
                dst.copy_(src)
    return [f"{n} (+{own[n].shape[1] - state[n].shape[1]} input channels at zero)" for n in widen] + new
