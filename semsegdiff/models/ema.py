"""Exponential moving average of the weights (the reference's: a plain copy before ``start``), as a Lightning callback."""
from __future__ import annotations

import itertools
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import WeightAveraging


class EMA(WeightAveraging):
    """Exponential moving average of the weights, tracking the weights exactly before ``start``.

    As in the reference: EMA ``decay`` from step ``start`` on, a plain copy before. Validation,
    previews, checkpoints' ``state_dict`` and the model after training use the EMA weights. The
    update is one fused ``torch._foreach_lerp_`` over all weights, and the step count is the
    trainer's (a Python int): no host sync in the step, unlike ``AveragedModel.update_parameters``.
    """

    def __init__(self, decay: float = 0.995, start: int = 2000):
        def avg_fn(avg: torch.Tensor, current: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
            d = decay * (n >= start)  # n = updates so far = optimizer steps (AveragedModel's own path)
            return avg + (current - avg) * (1 - d)

        super().__init__(avg_fn=avg_fn)
        self.decay, self.start = decay, start

    @property
    def average(self) -> pl.LightningModule | None:
        """The averaged copy of the module being trained (None before training starts)."""
        return None if self._average_model is None else self._average_model.module

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        step = trainer.global_step  # optimizer steps so far; this update is number `step`
        if step <= self._latest_update_step or self._average_model is None:
            return
        avg = self._average_model
        pairs = [(a.detach(), c.detach()) for a, c in zip(itertools.chain(avg.module.parameters(), avg.module.buffers()),
                                                          itertools.chain(pl_module.parameters(), pl_module.buffers()))]
        floats = [(a, c) for a, c in pairs if a.is_floating_point()]
        others = [(a, c) for a, c in pairs if not a.is_floating_point()]
        weight = 1.0 - self.decay if step - 1 >= self.start and step > 1 else 1.0  # n = step - 1 updates before this
        if floats:
            torch._foreach_lerp_([a for a, _ in floats], [c for _, c in floats], weight)
        for a, c in others:
            a.copy_(c)
        avg.n_averaged += 1  # stays on the device: no sync
        self._latest_update_step = step
