"""Figures of the enrichment study: per-class changes, mIoU against N, set-quality predictors, val subsets."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..labels import CLASS_NAMES
from .style import TEXT_WIDTH, class_ticks


def plot_class_deltas(deltas: pd.DataFrame, rare: set[str] = frozenset()) -> plt.Figure:
    """Per-class IoU change against ``real`` (paired by seed), one bar per arm, with 95% bootstrap intervals.

    Classes that no arm changed are left out, except the ``rare`` ones (bold, with a dagger)."""
    labels = [f"{a}" + (f" t={t:g}" if t else "") + (f" N={n:g}x" if n else "")
              for a, n, t in deltas[["arm", "n_mult", "threshold"]].drop_duplicates().itertuples(index=False)]
    keys = deltas[["arm", "n_mult", "threshold"]].drop_duplicates().to_records(index=False).tolist()
    moved = set(deltas.loc[deltas["delta"].abs() > 1e-9, "class"]) | set(rare)  # classes no arm changed: left out
    classes = [c for c in CLASS_NAMES if c in set(deltas["class"]) and c in moved]
    fig, ax = plt.subplots(figsize=(TEXT_WIDTH, 0.16 * len(classes) * max(1, len(keys)) ** 0.5 + 1.2))
    height = 0.8 / len(keys)
    for k, (key, label) in enumerate(zip(keys, labels)):
        t = deltas[(deltas["arm"] == key[0]) & (deltas["n_mult"] == key[1]) & (deltas["threshold"] == key[2])]
        t = t.set_index("class").reindex(classes)
        y = np.arange(len(classes)) - 0.4 + height * (k + 0.5)
        err = np.vstack([(t["delta"] - t["ci_low"]).clip(lower=0).fillna(0), (t["ci_high"] - t["delta"]).clip(lower=0).fillna(0)])
        ax.barh(y, t["delta"] * 100, height=height, color=f"C{k}", label=label, xerr=err * 100,
                error_kw=dict(lw=0.6, capsize=1.5, ecolor="0.3"))
    ax.axvline(0, color="0.2", lw=0.8)
    class_ticks(ax, classes, rare)
    ax.invert_yaxis()
    ax.set_xlabel("IoU change against real only (points; mean over seeds, 95% bootstrap interval)")
    ax.legend(ncol=min(4, len(keys)), loc="upper center", bbox_to_anchor=(0.5, -0.12 * 6 / max(len(classes), 6)),
              frameon=False)
    return fig


def plot_n_curve(summary: pd.DataFrame) -> plt.Figure:
    """Val mIoU against N (generated images per real image) for each arm, one panel per regime; real as a band."""
    regimes = list(dict.fromkeys(summary["regime"]))
    fig, axes = plt.subplots(1, len(regimes), figsize=(TEXT_WIDTH / 2 * len(regimes), 2.6), squeeze=False,
                             sharey=False)
    for ax, regime in zip(axes[0], regimes):
        t = summary[summary["regime"] == regime]
        base = t[t["arm"] == "real"]
        if len(base):
            m, s = float(base["mean"].iloc[0]), float(np.nan_to_num(base["std"].iloc[0]))
            ax.axhspan(m - s, m + s, color="0.88", zorder=0)
            ax.axhline(m, color="0.3", lw=0.9, label="real only (± std)")
        arms = [a for a in dict.fromkeys(t["arm"]) if a != "real"]
        for i, arm in enumerate(arms):
            for j, (thr, a) in enumerate(t[t["arm"] == arm].groupby("threshold")):
                a = a.sort_values("n_mult")
                label = arm + (f" t={thr:g}" if thr else "")
                ax.errorbar(a["n_mult"], a["mean"], yerr=a["std"].fillna(0), marker="osD^v<>p"[i % 7], ms=4, lw=1,
                            capsize=2, color=f"C{i}", ls="-" if j == 0 else "--", label=label)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.set_xlabel("generated images per real training image (N)")
        ax.set_title(f"{regime} data regime", loc="left")
    axes[0][0].set_ylabel("val mIoU (real images)")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig


def plot_predictors(table: pd.DataFrame, metrics: dict[str, str], target: str = "delta") -> plt.Figure:
    """Downstream gain against each set-quality metric (one point per generated set), with Spearman's rho."""
    from scipy.stats import spearmanr

    fig, axes = plt.subplots(1, len(metrics), figsize=(TEXT_WIDTH, 2.4), sharey=True, squeeze=False)
    for ax, (col, label) in zip(axes[0], metrics.items()):
        for i, (arm, t) in enumerate(table.groupby("arm", sort=False)):
            ax.scatter(t[col], t[target] * 100, s=18, color=f"C{i}", label=arm)
        ok = table[[col, target]].dropna()
        rho = spearmanr(ok[col], ok[target]).statistic if len(ok) > 2 else float("nan")
        ax.set_title(f"Spearman ρ = {rho:+.2f}\n(n = {len(ok)} sets)", loc="center")
        ax.set_xlabel(label)
        ax.axhline(0, color="0.4", lw=0.6)
    axes[0][0].set_ylabel("mIoU gain over real (points)")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig


def plot_subset_gaps(gaps: pd.DataFrame) -> plt.Figure:
    """mIoU change against real only on each val subset (all val, night, rain, fog), one marker per arm, with
    95% bootstrap intervals; the real-only mIoU of each subset under its name."""
    subsets = list(dict.fromkeys(gaps["subset"]))
    arms = list(dict.fromkeys(gaps["arm"]))
    fig, ax = plt.subplots(figsize=(TEXT_WIDTH / 2, 2.6))
    for k, arm in enumerate(arms):
        t = gaps[gaps["arm"] == arm].set_index("subset").reindex(subsets)
        x = np.arange(len(subsets)) + (k - (len(arms) - 1) / 2) * 0.18
        err = np.vstack([(t["delta"] - t["ci_low"]).clip(lower=0).fillna(0), (t["ci_high"] - t["delta"]).clip(lower=0).fillna(0)])
        ax.errorbar(x, t["delta"] * 100, yerr=err * 100, fmt="osD^v"[k % 5], ms=4, capsize=2, lw=1, color=f"C{k}",
                    label=arm)
    base = gaps.drop_duplicates("subset").set_index("subset").reindex(subsets)["baseline_mean"]
    ax.set_xticks(np.arange(len(subsets)))
    ax.set_xticklabels([f"{s}\n(real {b:.3f})" for s, b in zip(subsets, base)])
    ax.axhline(0, color="0.2", lw=0.8)
    ax.set_ylabel("mIoU change vs real only (points)")
    ax.grid(axis="x", visible=False)
    ax.legend(loc="best", fontsize=6)
    return fig
