"""Known harmless third-party messages, filtered so that the lines that matter stay visible.

Each entry names a message the libraries print on every run that asks nothing of the user
(device banners, advertising tips, deprecations inside Lightning itself). Anything not listed
here still prints. :func:`quiet` is idempotent; the CLI calls it at start, and so does every
trainer the package builds (notebooks included).
"""
from __future__ import annotations

import logging
import warnings

# (category, regex at the start of the message) of harmless warnings
WARNINGS = [
    (Warning, r".*isinstance\(treespec, LeafSpec\)` is deprecated"),  # Lightning 2.6 on torch >= 2.10, inside Lightning
    (Warning, r"The number of training batches \(\d+\) is smaller than the logging interval"),  # short epochs
    (Warning, r"Metric `(FrechetInceptionDistance|KernelInceptionDistance|Kernel Inception Distance)` will save all "
              r"extracted features"),
    (Warning, r"The '(predict|val|train)_dataloader' does not have many workers"),  # the loaders are in-memory arrays
    (Warning, r"Trying to infer the `batch_size` from an ambiguous collection"),
    (Warning, r"You are using `torch.load` with `weights_only=False`"),  # Lightning's own resume path
    (Warning, r"You defined a `validation_step` but have no `val_dataloader`"),  # runs without validation, on purpose
]
# Lightning's rank-zero info lines: device banners, tips, and "max_epochs reached"
BANNERS = ("GPU available:", "TPU available:", "HPU available:", "💡 Tip", "`Trainer.fit` stopped:",
           "LOCAL_RANK:", "You are using a CUDA device", "Using bfloat16 Automatic Mixed Precision",
           "Using 16bit Automatic Mixed Precision", "Loading `train_dataloader` to estimate number of stepping batches")


class _DropBanners(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).lstrip().startswith(BANNERS)


def quiet() -> None:
    """Filter the harmless messages listed in this module (once per process)."""
    for category, message in WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero",
                 "lightning_fabric.utilities.rank_zero", "pytorch_lightning.accelerators.cuda"):
        log = logging.getLogger(name)
        if not any(isinstance(f, _DropBanners) for f in log.filters):
            log.addFilter(_DropBanners())
