"""The dataset card of an enriched dataset (``README.md`` at its root): what is in it, how it was made, and the
command that makes it again, byte for byte."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..attributes import ATTRIBUTES, NAMES
from ..labels import CLASS_NAMES, NUM_CLASSES


def shares(pixels: np.ndarray) -> np.ndarray:
    """Class pixel shares (C,) of pixel counts (ignore left out)."""
    pixels = np.asarray(pixels, dtype=np.float64)[:NUM_CLASSES]
    return pixels / max(pixels.sum(), 1.0)


def condition_table(before: np.ndarray, after: np.ndarray) -> pd.DataFrame:
    """Images per time of day and weather value, before (real train) and after (with the generated), as shares."""
    rows = []
    for j, attribute in enumerate(NAMES[:2]):
        for c, value in enumerate(("unknown", *ATTRIBUTES[attribute])):
            rows.append({"attribute": attribute, "value": value,
                         "before": float((before[:, j] == c).mean()) if len(before) else 0.0,
                         "after": float((after[:, j] == c).mean()) if len(after) else 0.0})
    return pd.DataFrame(rows)


def card(info: dict[str, Any], steps: pd.DataFrame, pixels_before: np.ndarray, pixels_after: np.ndarray,
         codes_before: np.ndarray, codes_after: np.ndarray) -> str:
    """The Markdown of the card. ``info``: source, layout, out, counts, generator, checkpoint, command, ..."""
    before, after = shares(pixels_before), shares(pixels_after)
    classes = pd.DataFrame({"class": CLASS_NAMES, "before": before, "after": after})
    ratio = classes["after"] / classes["before"].where(classes["before"] > 0)
    classes = classes.assign(change=[f"x{r:.2f}" if r == r else "new" if a > 0 else "" for r, a in
                                     zip(ratio, classes["after"])])
    fmt = lambda v: f"{v:.2%}" if isinstance(v, float) else v  # noqa: E731
    table = lambda df: df.to_markdown(index=False, floatfmt=".4f")  # noqa: E731
    conditions = condition_table(codes_before, codes_after)
    conditions = conditions[(conditions["before"] > 0) | (conditions["after"] > 0)]
    lines = [
        f"# {info['name']}: {info['source_name']} enriched with {info['generated']:,} generated pairs",
        "",
        f"Made by `semsegdiff enrich` on {info['created']} from the {info['layout']} dataset `{info['source']}` "
        f"and the model `{info['checkpoint']}` (sha256 `{info['checkpoint_sha256'][:16]}`). It is in the source's "
        f"own layout: a training config for {info['source_name']} reads it unchanged.",
        "",
        "## What is in it",
        "",
        f"- train: {info['real_train']:,} real pairs ({info['real']}) and {info['generated']:,} generated pairs, named "
        "`...semsegdiff...` so that no real name matches; val and test: the real pairs only, untouched.",
        f"- generated pairs at {info['frame']} (height x width){info['resolution_note']}; images as "
        f"{info['image_format']}, labels as the layout's PNGs (train ids 0-18, 255 ignore).",
        f"- {info['filter_note']}",
        "- `enrichment.csv`: one row per generated pair (its source mask, step, seed, sampler, steps, guidance, the "
        "conditions asked, the object inserted, the share of pixels filtered, the checkpoint's sha256).",
        "- `attributes.csv`: time of day, weather and scene of every image (the real images' from the source; a "
        "generated image's the conditions it was asked for, unknown where none was).",
        "",
        "## The recipe",
        "",
        table(steps),
        "",
        f"Generator: {info['generator']}. Seed {info['seed']}.",
        "",
        "## Class pixel shares, real train before and after",
        "",
        table(classes.assign(before=classes["before"].map(fmt), after=classes["after"].map(fmt))),
        "",
        "## Conditions (images), real train before and after",
        "",
        table(conditions.assign(before=conditions["before"].map(fmt), after=conditions["after"].map(fmt))),
        "",
        "## Making it again",
        "",
        "The same command on the same source, checkpoint and semsegdiff version writes the same bytes (on the same "
        "kind of machine: another CPU's floating point can move a pixel):",
        "",
        "```bash",
        info["command"],
        "```",
        "",
    ]
    return "\n".join(lines)
