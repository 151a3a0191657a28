"""Figures of the conditions beyond the mask: the attribute check and what attribute guidance buys."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..attributes import NAMES
from .style import TEXT_WIDTH, attribute_label


def plot_condition_check(table: pd.DataFrame) -> plt.Figure:
    """Per asked-for attribute value, one panel per attribute: (top) the share of generated images the classifier
    recovers it in, beside its recall on real images of that value (the ceiling); (bottom, where measured) the
    judge's consistency on the generated images beside its consistency on the real images of the value."""
    t = table[table["attribute"].isin(NAMES)]  # the asked-for values, not the (none) or (baseline) rows
    attributes = list(dict.fromkeys(t["attribute"]))
    widths = [max(2, (t["attribute"] == a).sum()) for a in attributes]
    panels = [("real_recall", "recovered", "classified as asked", "real images of the value (ceiling)",
               "generated, asked for the value")]
    if "real_consistency" in t:
        panels.append(("real_consistency", "consistency_miou", "consistency mIoU", "real images of the value",
                       "generated on their masks"))
    fig, axes = plt.subplots(len(panels), len(attributes), figsize=(TEXT_WIDTH, 2.1 * len(panels) + 0.3),
                             squeeze=False, sharey="row", gridspec_kw=dict(width_ratios=widths, hspace=0.65))
    for row, (ref, gen, ylabel, ref_label, gen_label) in enumerate(panels):
        top = max(1.0 if row == 0 else 0.0, float(np.nanmax(t[[ref, gen]].to_numpy(float)))) * 1.4  # the legend
        for ax, a in zip(axes[row], attributes):
            s = t[t["attribute"] == a]
            x = np.arange(len(s))
            ax.bar(x - 0.2, s[ref].fillna(0), width=0.38, color="0.75", edgecolor="0.3", lw=0.4, label=ref_label)
            ax.bar(x + 0.2, s[gen], width=0.38, color="C0", edgecolor="0.3", lw=0.4, label=gen_label)
            if row == 0:
                for xi, n in zip(x, s["real_images"]):
                    label = f"n={int(n)}" if np.isfinite(n) and n > 0 else "no real images"
                    ax.text(xi - 0.2, 0.02 * top, label, rotation=90, ha="center", va="bottom", fontsize=6,
                            color="0.2")
            ax.set_xticks(x)
            ax.set_xticklabels(s["value"], rotation=30, ha="right")
            ax.set_title(a if row == 0 else f"{a}: the mask kept", loc="left")
            ax.set_ylim(0, top)
            ax.grid(axis="x", visible=False)
        axes[row][0].set_ylabel(ylabel)
        handles, labels = axes[row][0].get_legend_handles_labels()
        axes[row][-1].legend(handles, labels, loc="upper right", fontsize=6, frameon=True, framealpha=0.9)
    return fig


def plot_attribute_guidance(sweep: pd.DataFrame, table: dict[str, float], default: float) -> plt.Figure:
    """The price of a stronger condition, value by value, against one attribute guidance scale for all: (a) the
    value recovered over its real recall, (b) consistency over the judge's on its real images; targets dotted, each
    value's scale in use (``table``, else ``default``) marked on its line."""
    fig, axes = plt.subplots(1, 2, figsize=(TEXT_WIDTH, 2.6), sharex=True, gridspec_kw={"wspace": 0.3})
    styles = {a: ls for a, ls in zip(NAMES, ("-", "--", ":"))}
    for k, ((a, v), t) in enumerate(sweep.groupby(["attribute", "value"], sort=False)):
        used = table.get(v, default)
        for ax, col in zip(axes, ("recovered_vs_ceiling", "consistency_vs_real")):
            ax.plot(t["attribute_guidance"], t[col], styles.get(a, "-"), marker="os^Dv<>"[k % 7], ms=3.5,
                    color=f"C{k % 10}", label=f"{attribute_label(a)}: {v}")
            at = t[np.isclose(t["attribute_guidance"], used)]
            ax.plot(at["attribute_guidance"], at[col], "o", ms=8, mfc="none", mec=f"C{k % 10}", mew=1.2)
    axes[0].axhline(0.9, color="C2", ls=":", lw=1)
    axes[1].axhline(0.95, color="C2", ls=":", lw=1)
    for ax in axes:
        ax.axvline(default, color="0.5", ls="--", lw=0.8)
        ax.set_xlabel("attribute guidance scale $g_a$ (every value)")
    axes[0].text(default, 0.02, f" default {default:g}", transform=axes[0].get_xaxis_transform(), fontsize=6,
                 color="0.4")
    axes[0].set_ylabel("recovered / its real recall")
    axes[1].set_ylabel("consistency / real images'")
    axes[0].set_title("(a) the condition obeyed (target 0.9)", loc="left")
    axes[1].set_title("(b) the mask kept (target 0.95)", loc="left")
    axes[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=6, title="circled: scale in use",
                   title_fontsize=6)
    return fig
