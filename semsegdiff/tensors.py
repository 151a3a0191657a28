"""Crossing the tensor/array boundary on any device: the one way a tensor reaches numpy, and back.

A CUDA tensor refuses ``.cpu().numpy()`` (and ``np.asarray``); every conversion in the package goes
through :func:`to_numpy`, which copies to the CPU first. ``tests/test_devices.py`` checks the
package's source for ``.cpu().numpy()`` calls that do not come straight after ``.cpu()``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch


def to_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """A numpy array of ``x`` from any device (a copy when ``x`` was not on the CPU)."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def as_tensor(x: Any) -> torch.Tensor:
    """``x`` as a tensor: a tensor stays on its device; arrays, memory maps and lists become CPU tensors (a copy)."""
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.array(x))
