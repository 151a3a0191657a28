"""Plotting helpers with one house style; every figure is saved as PNG + PDF + the CSV behind it."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from .attributes import ATTRIBUTES, NAMES, UNKNOWN
from .files import atomic_path
from .labels import CLASS_NAMES, IGNORE, LABELS, PALETTE, ids_to_colors

TEXT_WIDTH = 7.0  # inches: a two-column paper's full width
SPLIT_STYLES = [dict(alpha=1.0, hatch=None), dict(alpha=0.45, hatch="////"), dict(alpha=0.25, hatch="...")]
UNKNOWN_COLOR = "0.8"
ATTRIBUTE_COLORS = {  # a colour per value that reads as the condition; unknown is grey
    "time": {"day": "#E8B33A", "dusk/dawn": "#C8553D", "night": "#22306B"},
    "weather": {"clear": "#5DA9E9", "cloudy": "#8D99AE", "rain": "#1F5F8B", "snow": "#A7D8DE", "fog": "#B5A886"},
    "scene": {"city": "#8C4A2F", "residential": "#E39B52", "highway": "#4C72B0", "rural/other": "#5B9A52"},
}


def set_style() -> None:
    """The house style: white grid, small serif-free fonts sized for a paper column."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=0.95, rc={
        "figure.dpi": 110, "savefig.dpi": 200, "savefig.bbox": "tight", "axes.titleweight": "bold",
        "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
        "legend.fontsize": 7, "legend.frameon": False, "pdf.fonttype": 42, "grid.linewidth": 0.5,
    })


def class_colors() -> dict[str, tuple[float, float, float]]:
    """Class name -> matplotlib colour from the Cityscapes palette."""
    return {label.name: tuple(c / 255 for c in label.color) for label in LABELS}


def folder(root: str | Path, profile: str) -> Path:
    """Where a notebook's figures go: ``figures/`` for the quick profile (the README's), ``figures/<profile>/`` else."""
    return Path(root) / "figures" if profile == "quick" else Path(root) / "figures" / profile


def save(fig: plt.Figure, name: str, out_dir: str | Path = "figures", data: pd.DataFrame | None = None) -> list[Path]:
    """Write ``name``.png, ``name``.pdf and (when ``data`` is given) ``name``.csv atomically."""
    out_dir = Path(out_dir)
    written = []
    for ext in ("png", "pdf"):
        with atomic_path(out_dir / f"{name}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, metadata={"CreationDate": None} if ext == "pdf" else None)  # reproducible
        written.append(out_dir / f"{name}.{ext}")
    if data is not None:
        with atomic_path(out_dir / f"{name}.csv") as tmp:
            data.to_csv(tmp, index=not isinstance(data.index, pd.RangeIndex), float_format="%.6g")
        written.append(out_dir / f"{name}.csv")
    return written


def save_data(data: pd.DataFrame, name: str, out_dir: str | Path = "figures") -> Path:
    """Write the numbers behind a figure or table as ``name``.csv, atomically."""
    with atomic_path(Path(out_dir) / f"{name}.csv") as tmp:
        data.to_csv(tmp, index=not isinstance(data.index, pd.RangeIndex), float_format="%.6g")
    return Path(out_dir) / f"{name}.csv"


def save_table(table: pd.DataFrame, name: str, out_dir: str | Path = "figures", caption: str | dict = "") -> list[Path]:
    """Write a table as ``name``.csv, ``name``.md and ``name``.tex (booktabs), atomically; the caption under it."""
    out_dir = Path(out_dir)
    if isinstance(caption, dict):
        caption = "; ".join(f"{k}: {v}" for k, v in caption.items()
                            if k not in ("checkpoint", "judge", "tables", "source", "created"))
    written = []
    for ext, text in (("csv", table.to_csv()), ("md", table.to_markdown() + (f"\n\n{caption}\n" if caption else "\n")),
                      ("tex", table.style.to_latex(hrules=True, caption=caption or None))):
        with atomic_path(out_dir / f"{name}.{ext}") as tmp:
            tmp.write_text(text)
        written.append(out_dir / f"{name}.{ext}")
    return written


def _class_ticks(ax: plt.Axes, order: list[str], rare: set[str]) -> None:
    """Class names on the y axis: things in italics, rare classes bold with a dagger."""
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels([f"{c} †" if c in rare else c for c in order])
    things = {label.name for label in LABELS if label.thing}
    for tick, cls in zip(ax.get_yticklabels(), order):
        tick.set_fontstyle("italic" if cls in things else "normal")
        tick.set_fontweight("bold" if cls in rare else "normal")


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
    _class_ticks(axes[0], order, rare)
    axes[0].invert_yaxis()
    legend_title = "italic: things; † rare" if rare else "italic: things"
    axes[1].legend(handles=_split_handles(table), loc="lower right", title=legend_title, title_fontsize=7)
    axes[0].set_title("(a) pixel frequency", loc="left")
    axes[1].set_title("(b) image frequency", loc="left")
    if title:
        fig.suptitle(title, fontsize=9, y=1.0)
    return fig


def _split_handles(table: pd.DataFrame) -> list[Patch]:
    """Legend patches of the splits of a long table (split, split_images): the bar style of each, with its size."""
    splits = list(dict.fromkeys(table["split"]))
    n_images = {s: int(table.loc[table["split"] == s, "split_images"].iloc[0]) for s in splits}
    return [Patch(facecolor="0.55", edgecolor="0.25", linewidth=0.4, **SPLIT_STYLES[k % len(SPLIT_STYLES)],
                  label=f"{s} ({n_images[s]:,} image{'s' if n_images[s] != 1 else ''})") for k, s in enumerate(splits)]


def _value_color(attribute: str, value: str) -> str:
    return ATTRIBUTE_COLORS[attribute].get(value, UNKNOWN_COLOR)


def _attribute_label(attribute: str) -> str:
    return {"time": "time of day", "scene": "scene type"}.get(attribute, attribute)


def _grey_unknown(ticks) -> None:
    """Tick labels reading "unknown" in grey italics."""
    for tick in ticks:
        if tick.get_text() == UNKNOWN:
            tick.set_color("0.45")
            tick.set_fontstyle("italic")


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
            bars = ax.bar(x, rows["share"] * 100, width=width, color=[_value_color(attribute, v) for v in values],
                          edgecolor="0.25", linewidth=0.4, **SPLIT_STYLES[k % len(SPLIT_STYLES)])
            ax.bar_label(bars, labels=[f"{n:,}" for n in rows["images"]], fontsize=5, padding=1, color="0.25",
                         rotation=90 if len(splits) > 1 else 0)
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels(values, rotation=30, ha="right", rotation_mode="anchor")
        _grey_unknown(ax.get_xticklabels())
        ax.grid(axis="x", visible=False)
        ax.set_xlim(-0.6, len(values) - 0.4)
        ax.set_title(f"({letter}) {_attribute_label(attribute)}", loc="left")
    axes[0].set_ylabel("share of images (%)")
    axes[0].set_ylim(0, top * 1.15 + 3)  # room for the bar labels
    fig.legend(handles=[*_split_handles(table), Patch(facecolor=UNKNOWN_COLOR, edgecolor="0.25", linewidth=0.4,
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
    ax.set_ylabel(_attribute_label(joint.index.name))
    ax.tick_params(axis="x", rotation=30)
    ax.tick_params(axis="y", rotation=0)
    _grey_unknown([*ax.get_xticklabels(), *ax.get_yticklabels()])
    ax.set_title(f"(a) {_attribute_label(joint.index.name)} × {joint.columns.name}", loc="left")

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
        bx.scatter(rows["image_share"] * 100, rows["class"].map(y), s=14, color=_value_color(attribute, v),
                   edgecolor="0.2", linewidth=0.4, zorder=2, marker="osD^v"[k % 5], label=f"{v} ({n:,})")
    _class_ticks(bx, order, set())
    bx.invert_yaxis()
    bx.set_xlim(-2, 102)
    bx.set_xlabel("share of images containing the class (%)")
    bx.grid(axis="y", lw=0.3)
    if values:
        bx.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=min(len(values), 3), handletextpad=0.2,
                  columnspacing=1.0, title=f"{_attribute_label(attribute)} (images)", title_fontsize=6)
    else:
        bx.text(0.5, 0.5, f"no {_attribute_label(attribute)} known", transform=bx.transAxes, ha="center",
                color="0.4", style="italic")
    bx.set_title(f"(b) classes by {_attribute_label(attribute)}", loc="left")
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
    _class_ticks(ax, present, rare)
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


def plot_pairs(images: np.ndarray, masks: np.ndarray, titles: list[str] | None = None) -> plt.Figure:
    """Images (top row) above their masks in the Cityscapes palette (bottom row), with a class legend."""
    n, gap, legend = len(images), 0.03, 0.5  # gap between panels (share of a panel), legend height (in)
    side = TEXT_WIDTH / (n + (n - 1) * gap)
    height = side * (2 + gap) + legend
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
    side = TEXT_WIDTH / (n + 0.9)
    fig, axes = plt.subplots(n_rows, n, figsize=(TEXT_WIDTH, side * n_rows * 1.04), squeeze=False)
    fig.subplots_adjust(left=0.9 / (n + 0.9), right=1, top=1 - (0.25 / (side * n_rows) if col_titles else 0),
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
    _class_ticks(ax, list(t["class"]), rare)
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
    _class_ticks(ax, classes, rare)
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
                     label=_attribute_label(a))
        axes[1].plot(t["attribute_guidance"], 100 * t["consistency_vs_none"], "-" + "os^D"[k % 4], ms=4,
                     color=f"C{k}", label=_attribute_label(a))
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
            ax.plot(group["minutes"], group[column], "o-", color=color, ms=3, lw=1.0, label=f"{by} {key}")
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
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
    axes[0][0].legend()
    fig.tight_layout()
    return fig
