"""Grids of images and masks: pairs, preview grids, rows of generated images, one mask with its legend."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

from ..files import atomic_path
from ..labels import CLASS_NAMES, IGNORE, PALETTE, ids_to_colors
from .style import TEXT_WIDTH


def plot_pairs(images: np.ndarray, masks: np.ndarray, titles: list[str] | None = None) -> plt.Figure:
    """Images (top row) above their masks in the Cityscapes palette (bottom row), with a class legend."""
    n, gap, legend = len(images), 0.03, 0.5  # gap between panels (share of a panel), legend height (in)
    side = TEXT_WIDTH / (n + (n - 1) * gap)
    tall = side * masks[0].shape[0] / masks[0].shape[1]  # panels at the frames' aspect
    height = tall * (2 + gap) + legend
    fig, axes = plt.subplots(2, n, figsize=(TEXT_WIDTH, height), squeeze=False)
    fig.subplots_adjust(left=0, right=1, top=1, bottom=legend / height, wspace=gap, hspace=gap)
    for i in range(n):
        axes[0, i].imshow(images[i])
        axes[1, i].imshow(ids_to_colors(masks[i]), interpolation="nearest")
        if titles:
            axes[0, i].set_title(titles[i], fontsize=6)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    present = sorted(set(np.unique(np.asarray(masks)).tolist()) - {IGNORE})
    handles = [Patch(facecolor=PALETTE[c] / 255, edgecolor="0.3", linewidth=0.3, label=CLASS_NAMES[c]) for c in present]
    if (np.asarray(masks) == IGNORE).any():
        handles.append(Patch(facecolor="black", edgecolor="0.3", linewidth=0.3, label="ignore"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 10), bbox_to_anchor=(0.5, 0.0),
               handlelength=1.0, columnspacing=0.8, borderaxespad=0.1)
    return fig


def preview_grid(masks, images, path: str | Path, real=None, pad: int = 2) -> Path:
    """Write a PNG grid atomically: masks in the palette (top row), generated images, then real ones.

    ``masks`` (N, H, W) ids, ``images``/``real`` uint8 (N, 3, H, W); pixel-exact, no resampling.
    """
    import torch
    from torchvision.io import write_png
    from torchvision.utils import make_grid

    rows = [torch.from_numpy(ids_to_colors(np.asarray(masks))).permute(0, 3, 1, 2), torch.as_tensor(images)]
    if real is not None:
        rows.append(torch.as_tensor(real).cpu())
    grid = make_grid(torch.cat(rows), nrow=len(rows[0]), padding=pad, pad_value=255)
    with atomic_path(path) as tmp:
        write_png(grid, str(tmp))
    return Path(path)


def plot_image_rows(rows: dict[str, np.ndarray], col_titles: list[str] | None = None) -> plt.Figure:
    """A grid of images: one labelled row per entry of ``rows`` (each (N, H, W, 3) uint8 or (N, H, W) ids)."""
    n_rows, n = len(rows), len(next(iter(rows.values())))
    first = np.asarray(next(iter(rows.values()))[0])
    side = TEXT_WIDTH / (n + 0.9)
    tall = side * first.shape[0] / first.shape[1]  # panels at the frames' aspect
    fig, axes = plt.subplots(n_rows, n, figsize=(TEXT_WIDTH, tall * n_rows * 1.04), squeeze=False)
    fig.subplots_adjust(left=0.9 / (n + 0.9), right=1, top=1 - (0.25 / (tall * n_rows) if col_titles else 0),
                        bottom=0, wspace=0.03, hspace=0.03)
    for r, (label, imgs) in enumerate(rows.items()):
        for i in range(n):
            img = np.asarray(imgs[i])
            axes[r, i].imshow(ids_to_colors(img) if img.ndim == 2 else img, interpolation="nearest")
            axes[r, i].set_xticks([])
            axes[r, i].set_yticks([])
            axes[r, i].grid(False)
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    for i, t in enumerate(col_titles or []):
        axes[0, i].set_title(t, fontsize=7)
    return fig


def instance_colors(instances: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 pictures of instance maps: each instance its own colour (tab20 by id), the pixels of no
    instance their class colour faded to grey, so two touching cars read as two."""
    ids, masks = np.asarray(instances).astype(np.int64), np.asarray(masks)
    faded = (0.2 * ids_to_colors(masks).astype(np.float32) + 0.8 * 120).astype(np.uint8)
    table = (np.asarray(plt.get_cmap("tab20").colors)[[0, 2, 4, 6, 8, 12, 16, 18, 1, 3, 5, 7, 9, 13, 17, 19]] * 255)
    return np.where(ids[..., None] > 0, table.astype(np.uint8)[(ids - 1) % len(table)], faded)


def plot_mask(mask: np.ndarray, ax: plt.Axes | None = None, title: str = "") -> plt.Figure:
    """One id mask in the Cityscapes palette (ignore black), pixel-exact, with a legend of the classes it holds."""
    h, w = np.shape(mask)
    if ax is None:
        _, ax = plt.subplots(figsize=(TEXT_WIDTH / 2, TEXT_WIDTH / 2 * h / w / 1.4))
    ax.imshow(ids_to_colors(mask), interpolation="nearest")
    ax.set(xticks=[], yticks=[])
    ax.grid(False)
    colours = {CLASS_NAMES[c] if c != IGNORE else "ignore": PALETTE[c] / 255 if c != IGNORE else "black"
               for c in np.unique(mask).tolist()}
    ax.legend(handles=[Patch(facecolor=v, edgecolor="0.3", linewidth=0.3, label=k) for k, v in colours.items()],
              loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, handlelength=1.0)
    if title:
        ax.set_title(title, loc="left")
    return ax.figure
