"""Figures of the model and its images: loss curves, per-class IoU, samplers, guidance, targets against minutes."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .style import TEXT_WIDTH, class_colors, class_ticks


def plot_loss_curves(metrics: pd.DataFrame) -> plt.Figure:
    """Training loss per step (light), its running mean and the validation loss per epoch, log scale."""
    fig, ax = plt.subplots(figsize=(TEXT_WIDTH / 2, 2.4))
    train = metrics.dropna(subset=["train_loss_step"]) if "train_loss_step" in metrics else metrics.iloc[:0]
    if len(train):
        ax.plot(train["step"], train["train_loss_step"], color="C0", alpha=0.25, lw=0.6, label="train (per step)")
        smooth = train["train_loss_step"].rolling(max(1, len(train) // 20), min_periods=1).mean()
        ax.plot(train["step"], smooth, color="C0", lw=1.2, label="train (running mean)")
    if "val_loss" in metrics:
        val = metrics.dropna(subset=["val_loss"])
        ax.plot(val["step"], val["val_loss"], "o-", color="C3", ms=3, lw=1.0, label="val (fixed noise)")
    ax.set_yscale("log")
    plain = plt.FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.tick_params(axis="y", which="minor", labelsize=6)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("MSE loss")
    ax.legend()
    return fig


def plot_per_class_iou(per_class: pd.DataFrame, rare: set[str] = frozenset()) -> plt.Figure:
    """Per-class IoU of the judge on real vs generated images (which classes the generator fails)."""
    t = per_class.dropna(subset=["iou_real", "iou_generated"], how="all").copy()
    t = t.iloc[::-1]  # first class on top
    y = np.arange(len(t))
    colors = class_colors()
    fig, ax = plt.subplots(figsize=(TEXT_WIDTH / 2, 0.19 * len(t) + 0.8))
    ax.barh(y + 0.2, t["iou_real"].fillna(0), height=0.38, color="0.75", edgecolor="0.3", linewidth=0.4,
            label="real images (ceiling)")
    ax.barh(y - 0.2, t["iou_generated"].fillna(0), height=0.38, color=[colors[c] for c in t["class"]],
            edgecolor="0.3", linewidth=0.4, label="generated images")
    class_ticks(ax, list(t["class"]), rare)
    ax.set_yticks(y)
    ax.set_xlim(0, 1)
    ax.set_xlabel("IoU (judge segmenter)")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower right")
    return fig


def plot_sampler_sweep(sweep: pd.DataFrame, reference: tuple[str, int] = ("ddpm", 1000),
                       column: str = "mIoU_on_subset") -> plt.Figure:
    """Each setting against seconds per image: its mIoU gap to the reference procedure with the 95% interval paired
    by mask (``gap_points``, :func:`semsegdiff.eval.reference_gaps`) and the 1-point target dotted; without gaps,
    consistency mIoU (on the masks every setting was scored on) with the reference as a band."""
    gaps = "gap_points" in sweep
    column = "gap_points" if gaps else column if column in sweep else "mIoU"
    fig, ax = plt.subplots(figsize=(TEXT_WIDTH / 2, 2.8))
    ref = sweep[(sweep["sampler"] == reference[0]) & (sweep["steps"] == reference[1])]
    name = f"{reference[0]} {reference[1]}"
    if gaps:
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axhline(-1, ls=":", color="0.3", lw=0.9, label="target: 1 point below")
    elif len(ref):
        r = float(ref[column].iloc[0])
        ax.axhspan(r - 0.01, r + 0.01, color="0.88", zorder=0, label=f"{name} ± 1 point")
    markers = dict(zip(sweep["sampler"].unique(), "osD^v<>"))
    for i, (sampler, t) in enumerate(sweep.groupby("sampler", sort=False)):
        t = t.sort_values("steps")
        x = t["seconds_per_image"] * (1 + 0.04 * (i - 2)) if gaps else t["seconds_per_image"]  # bars side by side
        if gaps and not (sampler == reference[0] and (t["steps"] == reference[1]).all()):
            ax.errorbar(x, t[column], yerr=[t[column] - t["gap_low"], t["gap_high"] - t[column]], fmt="none",
                        ecolor=f"C{i}", elinewidth=0.8, capsize=1.5, alpha=0.7)
        ax.plot(x, t[column], marker=markers[sampler], ms=4, lw=1, color=f"C{i}", label=sampler)
        for xi, (_, row) in zip(x, t.iterrows()):
            ax.annotate(f"{row['steps']}", (xi, row[column]), textcoords="offset points", xytext=(3, 4), fontsize=6,
                        color=f"C{i}")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("seconds per image (log; labels: steps)")
    if gaps:
        n = int(ref["n_masks"].iloc[0]) if len(ref) else None
        ax.set_ylabel(f"mIoU points vs {name}\n(95% CI{f', {n} masks' if n else ''})")
    else:
        n = int(sweep["n_masks"].min()) if column == "mIoU" else None
        ax.set_ylabel("consistency mIoU" + (f" ({n} masks)" if n else " (the reference masks)"))
    ax.legend(ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.28), frameon=False)
    return fig


def plot_guidance_sweep(sweep: pd.DataFrame, default: float, ceiling: float) -> plt.Figure:
    """Consistency against the FID-to-floor ratio and against diversity, one point per guidance scale."""
    fig, axes = plt.subplots(1, 2, figsize=(TEXT_WIDTH, 2.6), sharey=True, gridspec_kw={"wspace": 0.08})
    fid_col = "FID_ratio"
    for ax, x, label in ((axes[0], fid_col, "FID / real-vs-real floor (judge features)"),
                         (axes[1], "diversity", "diversity (mean feature distance within a mask)")):
        ax.plot(sweep[x], sweep["mIoU"], "-", color="0.6", lw=0.8, zorder=1)
        ax.errorbar(sweep[x], sweep["mIoU"], yerr=sweep["mIoU_std"], fmt="o", color="C0", ms=4, capsize=2, zorder=2,
                    label="mean ± std over seeds")
        d = sweep[np.isclose(sweep["guidance"], default)]
        ax.scatter(d[x], d["mIoU"], marker="*", s=140, color="C3", zorder=3, label=f"default (guidance {default:g})")
        for _, row in sweep.iterrows():
            ax.annotate(f"g={row['guidance']:g}", (row[x], row["mIoU"]), textcoords="offset points", xytext=(5, -9),
                        fontsize=6)
        ax.axhline(ceiling, color="0.3", ls="--", lw=0.8, label="real images (ceiling)")
        ax.set_xlabel(label)
    axes[0].axvline(2.0, color="C2", ls=":", lw=1, label="target: 2x floor")
    axes[0].set_ylabel("consistency mIoU")
    axes[0].set_title("(a) consistency vs realism", loc="left")
    axes[1].set_title("(b) consistency vs diversity", loc="left")
    axes[0].legend(loc="lower right")
    return fig


def plot_target_curves(curve: pd.DataFrame, panels: list[tuple[str, str, float, bool]], by: str,
                       crossings: dict[str, pd.DataFrame] | None = None,
                       xlabel: str = "minutes of compute (log)") -> plt.Figure:
    """A target against minutes: one panel per (column, label, target, higher is better), one line per ``by``
    value; the target dotted, and where :func:`semsegdiff.eval.curves.crossing` extrapolates a crossing beyond
    the last point, a dashed line to it (labelled with its minutes)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(TEXT_WIDTH * len(panels) / 2, 2.5), squeeze=False)
    for ax, (column, label, target, higher) in zip(axes[0], panels):
        for i, (key, group) in enumerate(curve.sort_values("minutes").groupby(by)):
            color = f"C{i}"
            name = str(key) if by == "series" else f"{by} {key}"
            ax.plot(group["minutes"], group[column], "o-", color=color, ms=3, lw=1.0, label=name)
            low, high = (f"{column.rsplit('_', 1)[0]}_{end}" for end in ("low", "high"))
            if low in group and high in group:  # the interval of each point (gap_points: gap_low, gap_high)
                ax.fill_between(group["minutes"], group[low], group[high], color=color, alpha=0.12, lw=0)
            cross = (crossings or {}).get(column)
            row = cross[cross[by] == key] if cross is not None else pd.DataFrame()
            if len(row) and row["how"].iloc[0].startswith("extrapolated") and np.isfinite(row["crosses_at_minutes"].iloc[0]):
                at = float(row["crosses_at_minutes"].iloc[0])
                ax.plot([group["minutes"].iloc[-1], at], [group[column].iloc[-1], target], "--", color=color, lw=0.8)
                ax.annotate(f"~{at:.0f} min", (at, target), fontsize=6, color=color, xytext=(-24, -10 - 8 * i),
                            textcoords="offset points")
        ax.axhline(target, ls=":", color="0.3", lw=0.9, label=f"target ({'>=' if higher else '<='} {target:g})")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(plt.FuncFormatter(  # 2 and 5 between the decades, not 2 x 10^0
            lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
    axes[0][0].legend()
    fig.tight_layout()
    return fig


def plot_aug_sweep(sweep: pd.DataFrame, default: float, ceiling: float) -> plt.Figure:
    """The upscaler's noise-augmentation sweep: consistency and FID / floor against the level its input is noised to."""
    fig, axes = plt.subplots(1, 2, figsize=(TEXT_WIDTH, 2.4), gridspec_kw={"wspace": 0.3})
    for ax, y, label in ((axes[0], "miou", "consistency mIoU (high-res judge)"),
                         (axes[1], "fid_ratio", "FID / real-vs-real floor")):
        err = sweep[f"{y.split('_')[0]}_std"] / (sweep["fid_floor"] if y == "fid_ratio" else 1)
        ax.errorbar(sweep["aug_level"], sweep[y], yerr=err, fmt="o-", color="C0", ms=4, capsize=2, lw=0.8,
                    label="mean ± std over the images per mask")
        d = sweep[np.isclose(sweep["aug_level"], default)]
        ax.scatter(d["aug_level"], d[y], marker="*", s=140, color="C3", zorder=3, label=f"default ({default:g})")
        ax.set_xlabel("noise level of the base's image (x timesteps)")
        ax.set_ylabel(label)
    axes[0].axhline(ceiling, color="0.3", ls="--", lw=0.8, label="real images (ceiling)")
    axes[0].axhline(0.95 * ceiling, color="C2", ls=":", lw=1, label="target: 0.95x ceiling")
    axes[1].axhline(2.0, color="C2", ls=":", lw=1, label="target: 2x floor")
    axes[0].set_title("(a) consistency", loc="left")
    axes[1].set_title("(b) realism", loc="left")
    for ax in axes:
        ax.legend(loc="best", fontsize=6)
    return fig
