"""The data of each arm of the enrichment study: what is added to the real training images.

FreeMask's filter and hardness re-sampling (arXiv 2310.15160: a segmenter trained on the real
images scores every generated pixel), rare objects inserted into real masks (generated, regenerated
inside the photo, or cut and pasted from other real images), the rare conditions asked of a model
with attributes, and :class:`ArmSets`, which makes a regime's generated sets once
(:func:`semsegdiff.eval.generated_sets.make_set`) and builds every arm's :class:`ArmData` from them.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import masks as mask_edits
from ..attributes import NAMES, code
from ..errors import DataError, SettingError
from ..labels import IGNORE, NUM_CLASSES, class_id
from .generated_sets import make_set
from .judge import Segmenter, key_hash, load_segmenter, train_segmenter

RARE = ("rider", "motorcycle", "bicycle", "train", "bus")  # the classes real+rare and real+copypaste add
RARE_CONDITIONS = {"night": ("time", "night"), "rain": ("weather", "rain"), "fog": ("weather", "fog")}  # real+cond
INSERT_AS = {"rider": "cyclist", "motorcycle": "motorcyclist", "bicycle": "cyclist", "train": "train", "bus": "bus"}


@torch.no_grad()
def pixel_losses(segmenter: Segmenter, images: np.ndarray, masks: np.ndarray, batch_size: int = 64) -> torch.Tensor:
    """Per-pixel cross-entropy (N, H, W) of a segmenter on images against their masks (0 on ignore pixels)."""
    out = []
    for s in range(0, len(images), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(images[s:s + batch_size])).permute(0, 3, 1, 2).to(segmenter.device)
        y = torch.from_numpy(np.ascontiguousarray(masks[s:s + batch_size])).long().to(segmenter.device)
        segmenter.eval()
        out.append(F.cross_entropy(segmenter(x), y, ignore_index=IGNORE, reduction="none").cpu())
    return torch.cat(out)


def class_mean_losses(losses: torch.Tensor, masks: np.ndarray) -> np.ndarray:
    """Mean pixel loss per class (C,), NaN for classes without pixels."""
    m = torch.from_numpy(np.asarray(masks)).long().flatten()
    valid = m != IGNORE
    total = torch.zeros(NUM_CLASSES, dtype=torch.float64).index_add_(0, m[valid], losses.flatten()[valid].double())
    count = torch.bincount(m[valid], minlength=NUM_CLASSES).double()
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, float("nan"))).cpu().numpy()


def filter_pixels(losses: torch.Tensor, masks: np.ndarray, class_mean: np.ndarray, threshold: float) -> np.ndarray:
    """FreeMask's filter: pixels whose loss exceeds ``threshold`` x their class's mean real loss become ignore."""
    masks = np.array(masks, copy=True)
    limit = np.nan_to_num(class_mean, nan=np.inf)  # classes never seen in real data: never filtered
    lut = np.full(256, np.inf)
    lut[:NUM_CLASSES] = limit * threshold
    masks[losses.cpu().numpy() > lut[masks]] = IGNORE
    return masks


def hardness(losses: torch.Tensor, masks: np.ndarray, class_mean: np.ndarray) -> np.ndarray:
    """Per mask: the pixel-weighted mean of its classes' mean real loss (how hard its classes are)."""
    lut = np.zeros(256)
    lut[:NUM_CLASSES] = np.nan_to_num(class_mean, nan=0.0)
    valid = masks != IGNORE
    return (lut[masks] * valid).reshape(len(masks), -1).sum(1) / np.maximum(valid.reshape(len(masks), -1).sum(1), 1)


def hard_shares(scores: np.ndarray, total: int, cap: int = 20) -> np.ndarray:
    """How many generated images each mask gets: FreeMask's ``min(1 + round(rank / M * cap), cap)``, scaled to ``total``."""
    m = len(scores)
    rank = np.empty(m, dtype=np.int64)
    rank[np.argsort(scores, kind="stable")] = np.arange(m)  # 0 = easiest
    weight = np.minimum(1 + np.round(rank / m * cap), cap)
    share = weight / weight.sum() * total
    counts = np.floor(share).astype(np.int64)
    counts[np.argsort(-(share - counts), kind="stable")[: total - counts.sum()]] += 1  # largest remainders
    return counts


def rare_targets(masks: np.ndarray, n: int, seed: int, classes: tuple[str, ...] = RARE) -> list[tuple[int, str]]:
    """``n`` (mask index, class) pairs: masks in turn, classes drawn inversely to their pixel frequency in ``masks``."""
    ids = [class_id(c) for c in classes]
    freq = np.bincount(np.asarray(masks).ravel(), minlength=256)[ids].astype(float) + 1.0
    p = (1 / freq) / (1 / freq).sum()
    rng = np.random.default_rng(seed)
    return [(i % len(masks), str(rng.choice(classes, p=p))) for i in range(n)]


def rare_edits(masks: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``n`` real masks with one rare object inserted at a plausible spot (another class or mask when none fits).

    Returns (source index per edit, edited masks, inserted class per edit).
    """
    sources, edited, names = [], [], []
    order = rare_targets(masks, 4 * n, seed)
    for k, (i, cls) in enumerate(order):
        if len(edited) == n:
            break
        for candidate in (cls, *[c for c in RARE if c != cls]):
            try:
                edited.append(mask_edits.insert(masks[i], INSERT_AS[candidate], "auto", seed=seed + k))
            except SettingError:  # no plausible spot in this mask for this class: try the next
                continue
            sources.append(i)
            names.append(candidate)
            break
    if len(edited) < n:
        raise DataError(f"only {len(edited)} of {n} masks took a rare object (is there road in the masks?)")
    return np.array(sources), np.stack(edited), names


def copy_paste(images: np.ndarray, masks: np.ndarray, targets: list[tuple[int, str]], seed: int
               ) -> tuple[np.ndarray, np.ndarray, int]:
    """The non-generative baseline: for each (target index, class), paste an object of that class cut from another
    real training image (image and mask pixels, same position). Returns images, masks and the objects pasted."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    out_images, out_masks, pasted = [], [], 0
    holders = {c: np.flatnonzero((masks == class_id(c)).reshape(len(masks), -1).any(1)) for c in RARE}
    for i, cls in targets:
        image, mask = images[i].copy(), masks[i].copy()
        donors = [j for j in holders[cls] if j != i] or [j for c in RARE for j in holders[c] if j != i]
        if donors:
            j = int(rng.choice(donors))
            present = [c for c in RARE if (masks[j] == class_id(c)).any()]
            c = cls if cls in present else present[0]
            parts, n = ndimage.label(masks[j] == class_id(c))
            obj = parts == 1 + int(rng.integers(n))
            if c == "rider":  # a rider comes with the bicycle or motorcycle under it
                obj |= ndimage.binary_dilation(obj, iterations=2) & np.isin(masks[j], [class_id("bicycle"),
                                                                                     class_id("motorcycle")])
            image[obj], mask[obj] = images[j][obj], masks[j][obj]
            pasted += 1
        out_images.append(image)
        out_masks.append(mask)
    return np.stack(out_images), np.stack(out_masks), pasted


@dataclass
class ArmData:
    """What an arm trains on, and the counts that prove it."""

    images: np.ndarray
    masks: np.ndarray
    counts: dict[str, int]
    source: dict[str, Any] | None = None  # what made the generated images when not the study's checkpoint


def n_generated(cfg_n: float, n_real: int) -> int:
    return max(1, int(round(cfg_n * n_real)))


class ArmSets:
    """The generated sets of one regime, made once and cached, and the data of every arm built from them."""

    def __init__(self, model, images, masks, folder: Path, sampling, cfg, progress, checkpoint: str = "",
                 codes: np.ndarray | None = None, student: tuple[Any, dict, str] | None = None,
                 instances: np.ndarray | None = None):
        self.model, self.images, self.masks, self.folder, self.checkpoint = model, images, masks, folder, checkpoint
        # the masks' instance ids, given to a model trained with the instance-boundary channel
        self.instances = instances if model.cfg.get("instance_edges") else None
        self.student = student  # (model, sampling, fingerprint) of the arm real+gen student
        self.codes = np.zeros((len(masks), len(NAMES)), np.uint8) if codes is None else codes  # attributes
        self.device = str(next(model.parameters()).device)  # the generator's device: the segmenters' too
        self.sampling, self.cfg, self.progress = sampling, cfg, progress
        self._reference: Segmenter | None = None
        self.generation: dict[str, Any] = {}  # devices / strategy of the predict loops

    def _make(self, name: str, masks: np.ndarray, seeds: np.ndarray, student: bool = False,
              idx: np.ndarray | None = None, **local) -> np.ndarray:
        """The set ``name`` of ``masks`` (the real masks ``idx``: their instance ids go along)."""
        model, sampling, checkpoint = self.student if student else (self.model, self.sampling, self.checkpoint)
        if self.instances is not None and idx is not None and "instances" not in local:
            local["instances"] = self.instances[idx]
        return make_set(model, masks, seeds, self.folder / name, sampling=sampling,
                        info={"set": name, "checkpoint": checkpoint}, progress=False,
                        accelerator="cpu" if self.device == "cpu" else "cuda", **self.generation, **local)

    def _per_mask(self, n: int, g: int, student: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """n generated images from the real masks in turn (seed set g; by the student: the same masks and seeds);
        the masks they were made from."""
        reps = math.ceil(n / len(self.masks))
        idx = np.tile(np.arange(len(self.masks)), reps)[:n]
        seeds = 10_000_000 * (g + 1) + np.arange(n)
        name = f"{'student-' if student else ''}gen-g{g}-n{n}"
        return self._make(name, self.masks[idx], seeds, student=student, idx=idx), self.masks[idx]

    def _conditions(self, n: int, g: int) -> tuple[np.ndarray, np.ndarray]:
        """n images from the masks of real images of common conditions (not night, rain or fog; any if none is known),
        generated as the rare conditions in turn (night, rain, fog), the other attributes unconditional."""
        if not self.model.cfg.get("attributes"):
            raise SettingError("ablate_arms: 'real+cond' needs a checkpoint trained with attributes (--attributes true)")
        rare = np.zeros(len(self.masks), bool)
        for attribute, v in RARE_CONDITIONS.values():
            rare |= self.codes[:, NAMES.index(attribute)] == code(attribute, v)
        common = np.flatnonzero(~rare) if (~rare).any() else np.arange(len(self.masks))
        idx = np.tile(common, math.ceil(n / len(common)))[:n]
        attrs = np.zeros((n, len(NAMES)), np.uint8)
        for k, (attribute, v) in enumerate(RARE_CONDITIONS.values()):
            attrs[k::len(RARE_CONDITIONS), NAMES.index(attribute)] = code(attribute, v)
        seeds = 40_000_000 * (g + 1) + np.arange(n)
        return self._make(f"cond-g{g}-n{n}", self.masks[idx], seeds, attrs=attrs, idx=idx), self.masks[idx]

    def reference(self) -> Segmenter:
        """A segmenter trained on the regime's real images alone (seed 999): FreeMask's filter and hardness. Trained
        once per real subset and settings, then loaded (the study, its set scores and its examples share it)."""
        if self._reference is None:
            data = hashlib.sha256(np.ascontiguousarray(self.images).tobytes())
            data.update(np.ascontiguousarray(self.masks).tobytes())
            settings = {k: self.cfg[k] for k in ("judge_batch_size", "judge_lr", "judge_weights", "ablate_arch",
                                                 "ablate_steps")}
            folder = self.folder.parent / "reference" / key_hash({"data": data.hexdigest(), **settings})
            ckpt = folder / "segmenter.ckpt"
            if not ckpt.is_file():
                ckpt = train_segmenter(self.cfg, (self.images, self.masks), None, folder, name="segmenter", seed=999,
                                       progress=False, arch=self.cfg["ablate_arch"], steps=self.cfg["ablate_steps"],
                                       accelerator=self.device)
            self._reference = load_segmenter(ckpt, self.device, self.cfg.get("precision", "auto"))
            self._real_losses = pixel_losses(self._reference, self.images, self.masks)
            self._class_mean = class_mean_losses(self._real_losses, self.masks)
        return self._reference

    def arm(self, arm: str, n_mult: float, threshold: float, g: int, seed: int) -> ArmData:
        real = (self.images, self.masks)
        counts = {"real": len(real[0]), "added": 0, "generated": 0, "filtered_pixels": 0, "rare_objects": 0,
                  "pasted_objects": 0}
        if arm == "real":
            return ArmData(*real, counts)
        n = n_generated(n_mult, len(self.masks))
        counts.update(added=n, generated=n)
        source = None
        if arm == "real+gen student":
            gen_i, gen_m = self._per_mask(n, g, student=True)
            _, sampling, fingerprint = self.student
            source = {"student": fingerprint, **{f"student_{k}": v for k, v in sampling.items()}}
        elif arm in ("real+gen", "gen only", "real+gen filtered"):
            gen_i, gen_m = self._per_mask(n, g)
            if arm == "real+gen filtered":
                self.reference()
                filtered = filter_pixels(pixel_losses(self._reference, gen_i, gen_m), gen_m, self._class_mean, threshold)
                counts["filtered_pixels"] = int((filtered == IGNORE).sum() - (gen_m == IGNORE).sum())
                gen_m = filtered
            if arm == "gen only":
                counts["real"] = 0
                return ArmData(gen_i, gen_m, counts)
        elif arm == "real+gen hard":
            self.reference()
            scores = hardness(self._real_losses, self.masks, self._class_mean)
            shares = hard_shares(scores, n, self.cfg["hard_max"])
            idx = np.repeat(np.arange(len(self.masks)), shares)
            seeds = 20_000_000 * (g + 1) + np.arange(n)
            gen_i, gen_m = self._make(f"hard-g{g}-n{n}", self.masks[idx], seeds, idx=idx), self.masks[idx]
        elif arm == "real+cond":
            gen_i, gen_m = self._conditions(n, g)
        elif arm in ("real+rare", "real+rare local", "real+copypaste"):
            sources, edited, names = rare_edits(self.masks, n, seed=g)
            if arm == "real+copypaste":
                gen_i, gen_m, pasted = copy_paste(self.images, self.masks, list(zip(sources, names)), seed=g)
                counts.update(generated=0, pasted_objects=pasted)
            else:
                seeds = 30_000_000 * (g + 1) + np.arange(n)
                local = {}
                if arm == "real+rare local":
                    keep = ~np.stack([mask_edits.changed_region(self.masks[i], e, 2) for i, e in zip(sources, edited)])
                    local = {"init": self.images[sources].transpose(0, 3, 1, 2), "keep": keep}
                name = f"rare{'-local' if local else ''}-g{g}-n{n}"
                if self.instances is not None:  # the inserted objects' pixels leave the instances they covered
                    sources = np.asarray(sources)
                    local["instances"] = np.where(edited != self.masks[sources], 0, self.instances[sources])
                gen_i, gen_m = self._make(name, edited, seeds, **local), edited
            counts["rare_objects"] = len(names)
        else:
            raise DataError(f"unknown arm {arm!r}")
        return ArmData(np.concatenate([self.images, gen_i]), np.concatenate([self.masks, gen_m]), counts, source)
