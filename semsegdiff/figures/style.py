"""The house style of every figure and table, and how they are saved (PNG + PDF + the CSV behind them)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.patches import Patch

from ..attributes import UNKNOWN
from ..files import atomic_path
from ..labels import LABELS

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


def class_ticks(ax: plt.Axes, order: list[str], rare: set[str]) -> None:
    """Class names on the y axis: things in italics, rare classes bold with a dagger."""
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels([f"{c} †" if c in rare else c for c in order])
    things = {label.name for label in LABELS if label.thing}
    for tick, cls in zip(ax.get_yticklabels(), order):
        tick.set_fontstyle("italic" if cls in things else "normal")
        tick.set_fontweight("bold" if cls in rare else "normal")


def split_handles(table: pd.DataFrame) -> list[Patch]:
    """Legend patches of the splits of a long table (split, split_images): the bar style of each, with its size."""
    splits = list(dict.fromkeys(table["split"]))
    n_images = {s: int(table.loc[table["split"] == s, "split_images"].iloc[0]) for s in splits}
    return [Patch(facecolor="0.55", edgecolor="0.25", linewidth=0.4, **SPLIT_STYLES[k % len(SPLIT_STYLES)],
                  label=f"{s} ({n_images[s]:,} image{'s' if n_images[s] != 1 else ''})") for k, s in enumerate(splits)]


def value_color(attribute: str, value: str) -> str:
    return ATTRIBUTE_COLORS[attribute].get(value, UNKNOWN_COLOR)


def attribute_label(attribute: str) -> str:
    return {"time": "time of day", "scene": "scene type"}.get(attribute, attribute)


def grey_unknown(ticks) -> None:
    """Tick labels reading "unknown" in grey italics."""
    for tick in ticks:
        if tick.get_text() == UNKNOWN:
            tick.set_color("0.45")
            tick.set_fontstyle("italic")
