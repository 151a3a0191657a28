"""What an enrichment will generate, decided before any image is made: one row per generated pair, from the recipe.

Every row depends only on the recipe, the seed, the real train masks (at the model's frame) and its own index, never
on how the rows are split into chunks or devices: a resumed or a 2-process run makes the same pairs. A row is a step
(:data:`semsegdiff.recipe.STEPS`), the real train mask it comes from, its seed and the conditions asked; the steps
that edit a mask (``rare``, ``rare local``, ``copypaste``) make the edit when the row's chunk is generated
(:func:`edit`), deterministically from the row's index.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import instances as instance_edits
from ..attributes import NAMES, code
from ..errors import DataError, SettingError
from ..labels import class_id
from ..recipe import RARE_CONDITIONS, STEPS, split_count

RARE = ("rider", "motorcycle", "bicycle", "train", "bus")  # the rare objects inserted (the study's real+rare)
INSERT_AS = {"rider": "cyclist", "motorcycle": "motorcyclist", "bicycle": "cyclist", "train": "train", "bus": "bus"}
SEED_BLOCK = 10_000_000  # seeds of one (seed, step) pair: 10 million rows at most (recipe.MAX_IMAGES)


def plan(recipe: dict[str, float], n: int, masks: np.ndarray, codes: np.ndarray, *, seed: int,
         conditions: dict[str, float], hardness: np.ndarray | None = None, hard_max: int = 20) -> pd.DataFrame:
    """The rows of an enrichment of ``n`` images: step, source (index of the real train mask), seed, and the codes of
    the conditions asked (0: unconditional). ``hardness`` (per mask, from the reference segmenter) for ``hard``."""
    from ..eval.arms import hard_shares  # FreeMask's re-sampling rule, as the study uses it

    rows = []
    n_real = len(masks)
    for step, k in split_count(n, recipe).items():
        if k == 0:
            continue
        idx = np.arange(k)
        asked = np.zeros((k, len(NAMES)), np.uint8)
        if step == "hard":
            if hardness is None:
                raise SettingError("enrich_recipe (--recipe): the hard step needs the reference segmenter's hardness")
            source = np.repeat(np.arange(n_real), hard_shares(hardness, k, hard_max))
        elif step == "cond":
            common = _common(codes)
            source = common[idx % len(common)]
            order = np.random.default_rng(seed).permutation(k)  # which rows ask which condition: by share, mixed
            start = 0
            for name, m in split_count(k, conditions).items():
                attribute, value = RARE_CONDITIONS[name]
                asked[order[start:start + m], NAMES.index(attribute)] = code(attribute, value)
                start += m
        else:  # all, and the edit steps: every real mask in turn
            source = idx % n_real
        rows.append(pd.DataFrame({"step": step, "source": source, "seed": _seeds(seed, step, k),
                                  **{a: asked[:, j] for j, a in enumerate(NAMES)}}))
    return pd.concat(rows, ignore_index=True)


def _seeds(seed: int, step: str, k: int) -> np.ndarray:
    return (seed * len(STEPS) + STEPS.index(step)) * SEED_BLOCK + np.arange(k, dtype=np.int64)


def _common(codes: np.ndarray) -> np.ndarray:
    """The real masks of common conditions (not night, rain or fog; every mask when none is known to be common)."""
    rare = np.zeros(len(codes), bool)
    for attribute, value in RARE_CONDITIONS.values():
        rare |= codes[:, NAMES.index(attribute)] == code(attribute, value)
    return np.flatnonzero(~rare) if (~rare).any() else np.arange(len(codes))


def class_weights(masks: np.ndarray) -> np.ndarray:
    """The drawing weight of each rare class: inverse to its pixel frequency in the real masks (as the study's)."""
    freq = np.bincount(np.asarray(masks).ravel(), minlength=256)[[class_id(c) for c in RARE]].astype(float) + 1.0
    return (1 / freq) / (1 / freq).sum()


def edit(masks: np.ndarray, ids: np.ndarray | None, source: int, row_seed: int,
         weights: np.ndarray) -> tuple[int, np.ndarray, np.ndarray | None, str]:
    """One rare object inserted into real mask ``source`` (or the next masks, when none fits there): (the mask used,
    the edited mask, its instance ids (the object's thing classes new ids), the class inserted)."""
    rng = np.random.default_rng(row_seed)
    first = str(rng.choice(RARE, p=weights))
    for j in range(min(8, len(masks))):
        i = (source + j) % len(masks)
        for cls in (first, *[c for c in RARE if c != first]):
            mask = masks[i]
            base = np.zeros(mask.shape, np.uint16) if ids is None else ids[i]
            try:
                edited, new_ids = instance_edits.insert(mask, base, INSERT_AS[cls], "auto", seed=row_seed)
            except SettingError:  # no plausible spot for this class here: the next class, then the next mask
                continue
            return i, edited, None if ids is None else new_ids, cls
    raise DataError(f"no rare object fits in real masks {source} to {source + 7} (is there road in them?)")


def paste(images: np.ndarray, masks: np.ndarray, ids: np.ndarray | None, source: int, row_seed: int,
          weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """The non-generative baseline for one row: a rare object cut from another real image (pixels and label, same
    position) pasted into image ``source``; (image, mask, instance ids, the class pasted, or "" when no image holds
    a rare object)."""
    from ..eval.arms import copy_paste

    rng = np.random.default_rng(row_seed)
    cls = str(rng.choice(RARE, p=weights))
    image, mask, pasted = copy_paste(images, masks, [(source, cls)], seed=row_seed)
    image, mask = image[0], mask[0]
    new_ids = None if ids is None else instance_edits.renumber(mask, ids[source], mask != masks[source])
    return image, mask, new_ids, cls if pasted else ""
