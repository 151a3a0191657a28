"""Figures of a dataset: class distribution, scene attributes and their joints, object sizes, co-occurrence."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from ..attributes import ATTRIBUTES, UNKNOWN
from .style import (
    SPLIT_STYLES,
    TEXT_WIDTH,
    UNKNOWN_COLOR,
    attribute_label,
    class_colors,
    class_ticks,
    grey_unknown,
    split_handles,
    value_color,
)


def plot_class_distribution(table: pd.DataFrame, rare: set[str] = frozenset(), title: str = "") -> plt.Figure:
    """Pixel share (log) and image share per class and split; classes sorted by train pixel share."""
    splits = list(dict.fromkeys(table["split"]))
    order = table[table["split"] == splits[0]].sort_values("pixel_share", ascending=False)["class"].tolist()
    colors = class_colors()
    fig, axes = plt.subplots(1, 2, figsize=(TEXT_WIDTH, 4.0), sharey=True, gridspec_kw={"wspace": 0.06})
    height = 0.8 / len(splits)
    for ax, col, label in zip(axes, ("pixel_share", "image_share"), ("share of labelled pixels", "share of images containing the class")):
        for k, split in enumerate(splits):
            t = table[table["split"] == split].set_index("class").loc[order]
            y = np.arange(len(order)) - 0.4 + height * (k + 0.5)
            values = t[col].to_numpy() * (1 if col == "pixel_share" else 100)
            ax.barh(y, values, height=height, color=[colors[c] for c in order], edgecolor="0.25",
                    linewidth=0.4, **SPLIT_STYLES[k % len(SPLIT_STYLES)])
        ax.set_xlabel(label + (" (%)" if col == "image_share" else " (log)"))
        if col == "pixel_share":  # a log axis cannot show zero: say so
            absent = table[table["split"] == splits[0]].set_index("class").loc[order, col].to_numpy() == 0
            for y in np.flatnonzero(absent):
                ax.text(0.01, y, f"absent from {splits[0]}", transform=ax.get_yaxis_transform(),
                        va="center", fontsize=6, color="0.4", style="italic")
        ax.grid(axis="y", visible=False)
    axes[0].set_xscale("log")
    axes[0].set_xlim(left=max(1e-6, table.loc[table["pixel_share"] > 0, "pixel_share"].min() / 2))
    axes[1].set_xlim(0, 100)
    class_ticks(axes[0], order, rare)
    axes[0].invert_yaxis()
    legend_title = "italic: things; † rare" if rare else "italic: things"
    axes[1].legend(handles=split_handles(table), loc="lower right", title=legend_title, title_fontsize=7)
    axes[0].set_title("(a) pixel frequency", loc="left")
    axes[1].set_title("(b) image frequency", loc="left")
    if title:
        fig.suptitle(title, fontsize=9, y=1.0)
    return fig


def plot_attributes(table: pd.DataFrame) -> plt.Figure:
    """Share of images per value of time of day, weather and scene type, one panel each; splits as bar styles.

    ``table`` is :func:`semsegdiff.data.attribute_table`; unknown (no file, or undefined) is grey,
    each bar is labelled with its image count.
    """
    splits = list(dict.fromkeys(table["split"]))
    names = list(dict.fromkeys(table["attribute"]))
    widths = [len(ATTRIBUTES[a]) + 1 for a in names]
    fig, axes = plt.subplots(1, len(names), figsize=(TEXT_WIDTH, 2.3), sharey=True,
                             gridspec_kw={"width_ratios": widths, "wspace": 0.06})
    width = 0.8 / len(splits)
    top = 100 * table["share"].max()
    for ax, attribute, letter in zip(np.atleast_1d(axes), names, "abcdefgh"):
        t = table[table["attribute"] == attribute]
        values = list(dict.fromkeys(t["value"]))
        for k, split in enumerate(splits):
            rows = t[t["split"] == split].set_index("value").loc[values]
            x = np.arange(len(values)) - 0.4 + width * (k + 0.5)
            bars = ax.bar(x, rows["share"] * 100, width=width, color=[value_color(attribute, v) for v in values],
                          edgecolor="0.25", linewidth=0.4, **SPLIT_STYLES[k % len(SPLIT_STYLES)])
            ax.bar_label(bars, labels=[f"{n:,}" for n in rows["images"]], fontsize=5, padding=1, color="0.25",
                         rotation=90 if len(splits) > 1 else 0)
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels(values, rotation=30, ha="right", rotation_mode="anchor")
        grey_unknown(ax.get_xticklabels())
        ax.grid(axis="x", visible=False)
        ax.set_xlim(-0.6, len(values) - 0.4)
        ax.set_title(f"({letter}) {attribute_label(attribute)}", loc="left")
    axes[0].set_ylabel("share of images (%)")
    axes[0].set_ylim(0, top * 1.15 + 3)  # room for the bar labels
    fig.legend(handles=[*split_handles(table), Patch(facecolor=UNKNOWN_COLOR, edgecolor="0.25", linewidth=0.4,
                                                      label="unknown (no attribute, or undefined)")],
               loc="upper center", bbox_to_anchor=(0.5, -0.05), ncol=len(splits) + 1,
               title="bar labels: number of images", title_fontsize=6)
    return fig


def plot_attribute_joint(joint: pd.DataFrame, by_value: pd.DataFrame, attribute: str = "time",
                         classes: list[str] | None = None) -> plt.Figure:
    """(a) Images per pair of values of two attributes (``joint``: :func:`semsegdiff.data.attribute_joint`),
    with their share of all images, unknown in grey; (b) share of images containing each class per
    value of ``attribute``.

    ``by_value`` is :func:`semsegdiff.data.attribute_class_table`; ``classes`` default to all,
    sorted by their overall image share. Values without images are left out of (b).
    """
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(TEXT_WIDTH, 3.0),
                                 gridspec_kw={"width_ratios": [1.15, 1], "wspace": 0.55})
    total = max(1, int(joint.to_numpy().sum()))
    known = np.ones(joint.shape, bool)
    known[[i for i, v in enumerate(joint.index) if v == UNKNOWN], :] = False
    known[:, [j for j, v in enumerate(joint.columns) if v == UNKNOWN]] = False
    labels = np.vectorize(lambda n: f"{n:,}\n{100 * n / total:.1f}%" if n else "0")(joint.to_numpy())
    style = dict(annot=labels, fmt="", annot_kws={"fontsize": 5.5}, linewidths=0.5, linecolor="white", ax=ax)
    sns.heatmap(joint, mask=~known, cmap="mako_r", vmin=0, vmax=max(1, int(joint.to_numpy()[known].max())),
                cbar_kws={"label": "images", "shrink": 0.8, "pad": 0.03}, **style)
    sns.heatmap(joint, mask=known, cmap=ListedColormap(["0.92"]), cbar=False, **style)
    ax.set_xlabel(joint.columns.name)
    ax.set_ylabel(attribute_label(joint.index.name))
    ax.tick_params(axis="x", rotation=30)
    ax.tick_params(axis="y", rotation=0)
    grey_unknown([*ax.get_xticklabels(), *ax.get_yticklabels()])
    ax.set_title(f"(a) {attribute_label(joint.index.name)} × {joint.columns.name}", loc="left")

    t = by_value[(by_value["attribute"] == attribute) & (by_value["value"] != UNKNOWN) & (by_value["value_images"] > 0)]
    overall = by_value[by_value["attribute"] == attribute].groupby("class", sort=False)["images"].sum()
    order = classes or overall.sort_values(ascending=False).index.tolist()
    y = {c: i for i, c in enumerate(order)}
    values = list(dict.fromkeys(t["value"]))
    for c in order:  # the spread between values, then a dot per value
        share = t.loc[t["class"] == c, "image_share"] * 100
        if len(share):
            bx.plot([share.min(), share.max()], [y[c]] * 2, color="0.75", lw=1.2, zorder=1)
    for k, v in enumerate(values):
        rows = t[(t["value"] == v) & t["class"].isin(order)]
        n = int(rows["value_images"].iloc[0])
        bx.scatter(rows["image_share"] * 100, rows["class"].map(y), s=14, color=value_color(attribute, v),
                   edgecolor="0.2", linewidth=0.4, zorder=2, marker="osD^v"[k % 5], label=f"{v} ({n:,})")
    class_ticks(bx, order, set())
    bx.invert_yaxis()
    bx.set_xlim(-2, 102)
    bx.set_xlabel("share of images containing the class (%)")
    bx.grid(axis="y", lw=0.3)
    if values:
        bx.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=min(len(values), 3), handletextpad=0.2,
                  columnspacing=1.0, title=f"{attribute_label(attribute)} (images)", title_fontsize=6)
    else:
        bx.text(0.5, 0.5, f"no {attribute_label(attribute)} known", transform=bx.transAxes, ha="center",
                color="0.4", style="italic")
    bx.set_title(f"(b) classes by {attribute_label(attribute)}", loc="left")
    return fig


def plot_object_areas(areas: pd.DataFrame, order: list[str], rare: set[str] = frozenset()) -> plt.Figure:
    """Box plot of connected-region areas (% of the image, log) per class; diamonds mark the mean."""
    data = areas.assign(area_pct=areas["area_share"] * 100, **{"class": areas["class"].astype(str)})
    present = [c for c in order if c in set(data["class"])]
    fig, ax = plt.subplots(figsize=(TEXT_WIDTH / 2, 4.0))
    sns.boxplot(data=data, x="area_pct", y="class", order=present, hue="class", hue_order=present,
                palette=class_colors(), legend=False, log_scale=True, whis=(5, 95), showfliers=False,
                showmeans=True, linewidth=0.6, width=0.7, ax=ax,
                meanprops=dict(marker="D", markerfacecolor="white", markeredgecolor="black", markersize=3))
    class_ticks(ax, present, rare)
    ax.set_xlabel("region area (% of image, log); whiskers 5-95%")
    ax.set_ylabel("")
    ax.set_title("(c) size of connected regions", loc="left")
    return fig


def plot_cooccurrence(cond: pd.DataFrame) -> plt.Figure:
    """Heatmap of P(column class present | row class present), in percent; absent classes left out."""
    present = cond.index[cond.notna().any(axis=1)]
    pct = cond.loc[present, present] * 100
    fig, ax = plt.subplots(figsize=(TEXT_WIDTH * 0.72, TEXT_WIDTH * 0.62))
    sns.heatmap(pct, ax=ax, cmap="mako_r", vmin=0, vmax=100, square=True, annot=True, fmt=".0f",
                annot_kws={"fontsize": 4.5}, linewidths=0.3, linecolor="white",
                cbar_kws={"label": "P(column | row) (%)", "shrink": 0.75})
    ax.set_xlabel("class also present")
    ax.set_ylabel("given class present")
    ax.tick_params(axis="x", rotation=90)
    ax.set_title("(d) class co-occurrence in images", loc="left")
    return fig
