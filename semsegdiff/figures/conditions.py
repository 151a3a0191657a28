"""Figures of the conditions beyond the mask: the attribute check and what attribute guidance buys."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..attributes import NAMES
from .style import TEXT_WIDTH, attribute_label


def plot_condition_check(table: pd.DataFrame) -> plt.Figure:
    """Per asked-for attribute value: the share of generated images the classifier recovers it in, beside its
    recall on real images of that value (the ceiling); one panel per attribute."""
    t = table[table["attribute"].isin(NAMES)]  # the asked-for values, not the (none) or (baseline) rows
    attributes = list(dict.fromkeys(t["attribute"]))
    widths = [max(2, (t["attribute"] == a).sum()) for a in attributes]
    fig, axes = plt.subplots(1, len(attributes), figsize=(TEXT_WIDTH, 2.4), squeeze=False, sharey=True,
                             gridspec_kw=dict(width_ratios=widths))
    for ax, a in zip(axes[0], attributes):
        s = t[t["attribute"] == a]
        x = np.arange(len(s))
        ax.bar(x - 0.2, s["real_recall"].fillna(0), width=0.38, color="0.75", edgecolor="0.3", lw=0.4,
               label="real images of the value (ceiling)")
        ax.bar(x + 0.2, s["recovered"], width=0.38, color="C0", edgecolor="0.3", lw=0.4,
               label="generated, asked for the value")
        for xi, n in zip(x, s["real_images"]):
            label = f"n={int(n)}" if np.isfinite(n) and n > 0 else "no real images"
            ax.text(xi - 0.2, 0.02, label, rotation=90, ha="center", va="bottom", fontsize=6, color="0.2")
        ax.set_xticks(x)
        ax.set_xticklabels(s["value"], rotation=30, ha="right")
        ax.set_title(a, loc="left")
        ax.set_ylim(0, 1.05)
        ax.grid(axis="x", visible=False)
    axes[0][0].set_ylabel("classified as asked")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=2, frameon=False, bbox_to_anchor=(0.5, 1.08))
    return fig


def plot_attribute_guidance(sweep: pd.DataFrame, default: float) -> plt.Figure:
    """The price of a stronger condition: per attribute, against its guidance scale, (a) the asked-for value
    recovered over the real ceiling and (b) mask consistency relative to no attribute asked; targets dotted."""
    fig, axes = plt.subplots(1, 2, figsize=(TEXT_WIDTH, 2.4), sharex=True, gridspec_kw={"wspace": 0.3})
    for k, (a, t) in enumerate(sweep.groupby("attribute", sort=False)):
        axes[0].plot(t["attribute_guidance"], t["recovered_vs_ceiling"], "-" + "os^D"[k % 4], ms=4, color=f"C{k}",
                     label=attribute_label(a))
        axes[1].plot(t["attribute_guidance"], 100 * t["consistency_vs_none"], "-" + "os^D"[k % 4], ms=4,
                     color=f"C{k}", label=attribute_label(a))
    axes[0].axhline(0.9, color="C2", ls=":", lw=1, label="target: 0.9x ceiling")
    axes[1].axhspan(-2, 2, color="C2", alpha=0.12, lw=0, label="target: within 2%")
    for ax in axes:
        ax.axvline(default, color="0.5", ls="--", lw=0.8)
        ax.set_xlabel("attribute guidance scale $g_a$")
    axes[0].text(default, 0.02, f" default {default:g}", transform=axes[0].get_xaxis_transform(), fontsize=6,
                 color="0.4")
    axes[0].set_ylabel("recovered / real ceiling")
    axes[1].set_ylabel("consistency vs no attribute (%)")
    axes[0].set_title("(a) the condition obeyed", loc="left")
    axes[1].set_title("(b) the mask kept", loc="left")
    axes[0].legend(loc="lower right")
    axes[1].legend(loc="lower left")
    return fig
