"""The enrichment ablation: does training a segmenter on generated images help, which images, and when.

Every arm trains the same architecture for the same steps and schedule on real val-scored data
that differs only in what is added to the real training images (FreeMask, arXiv 2310.15160,
for the filter and the re-sampling):

=====================  ===================================================================
``real``               the real training images of the regime only
``real+gen``           + N images generated from the real training masks (the paper's arm)
``real+gen filtered``  the same images; pixels whose loss under a real-trained segmenter
                       exceeds ``threshold`` x their class's mean loss on real images -> ignore
``real+gen hard``      N images spread over the masks by hardness: the k-th easiest of M masks
                       gets ``min(1 + round(k / M * hard_max), hard_max)`` shares
``real+rare``          + N images generated from real masks with a rare object inserted
                       (``masks.insert(..., "auto")``; the rarest classes chosen most often)
``real+rare local``    the same edited masks, the object regenerated inside the real photo
``real+copypaste``     the same rare objects cut from real training images and pasted into others
``real+cond``          + N images from the masks of real images of common conditions, generated
                       as the RARE conditions in turn (night, rain, fog: a model with attributes)
``gen only``           the N generated images alone, tested on real val
=====================  ===================================================================

Every run is scored on the whole real val split and on its subsets of the rare conditions
(``miou_night``, ``miou_rain``, ``miou_fog``: val images whose attributes say so).

Generated sets are made once (:func:`make_set`, a Lightning ``predict`` loop that runs under
DDP, each rank writing shards that are merged; an interrupted set continues where it stopped)
and cached with a manifest; finished runs are cached too, so an interrupted study resumes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import BasePredictionWriter

from .. import masks as mask_edits
from ..errors import DataError, OutputError, SettingError
from ..files import MARKER, atomic_dir, atomic_path, check_output, hold, mark, marker, write_text
from ..attributes import NAMES, code
from ..labels import CLASS_NAMES, IGNORE, NUM_CLASSES, class_id
from .judge import Segmenter, key_hash, load_segmenter, train_segmenter
from .metrics import consistency

RARE = ("rider", "motorcycle", "bicycle", "train", "bus")  # the classes real+rare and real+copypaste add
RARE_CONDITIONS = {"night": ("time", "night"), "rain": ("weather", "rain"), "fog": ("weather", "fog")}  # real+cond
INSERT_AS = {"rider": "cyclist", "motorcycle": "motorcyclist", "bicycle": "cyclist", "train": "train", "bus": "bus"}


# ---------------------------------------------------------------- generated sets (Lightning predict, DDP-ready)
class _Items(torch.utils.data.Dataset):
    """The items of a set still to generate: index, mask, seed (and photo + keep for local regeneration)."""

    def __init__(self, todo: np.ndarray, masks: np.ndarray, seeds: np.ndarray, init, keep, attrs=None):
        self.todo, self.masks, self.seeds, self.init, self.keep, self.attrs = todo, masks, seeds, init, keep, attrs

    def __len__(self) -> int:
        return len(self.todo)

    def __getitem__(self, i: int) -> dict[str, Any]:
        j = int(self.todo[i])
        item = {"index": j, "mask": torch.from_numpy(np.asarray(self.masks[j])), "seed": int(self.seeds[j])}
        if self.init is not None:
            item["init"] = torch.from_numpy(np.asarray(self.init[j]))
            item["keep"] = torch.from_numpy(np.asarray(self.keep[j]))
        if self.attrs is not None:
            item["attrs"] = torch.from_numpy(np.asarray(self.attrs[j], dtype=np.int64))
        return item


class _Generate(pl.LightningModule):
    """Wraps a diffusion model for ``Trainer.predict``: one batch of masks -> images (their own seeds)."""

    def __init__(self, model, sampling: dict[str, Any]):
        super().__init__()
        self.model, self.sampling = model, sampling

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        local = {"init": batch["init"], "keep": batch["keep"]} if "init" in batch else {}
        if "attrs" in batch:
            local["attrs"] = batch["attrs"]
        images = self.model.generate(batch["mask"], seed=batch["seed"].tolist(), **self.sampling, **local)
        return {"index": batch["index"].cpu(), "images": images.cpu()}


class _ShardWriter(BasePredictionWriter):
    """Each rank writes every batch it generates as a shard (atomically): nothing is lost when a run is killed."""

    def __init__(self, folder: Path):
        super().__init__(write_interval="batch")
        self.folder = folder

    def write_on_batch_end(self, trainer, module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0):
        index = prediction["index"].cpu().numpy()
        name = f"shard-{int(index.min()):07d}-{int(index.max()):07d}-rank{trainer.global_rank}.npz"
        with atomic_path(self.folder / name) as tmp, open(tmp, "wb") as f:
            np.savez(f, index=index, images=prediction["images"].cpu().numpy())


def _done(shards: Path) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for f in sorted(shards.glob("shard-*.npz")):
        with np.load(f) as z:
            out.update({int(i): img for i, img in zip(z["index"], z["images"])})
    return out


def set_key(masks: np.ndarray, seeds: np.ndarray, sampling: dict[str, Any], *, init: np.ndarray | None = None,
            keep: np.ndarray | None = None, info: dict[str, Any] | None = None,
            attrs: np.ndarray | None = None) -> dict[str, Any]:
    """What a generated set depends on: the masks, seeds (photos, kept pixels, attribute codes), sampling settings
    and ``info``."""
    content = hashlib.sha256(np.ascontiguousarray(masks).tobytes() + np.asarray(seeds, dtype=np.int64).tobytes())
    if init is not None:
        content.update(np.ascontiguousarray(init).tobytes() + np.ascontiguousarray(keep).tobytes())
    if attrs is not None:
        content.update(np.ascontiguousarray(attrs, dtype=np.uint8).tobytes())
    return {"content": content.hexdigest(), "n": len(masks), **sampling, **(info or {})}


def shard_folder(out: Path, key: dict[str, Any]) -> Path:
    """Where the shards of a set in progress go: named by its key, so shards of another set are never mixed in."""
    return out.with_name(f"{out.name}.{key_hash(key)}.shards")


def make_set(model, masks: np.ndarray, seeds: np.ndarray, out: str | Path, *, sampling: dict[str, Any],
             init: np.ndarray | None = None, keep: np.ndarray | None = None, info: dict[str, Any] | None = None,
             attrs: np.ndarray | None = None, devices: int | str = 1, strategy: str = "auto", accelerator: str | None = None, batch_size: int = 64,
             progress: bool = False) -> np.ndarray:
    """Generate one image per mask (its own seed) into ``out`` (images.npy, masks.npy, manifest.json); reuse it if done.

    Runs as a Lightning ``predict`` loop: on several devices or nodes under DDP every rank
    generates its share and writes shards, rank zero merges them; a killed run continues with
    the items that have no shard yet. An image depends only on its mask and seed, so a set made
    on 2 processes equals the set made on 1. Returns the images (N, H, W, 3) uint8.
    """
    out = Path(out)
    masks, seeds = np.ascontiguousarray(masks), np.asarray(seeds, dtype=np.int64)
    key = set_key(masks, seeds, sampling, init=init, keep=keep, info=info, attrs=attrs)
    if (out / "manifest.json").is_file() and json.loads((out / "manifest.json").read_text()).get("key") == key:
        return np.load(out / "images.npy")
    shards = shard_folder(out, key)
    done = _done(shards) if shards.is_dir() else {}
    todo = np.array([i for i in range(len(masks)) if i not in done], dtype=np.int64)
    start = time.perf_counter()
    if len(todo):
        from ..trainer import resolve_accelerator

        accelerator, precision = resolve_accelerator({"devices": devices}, accelerator)
        banner = logging.getLogger("pytorch_lightning.utilities.rank_zero")
        level = banner.level
        banner.setLevel(logging.WARNING)  # no "GPU available: ..." banner for every set
        trainer = pl.Trainer(accelerator=accelerator, devices=devices, strategy=strategy, precision=precision,
                             logger=False, enable_checkpointing=False, enable_progress_bar=progress,
                             enable_model_summary=False, callbacks=[_ShardWriter(shards)])
        banner.setLevel(level)
        loader = torch.utils.data.DataLoader(_Items(todo, masks, seeds, init, keep, attrs), batch_size=batch_size)
        trainer.predict(_Generate(model, sampling), loader, return_predictions=False)
        trainer.strategy.barrier()
        if not trainer.is_global_zero:
            return np.empty(0)
    done = _done(shards)
    if len(done) != len(masks):
        raise DataError(f"{shards}: {len(masks) - len(done)} of {len(masks)} images are missing after generation")
    images = np.stack([done[i] for i in range(len(masks))]).transpose(0, 2, 3, 1)  # (N, H, W, 3)
    manifest = {"key": key, "n": len(masks), "seed_first": int(seeds[0]), "seconds": time.perf_counter() - start,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **sampling, **(info or {})}
    with atomic_dir(out, overwrite=True) as tmp:
        np.save(tmp / "images.npy", images)
        np.save(tmp / "masks.npy", masks)
        write_text(tmp / "manifest.json", json.dumps(manifest, indent=1, default=str))
    for stale in out.parent.glob(f"{out.name}.*.shards"):  # this set's shards and those of killed other keys
        shutil.rmtree(stale, ignore_errors=True)
    return images


# ---------------------------------------------------------------- FreeMask: filter and hardness
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


# ---------------------------------------------------------------- rare classes: edits and copy-paste
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


# ---------------------------------------------------------------- one run: a segmenter trained on an arm's data
@dataclass
class ArmData:
    """What an arm trains on, and the counts that prove it."""

    images: np.ndarray
    masks: np.ndarray
    counts: dict[str, int]


def train_and_score(cfg: dict[str, Any], data: ArmData, val: tuple[np.ndarray, ...], out: Path, seed: int,
                    key: dict[str, Any] | None = None, progress: bool = False, device: str = "cpu") -> dict[str, Any]:
    """Train a segmenter (the ablation's architecture, ``ablate_steps`` steps) on ``data``; score it on real val.

    ``val`` is (images, masks) or (images, masks, attribute codes): with codes, the run is also
    scored on the val images of each rare condition (``miou_night``, ``miou_rain``, ``miou_fog``).

    The run folder ``out`` appears only when the run has finished (written atomically at its end,
    with ``result.json``); a finished run with the same ``key`` is read back instead of trained.
    """
    key = json.loads(json.dumps(key or {}, default=str))
    done = finished_run(out, key)
    if done is not None:
        return done
    start = time.perf_counter()
    with atomic_dir(out, overwrite=True) as tmp:
        ckpt = train_segmenter(cfg, (data.images, data.masks), None, tmp, name="segmenter", seed=seed,
                               progress=progress, arch=cfg["ablate_arch"], steps=cfg["ablate_steps"], accelerator=device)
        segmenter = load_segmenter(ckpt, device)
        pred, masks = segmenter.predict_ids(val[0]), torch.from_numpy(np.array(val[1]))  # a copy: val may be a read-only memmap
        c = consistency(pred, masks)
        result = {"miou": c["miou"], "pixel_accuracy": c["pixel_accuracy"], "seconds": time.perf_counter() - start,
                  **data.counts, **{f"iou_{n}": float(v) for n, v in zip(CLASS_NAMES, c["per_class_iou"])},
                  **condition_scores(pred, masks, val[2] if len(val) > 2 else None)}
        (tmp / "result.json").write_text(json.dumps({**result, "key": key}, indent=1))
        ckpt.unlink()  # the numbers are what the study keeps; a checkpoint per run would fill the disk
    return result


def condition_scores(pred: torch.Tensor, masks: torch.Tensor, codes: np.ndarray | None) -> dict[str, float]:
    """mIoU on the val images of each rare condition (NaN where none is known to hold it)."""
    out = {}
    for name, (attribute, v) in RARE_CONDITIONS.items():
        held = np.zeros(len(masks), bool) if codes is None else \
            np.asarray(codes)[:, NAMES.index(attribute)] == code(attribute, v)
        out[f"miou_{name}"] = consistency(pred[held], masks[held])["miou"] if held.any() else float("nan")
        out[f"images_{name}"] = int(held.sum())
    return out


def finished_run(out: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The result of a run that finished in ``out`` with ``key`` (its folder written whole, by semsegdiff), else None."""
    if marker(out) is None:
        return None  # a crashed run never gets here: its folder is only a temporary one
    try:
        result = json.loads((out / "result.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(result, dict) or result.pop("key", None) != key or not isinstance(result.get("miou"), float):
        return None
    return result


def n_generated(cfg_n: float, n_real: int) -> int:
    return max(1, int(round(cfg_n * n_real)))


def _real_subset(n_total: int, fraction: float, seed: int) -> np.ndarray:
    keep = max(1, int(round(n_total * fraction)))
    return np.sort(np.random.default_rng(seed).permutation(n_total)[:keep])


def run_study(cfg: dict[str, Any], checkpoint: str | Path, *, root: str | Path = ".", out: str | Path | None = None,
              device: str = "cpu", progress: bool = True, generate_only: bool = False, overwrite: bool = False,
              say=print) -> pd.DataFrame:
    """Every (regime, N, arm, segmenter seed) of the profile's ablation settings; one row of results per run.

    Columns: regime, arm, n_mult, threshold, seed, gen_seed, the counts of real / generated /
    filtered pixels / pasted objects it trained on, val mIoU, pixel accuracy, per-class IoU.
    The generated sets are made on ``devices`` of ``cfg`` (each set a DDP predict loop); the
    segmenters train on one device. ``generate_only`` makes (and caches) every generated set
    without training segmenters: the stage to run on several GPUs.

    ``out`` (default ``<run>/ablation``) is the study's folder, a cache that a second run
    resumes: it must be new, empty or a study semsegdiff wrote, and one process uses it at a
    time. ``overwrite`` starts the study over, removing what semsegdiff wrote there (``say``
    tells what); ``runs.csv`` and ``table.{csv,md,tex}`` are written at the end.
    """
    out = Path(out) if out else Path(checkpoint).parent / "ablation"
    open_study(out, overwrite=False, inputs=[checkpoint])  # checked before the lock, the data and the model
    with hold(out, "semsegdiff ablate"):
        open_study(out, overwrite=overwrite, inputs=[checkpoint], say=say)
        return _run_study(cfg, checkpoint, root=root, out=out, device=device, progress=progress,
                          generate_only=generate_only)


STUDY_ENTRIES = ("low", "full", "runs.csv", "table.csv", "table.md", "table.tex", ".lock", MARKER)  # what a study holds


def open_study(out: Path, *, overwrite: bool = False, inputs=(), say=print) -> None:
    """Check that ``out`` may be an ablation study folder (new, empty, or one semsegdiff wrote) and mark it;
    with ``overwrite``, remove what semsegdiff wrote there first (and say what)."""
    check_output(out, inputs=inputs, container=True, flag="--out")
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    info = marker(out) or {}
    ours = info.get("kind") == "ablation study" or set(entries) <= set(STUDY_ENTRIES)  # or a study of earlier versions
    if entries and not ours:
        shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
        raise OutputError(f"{out}: is not an ablation study folder semsegdiff wrote (it holds {shown}); choose another "
                          "--out (a new or empty folder)")
    if overwrite:
        for name in entries:
            if name in STUDY_ENTRIES and name not in (".lock", MARKER):
                say(f"removing {out / name} (written by semsegdiff ablate)")
                shutil.rmtree(out / name) if (out / name).is_dir() else (out / name).unlink()
    if out.is_dir() and info.get("kind") != "ablation study":
        mark(out, kind="ablation study", files=None)


def _run_study(cfg: dict[str, Any], checkpoint: str | Path, *, root: str | Path, out: Path, device: str,
               progress: bool, generate_only: bool) -> pd.DataFrame:
    from ..figures import save_table
    from .stats import arm_table

    regimes, val, out = _setup(cfg, checkpoint, root=root, out=out, device=device, progress=progress)
    for sets in regimes.values():
        sets.generation = {"devices": 1 if cfg["devices"] == "auto" else cfg["devices"], "strategy": cfg["strategy"]}
    if generate_only:
        for sets in regimes.values():
            for arm, n_mult, threshold in _plan(cfg):
                for g in range(cfg["ablate_gen_seeds"]):
                    if arm not in ("real", "real+copypaste", "real+gen filtered"):
                        sets.arm(arm, n_mult, threshold, g, g)
        return pd.DataFrame()
    rows = []
    for regime, sets in regimes.items():
        runs = _plan(cfg)
        for arm, n_mult, threshold in runs:
            for s in range(cfg["ablate_seeds"]):
                g = s % cfg["ablate_gen_seeds"]
                data = sets.arm(arm, n_mult, threshold, g, s)
                tag = f"{arm.replace(' ', '_').replace('+', '-')}-n{n_mult:g}" + (f"-t{threshold:g}" if threshold else "")
                key = {"layout": 2, **data.counts, "arm": arm, "n": n_mult, "threshold": threshold, "gen_seed": g,
                       "checkpoint": sets.checkpoint, **sets.sampling, "size": len(data.images),
                       **{k: cfg[k] for k in ("ablate_steps", "ablate_arch", "judge_lr", "judge_batch_size", "seed")}}
                run_out = out / regime / "runs" / f"{tag}-seed{s}-{key_hash(key)}"
                result = train_and_score(cfg, data, val, run_out, seed=1000 + s, key=key, progress=False,
                                         device=sets.device)
                rows.append({"regime": regime, "arm": arm, "n_mult": n_mult, "threshold": threshold, "seed": s,
                             "gen_seed": g, **result})
                if progress:
                    print(f"{regime:>4} {arm:<18} N={n_mult:g}x{f' t={threshold:g}' if threshold else '':<7} seed {s}: "
                          f"val mIoU {result['miou']:.4f} (real {data.counts['real']}, generated "
                          f"{data.counts['generated']}, {result['seconds']:.0f} s)", flush=True)
    results = pd.DataFrame(rows)
    with atomic_path(out / "runs.csv") as tmp:
        results.to_csv(tmp, index=False)
    save_table(arm_table(results).set_index(["regime", "arm", "n_mult", "threshold"]), "table", out)
    return results


def _setup(cfg: dict[str, Any], checkpoint: str | Path, *, root: str | Path, out: str | Path | None, device: str,
           progress: bool) -> tuple[dict[str, _Sets], tuple[np.ndarray, np.ndarray], Path]:
    """The generated-set makers of every regime (real training subset chosen with the profile's seed), val, out."""
    from ..data import dataset_for
    from ..models import load_checkpoint
    from ..files import file_fingerprint

    model = load_checkpoint(checkpoint, device=device)
    if cfg["size"] != model.size:  # before rendering or preparing any data
        raise DataError(f"{checkpoint}: generates {model.size}px images but the study's data settings ask for "
                        f"{cfg['size']}px (size)")
    prepared = dataset_for(cfg, root=root, progress=progress)
    if prepared.size != model.size:
        raise DataError(f"{checkpoint}: generates {model.size}px images but the dataset is {prepared.size}px")
    if "val" not in prepared.splits:
        raise DataError(f"{prepared.root}: the ablation scores segmenters on a val split; the cache has none")
    out = Path(out) if out else Path(checkpoint).parent / "ablation"
    sampling = {k: cfg[k] for k in ("sampler", "steps", "guidance")}
    if model.is_student:  # a distilled student's sets: its own sampler and steps (semsegdiff distill)
        sampling.update(sampler="lcm", steps=model.cfg["steps"])
    all_images, all_masks = np.asarray(prepared.images("train")), np.asarray(prepared.masks("train"))
    all_codes = np.asarray(prepared.attributes("train"))
    val = (np.asarray(prepared.images("val")), np.asarray(prepared.masks("val")), np.asarray(prepared.attributes("val")))
    fingerprint = file_fingerprint(checkpoint)
    regimes = {}
    for regime in cfg["ablate_regimes"]:
        idx = _real_subset(len(all_images), 1.0 if regime == "full" else cfg["ablate_low_fraction"], cfg["seed"])
        regimes[regime] = _Sets(model, all_images[idx], all_masks[idx], out / regime / "sets",
                                {**sampling}, cfg, progress, fingerprint, codes=all_codes[idx])
    return regimes, val, out


def examples(cfg: dict[str, Any], checkpoint: str | Path, *, regime: str = "low", n: int = 4, root: str | Path = ".",
             out: str | Path | None = None, device: str = "cpu") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A few added training pairs of every arm (from the cached sets): {arm: (images, masks)}; filtered pixels are 255."""
    regimes, _, _ = _setup(cfg, checkpoint, root=root, out=out, device=device, progress=False)
    sets, shown = regimes[regime], {}
    for arm, n_mult, threshold in _plan(cfg):
        data = sets.arm(arm, n_mult or cfg["ablate_n"][0], threshold, 0, 0)
        start = data.counts["real"] if arm not in ("real", "gen only") else 0
        label = arm + (f" (t={threshold:g})" if threshold else "")
        shown.setdefault(label, (data.images[start:start + n], data.masks[start:start + n]))
    return shown


def set_quality(cfg: dict[str, Any], checkpoint: str | Path, judge: Segmenter, *, root: str | Path = ".",
                out: str | Path | None = None, device: str = "cpu") -> pd.DataFrame:
    """Judge scores of every generated set the arms used: consistency mIoU with its masks, FID and KID (judge
    features) against the real val images. One row per (regime, arm, n_mult, gen_seed)."""
    from .metrics import fid, kid

    regimes, val, _ = _setup(cfg, checkpoint, root=root, out=out, device=device, progress=False)
    real_f = judge.features(val[0]).double()
    mu, sd = real_f.mean(0), real_f.std(0).clamp(min=1e-6)
    rows = []
    for regime, sets in regimes.items():
        for arm, n_mult, threshold in _plan(cfg):
            if arm in ("real", "real+copypaste", "real+gen filtered"):
                continue  # no generated set of its own (filtered: the real+gen set)
            for g in range(min(cfg["ablate_gen_seeds"], cfg["ablate_seeds"])):
                data = sets.arm(arm, n_mult, threshold, g, g)
                start = data.counts["real"]
                images, masks = data.images[start:], data.masks[start:]
                gen_f = (judge.features(images).double() - mu) / sd
                c = consistency(judge.predict_ids(images), torch.from_numpy(masks))
                rows.append({"regime": regime, "arm": arm, "n_mult": n_mult, "gen_seed": g, "consistency_miou": c["miou"],
                             "fid": fid((real_f - mu) / sd, gen_f), "kid": kid((real_f - mu) / sd, gen_f)[0],
                             "images": len(images)})
    return pd.DataFrame(rows)


def _plan(cfg: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(arm, N multiplier, filter threshold) of every run configuration (``real`` once, without N)."""
    plan = []
    for arm in cfg["ablate_arms"]:
        if arm == "real":
            plan.append((arm, 0.0, 0.0))
            continue
        for n_mult in cfg["ablate_n"]:
            thresholds = cfg["filter_thresholds"] if arm == "real+gen filtered" else [0.0]
            plan += [(arm, n_mult, t) for t in thresholds]
    return plan


class _Sets:
    """The generated sets of one regime, made once and cached, and the data of every arm built from them."""

    def __init__(self, model, images, masks, folder: Path, sampling, cfg, progress, checkpoint: str = "",
                 codes: np.ndarray | None = None):
        self.model, self.images, self.masks, self.folder, self.checkpoint = model, images, masks, folder, checkpoint
        self.codes = np.zeros((len(masks), len(NAMES)), np.uint8) if codes is None else codes  # attributes
        self.device = str(next(model.parameters()).device)  # the generator's device: the segmenters' too
        self.sampling, self.cfg, self.progress = sampling, cfg, progress
        self._reference: Segmenter | None = None
        self.generation: dict[str, Any] = {}  # devices / strategy of the predict loops

    def _make(self, name: str, masks: np.ndarray, seeds: np.ndarray, **local) -> np.ndarray:
        return make_set(self.model, masks, seeds, self.folder / name, sampling=self.sampling,
                        info={"set": name, "checkpoint": self.checkpoint}, progress=False,
                        accelerator="cpu" if self.device == "cpu" else "cuda", **self.generation, **local)

    def _per_mask(self, n: int, g: int) -> tuple[np.ndarray, np.ndarray]:
        """n generated images from the real masks in turn (seed set g); the masks they were made from."""
        reps = math.ceil(n / len(self.masks))
        idx = np.tile(np.arange(len(self.masks)), reps)[:n]
        seeds = 10_000_000 * (g + 1) + np.arange(n)
        return self._make(f"gen-g{g}-n{n}", self.masks[idx], seeds), self.masks[idx]

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
        return self._make(f"cond-g{g}-n{n}", self.masks[idx], seeds, attrs=attrs), self.masks[idx]

    def reference(self) -> Segmenter:
        """A segmenter trained on the regime's real images alone (seed 0): FreeMask's filter and hardness."""
        if self._reference is None:
            ckpt = train_segmenter(self.cfg, (self.images, self.masks), None, self.folder.parent / "reference",
                                   name="segmenter", seed=999, progress=False, arch=self.cfg["ablate_arch"],
                                   steps=self.cfg["ablate_steps"], accelerator=self.device)
            self._reference = load_segmenter(ckpt, self.device)
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
        if arm in ("real+gen", "gen only", "real+gen filtered"):
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
            gen_i, gen_m = self._make(f"hard-g{g}-n{n}", self.masks[idx], seeds), self.masks[idx]
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
                gen_i, gen_m = self._make(name, edited, seeds, **local), edited
            counts["rare_objects"] = len(names)
        else:
            raise DataError(f"unknown arm {arm!r}")
        return ArmData(np.concatenate([self.images, gen_i]), np.concatenate([self.masks, gen_m]), counts)
