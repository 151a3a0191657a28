"""Evaluation protocol: generate for real val masks, score with the judge, always beside the real ceiling and floors.

Protocol (every number a table shows carries it):

- masks: the first ``n`` masks of the split; ``per_mask`` images each, image ``k`` of mask
  ``i`` seeded ``seed + i * per_mask + k``; scores are mean +- std over ``k`` (one generated
  set per seed);
- consistency: the judge segments generated images; mIoU / pixel accuracy against the masks
  that made them; ceiling: the judge on the REAL images of the same masks;
- SSIM: each generated image against the real image of its mask, on [0, 1];
- FID / KID: for seed ``k`` the masks are halved at random (seed ``k``) into A and B; generated
  images of A are compared with real images of B, and the floor is real A against real B (the
  same sizes, what sampling alone gives). Features: Inception (weights file given) or the
  judge's encoder ("judge features"; every output names it);
- diversity: mean pairwise feature distance between the images of one mask, beside the mean
  distance between real images of different masks.

Generated sets are cached under ``<run>/generated/<key>/`` (images.npy + manifest.json), keyed
by checkpoint, sampler, steps, guidance, seed, images per mask and masks.
"""
from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import CheckpointError, DataError, SettingError
from ..frame import label
from ..files import atomic_dir, check_output, claim, file_fingerprint, marker, write_text
from ..labels import CLASS_NAMES
from ..precision import lightning_precision
from ..tensors import as_tensor, to_numpy
from .judge import Segmenter, key_hash
from .metrics import consistency, diversity, fid, image_confusions, kid, miou_of, ssim

# The WINS 2024 paper's Table I (Mask2Former judge on BDD100K val, 1000 masks; FID protocol not stated).
PAPER_TABLE_I = {"consistency mIoU": 0.357, "pixel accuracy": 0.817, "SSIM": 0.659, "FID": 1.06, "KID": 0.0105}


@dataclass
class GeneratedSet:
    """Images generated for a stack of masks: ``images`` uint8 (N, K, 3, H, W), the manifest, their cache folder."""

    images: torch.Tensor
    manifest: dict[str, Any]
    folder: Path

    @property
    def seconds_per_image(self) -> float:
        return float(self.manifest["seconds_per_image"])

    def head(self, n: int) -> GeneratedSet:
        """The images of the first ``n`` masks: the same images a set of only those masks would hold (same seeds)."""
        return GeneratedSet(self.images[:n], {**self.manifest, "n_masks": n}, self.folder)


def set_folder(checkpoint: str | Path, masks: np.ndarray, *, sampler: str, steps: int, guidance: float, per_mask: int,
               seed: int, cache: str | Path, precision: str = "32-true",
               attrs: np.ndarray | None = None, instances: np.ndarray | None = None) -> tuple[dict[str, Any], Path]:
    """The key of a generated set (what its images depend on, the resolved precision, the attribute codes and
    instance ids asked for too) and its cache folder."""
    key = {"checkpoint": file_fingerprint(checkpoint), "sampler": sampler, "steps": int(steps),
           "guidance": float(guidance), "seed": int(seed), "per_mask": int(per_mask),
           "masks": hashlib.sha256(np.ascontiguousarray(masks).tobytes()).hexdigest(), "n_masks": len(masks),
           **({} if precision == "32-true" else {"precision": precision}),  # fp32 keys as before precision existed
           **({} if attrs is None else {"attrs": hashlib.sha256(np.asarray(attrs, np.uint8).tobytes()).hexdigest(),
                                        "attribute_guidance": "joint"}),
           **({} if instances is None else {"instances": hashlib.sha256(np.ascontiguousarray(instances).tobytes())
                                            .hexdigest()})}
    return key, Path(cache) / f"{sampler}-{steps}-g{guidance:g}-s{seed}-k{per_mask}-{key_hash(key)}"


def conditions_of(model, attrs: np.ndarray | None, n: int) -> np.ndarray | None:
    """The attribute codes a set is generated with: those of the real images of its masks (``attrs``) for a model
    trained with attributes, so that its images are compared with real ones of the same conditions (the val
    images' times of day and weathers); None (no conditions) for a model without them or when none are known."""
    if attrs is None or not getattr(model, "cfg", {}).get("attributes") or not np.asarray(attrs).any():
        return None
    return np.ascontiguousarray(np.asarray(attrs, np.uint8)[:n])


def instances_of(model, instances: np.ndarray | None, n: int) -> np.ndarray | None:
    """The instance ids a set is generated with: those of its masks for a model trained with ``instance_edges``
    (None for a model without the edge channel, or when the data have none)."""
    if instances is None or not getattr(model, "cfg", {}).get("instance_edges"):
        return None
    return np.ascontiguousarray(np.asarray(instances)[:n])


def sampling_precision(model) -> str:
    """The Lightning precision ``model`` samples in on its device (its ``precision`` setting resolved)."""
    weights = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    device = weights.device if weights is not None else torch.device("cpu")
    return lightning_precision(getattr(model, "cfg", {}).get("precision", "32"), device)  # no setting: no autocast


def generate_set(model, checkpoint: str | Path, masks: np.ndarray, *, sampler: str, steps: int, guidance: float,
                 per_mask: int, seed: int, cache: str | Path, source: str = "", batch_size: int = 64,
                 progress: bool = False, attrs: np.ndarray | None = None,
                 instances: np.ndarray | None = None) -> GeneratedSet:
    """Generate ``per_mask`` images per mask (with ``attrs``: each mask's attribute codes, (N, 3); 0 stays
    unconditional; ``instances``: their instance ids (N, H, W), for a model with ``instance_edges``), or load them
    from ``cache`` when made with the same key."""
    masks = np.ascontiguousarray(masks)
    attrs, instances = conditions_of(model, attrs, len(masks)), instances_of(model, instances, len(masks))
    key, folder = set_folder(checkpoint, masks, sampler=sampler, steps=steps, guidance=guidance, per_mask=per_mask,
                             seed=seed, cache=cache, precision=sampling_precision(model), attrs=attrs,
                             instances=instances)
    manifest_path = folder / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("key") == key:
            return GeneratedSet(torch.from_numpy(np.load(folder / "images.npy")), manifest, folder)
    n = len(masks)
    reps = torch.from_numpy(np.array(masks)).repeat_interleave(per_mask, dim=0)
    seeds = [seed + j for j in range(len(reps))]
    start = time.perf_counter()
    # the real images' conditions at the mask's scale (one joint guidance, 2 branches): what makes the two sets
    # comparable; attribute_guidance (a stronger pull towards an asked-for condition) is for notebook 06's check
    asked = {} if attrs is None else {"attrs": np.repeat(attrs, per_mask, axis=0).astype(np.int64),
                                      "attribute_guidance": guidance, "condition_guidance": {}}
    if instances is not None:
        asked["instances"] = torch.from_numpy(instances.astype(np.int32)).repeat_interleave(per_mask, dim=0)
    images = model.generate(reps, sampler=sampler, steps=steps, guidance=guidance, seed=seeds, batch_size=batch_size,
                            progress=progress, **asked)
    elapsed = time.perf_counter() - start
    images = images.reshape(n, per_mask, *images.shape[1:])
    manifest = {"key": key, "checkpoint": str(checkpoint), "source": source, "sampler": sampler, "steps": steps,
                "guidance": guidance, "seed": seed, "per_mask": per_mask, "n_masks": n,
                "seed_rule": "image k of mask i: seed + i * per_mask + k", "seconds_per_image": elapsed / len(reps),
                "conditions": "none" if attrs is None else "the real images' attributes (joint guidance)",
                "device": str(next(model.parameters()).device), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with atomic_dir(folder, overwrite=True) as tmp:
        np.save(tmp / "images.npy", images.cpu().numpy())
        np.save(tmp / "masks.npy", masks)
        write_text(tmp / "manifest.json", json.dumps(manifest, indent=1))
    return GeneratedSet(images, manifest, folder)


@dataclass
class Evaluation:
    """The scores of one generated set: the summary table, per-class IoU, per-image consistency, the images."""

    table: pd.DataFrame
    per_class: pd.DataFrame
    per_image: pd.DataFrame
    generated: GeneratedSet
    settings: dict[str, Any] = field(default_factory=dict)
    confusions: torch.Tensor | None = None  # (N, C, C + 1) per mask, summed over its images: paired bootstraps

    def row(self, metric: str) -> pd.Series:
        return self.table.set_index("metric").loc[metric]

    def summary(self) -> dict[str, Any]:
        """One flat record: settings, every metric (mean, std) with its reference and ratio, seconds per image."""
        out = {k: self.settings.get(k) for k in ("sampler", "steps", "guidance", "n_masks", "per_mask")}
        for _, r in self.table.iterrows():
            name = r["metric"].split(" (")[0].replace("consistency ", "").replace(" ", "_")
            out.update({name: r["generated"], f"{name}_std": r["generated_std"], f"{name}_reference": r["reference"],
                        f"{name}_ratio": r["ratio"]})
        out["seconds_per_image"] = self.generated.seconds_per_image
        out["features"] = self.settings.get("features")
        return out


def check_pair(model, judge: Segmenter, checkpoint: str | Path = "checkpoint", judge_path: str | Path = "judge") -> None:
    """The judge must segment the generator's classes at the generator's size."""
    if judge.hparams.num_classes != model.cfg["num_classes"]:
        raise DataError(f"{judge_path}: the judge has {judge.hparams.num_classes} classes but {checkpoint} generates "
                        f"{model.cfg['num_classes']}; train the judge on the same class table")
    if judge.size != model.size:
        raise DataError(f"{judge_path}: the judge was trained on {label(judge.size)}px images but {checkpoint} "
                        f"generates {label(model.size)}px; train the judge on the same prepared size")


def score(generated: GeneratedSet, masks: np.ndarray, real: np.ndarray, judge: Segmenter, *,
          reference: np.ndarray | None = None, features: str = "judge features", extractor=None,
          settings: dict[str, Any] | None = None) -> Evaluation:
    """Score a generated set against the real images of its masks (see the module docstring for the protocol).

    ``reference``: real images of OTHER masks (N, H, W, 3) to compare with; without it the
    masks are halved at random per seed (generated A vs real B, floor real A vs real B).
    """
    images = generated.images  # (N, K, 3, H, W)
    n, k = images.shape[:2]
    masks_t, real_t = as_tensor(masks), as_tensor(real).permute(0, 3, 1, 2)  # copies of (read-only) maps; (N, 3, H, W)
    if n < 4 and reference is None:
        raise DataError(f"the evaluation needs at least 4 masks (FID/KID compare two halves of >= 2); got {n}")
    if n < 1 or reference is not None and len(reference) < 2:
        raise DataError(f"a sweep's set needs at least 1 mask and 2 real images of other masks; got {n} and "
                        f"{0 if reference is None else len(reference)}")
    extract = extractor or judge.features
    real_pred = judge.predict_ids(real_t)
    ceiling = consistency(real_pred, masks_t)
    real_f = extract(real_t).double()
    gen_f = torch.stack([extract(images[:, j]) for j in range(k)], dim=1).double()  # (N, K, D)
    ref_f = None if reference is None else \
        extract(as_tensor(reference).permute(0, 3, 1, 2)).double()
    if features != "Inception":  # judge features: standardised per dimension by the real images' statistics
        pool = real_f if ref_f is None else torch.cat([real_f, ref_f])
        mu, sd = pool.mean(0), pool.std(0).clamp(min=1e-6)
        real_f, gen_f = (real_f - mu) / sd, (gen_f - mu) / sd
        ref_f = None if ref_f is None else (ref_f - mu) / sd
    rows: dict[str, list[float]] = {m: [] for m in ("miou", "acc", "ssim", "fid", "fid_floor", "kid", "kid_floor")}
    per_class, per_image, confusions = [], [], 0
    for j in range(k):
        pred = judge.predict_ids(images[:, j])
        c = consistency(pred, masks_t)
        rows["miou"].append(c["miou"])
        rows["acc"].append(c["pixel_accuracy"])
        per_class.append(c["per_class_iou"])
        each = image_confusions(pred, masks_t)
        confusions = confusions + each
        per_image.append(to_numpy(miou_of(each)))
        rows["ssim"].append(ssim(images[:, j], real_t))
        if ref_f is None:
            order = np.random.default_rng(j).permutation(n)
            a, b = order[: n // 2], order[n // 2: 2 * (n // 2)]
            target, fake, floor = real_f[b], gen_f[a, j], real_f[a]
        else:
            target, fake, floor = ref_f, gen_f[:, j], real_f
        few = len(fake) < 2  # one mask (a costly reference procedure): consistency only, no distribution to compare
        rows["fid"].append(float("nan") if few else fid(target, fake))
        rows["fid_floor"].append(float("nan") if few else fid(target, floor))
        rows["kid"].append(float("nan") if few else kid(target, fake)[0])
        rows["kid_floor"].append(float("nan") if few else kid(target, floor)[0])
    div = diversity(gen_f) if k >= 2 else float("nan")
    spread = float(torch.pdist(real_f).mean())  # real images of different masks
    fid_name, kid_name = (f"FID ({features})", f"KID ({features})") if features != "Inception" else ("FID", "KID")
    sizes = f"{n // 2} vs {n // 2}, random halves" if ref_f is None else f"{n} vs {len(ref_f)} other masks"
    m = {key: (float(np.mean(v)), _std(v)) for key, v in rows.items()}
    table = pd.DataFrame([
        _row("consistency mIoU", m["miou"], ceiling["miou"], 0, "ceiling: judge on real images", n, k),
        _row("pixel accuracy", m["acc"], ceiling["pixel_accuracy"], 0, "ceiling: judge on real images", n, k),
        _row("SSIM", m["ssim"], float("nan"), 0, "vs the real image of the same mask", n, k),
        _row(fid_name, m["fid"], *m["fid_floor"], f"floor: real vs real ({sizes})", n // 2 if ref_f is None else n, k),
        _row(kid_name, m["kid"], *m["kid_floor"], f"floor: real vs real ({sizes})", n // 2 if ref_f is None else n, k),
        _row(f"diversity ({features})", (div, 0.0), spread, 0, "reference: real images of different masks", n, k),
    ])
    with warnings.catch_warnings():  # a class absent from every set is NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        per_class_mean = np.nanmean(np.stack(per_class), axis=0)
        per_image_mean = np.nanmean(np.array(per_image), axis=0)
    per_class_df = pd.DataFrame({"class": CLASS_NAMES, "iou_real": ceiling["per_class_iou"],
                                 "iou_generated": per_class_mean})
    per_class_df["delta"] = per_class_df["iou_generated"] - per_class_df["iou_real"]
    per_image_df = pd.DataFrame({"mask": np.arange(n), "miou_mean": per_image_mean})
    settings = {**(settings or {}), **{k_: v for k_, v in generated.manifest.items() if k_ != "key"},
                "features": features, "absent_classes": ceiling["absent"], "judge_arch": judge.hparams.arch}
    return Evaluation(table, per_class_df, per_image_df, generated, settings, confusions)


def table_one(evaluation: Evaluation) -> pd.DataFrame:
    """The paper's Table I for our model: generated (mean ± std over seeds), real ceiling / floor, their ratio,
    and the numbers the WINS 2024 paper reported (a different judge and protocol: context, not a comparison)."""
    t = evaluation.table.set_index("metric")
    cols = [m for m in t.index if not m.startswith("diversity")]
    paper = {m: PAPER_TABLE_I.get(m.split(" (")[0], np.nan) for m in cols}
    return pd.DataFrame({
        "ours, generated": [_pm(t.loc[m, 'generated'], t.loc[m, 'generated_std']) for m in cols],
        "real (ceiling / floor)": ["-" if not np.isfinite(t.loc[m, "reference"]) else
                                   _pm(t.loc[m, 'reference'], t.loc[m, 'reference_std'], zero_is_none=True)
                                   for m in cols],
        "ratio": ["-" if not np.isfinite(t.loc[m, "ratio"]) else f"{t.loc[m, 'ratio']:.2f}x" for m in cols],
        "WINS 2024 (reported)": [paper[m] for m in cols],
    }, index=cols)


def _std(values: list[float]) -> float:
    """Sample standard deviation over seeds; undefined (NaN) for a single seed."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def _pm(mean: float, std: float, zero_is_none: bool = False) -> str:
    """``mean ± std``; a std that is undefined (one seed) is said, one that is exactly 0 left out when asked."""
    if zero_is_none and std == 0:
        return f"{mean:.4g}"
    return f"{mean:.4g} ± {std:.2g}" if np.isfinite(std) else f"{mean:.4g} (one seed: no std)"


def _row(metric: str, gen: tuple[float, float], ref: float, ref_std: float, reference: str, n: int, k: int) -> dict:
    # a ratio to a reference that cannot be told from zero (KID's unbiased floor often is) would mislead: none
    spread = ref_std if np.isfinite(ref_std) else 0.0  # one seed: no spread to compare with
    ratio = gen[0] / ref if ref and np.isfinite(ref) and ref > 2 * spread else float("nan")
    return {"metric": metric, "generated": gen[0], "generated_std": gen[1], "reference": ref, "reference_std": ref_std,
            "ratio": ratio, "reference_kind": reference, "n_per_set": n, "seeds": k}


def write_tables(evaluation: Evaluation, out: str | Path, *, overwrite: bool = True, say=None) -> Path:
    """Write table.csv/.md/.tex, per_class.csv, per_image.csv and settings.json to ``out`` (atomically).

    An earlier ``out`` is replaced only with ``overwrite``, only if semsegdiff wrote it and it holds
    nothing else (``say`` is told what is replaced)."""
    t = evaluation.table
    shown = pd.DataFrame({
        "metric": t["metric"],
        "generated": [_pm(g, s) for g, s in zip(t["generated"], t["generated_std"])],
        "real ceiling / floor": [("-" if not np.isfinite(r) else _pm(r, s, zero_is_none=True))
                                 for r, s in zip(t["reference"], t["reference_std"])],
        "ratio": [("-" if not np.isfinite(r) else f"{r:.2f}x") for r in t["ratio"]],
        "n": t["n_per_set"],
    })
    s = evaluation.settings
    caption = (f"{s.get('sampler')} {s.get('steps')} steps, guidance {s.get('guidance')}, {s.get('n_masks')} masks x "
               f"{s.get('per_mask')} seeds; judge {s.get('judge_arch')}; features: {s.get('features')}; classes left "
               f"out of mIoU (absent): {', '.join(s.get('absent_classes') or []) or 'none'}")
    with atomic_dir(out, overwrite=overwrite, say=say) as tmp:
        t.to_csv(tmp / "table.csv", index=False, float_format="%.6g")
        (tmp / "table.md").write_text(shown.to_markdown(index=False) + f"\n\n{caption}\n")
        (tmp / "table.tex").write_text(shown.style.hide(axis="index").to_latex(caption=caption, hrules=True))
        evaluation.per_class.to_csv(tmp / "per_class.csv", index=False, float_format="%.6g")
        evaluation.per_image.to_csv(tmp / "per_image.csv", index=False, float_format="%.6g")
        (tmp / "settings.json").write_text(json.dumps(s, indent=1, default=str))
    return Path(out)


def evaluations_here(folder: Path) -> bool:
    """Whether an unmarked ``folder`` holds evaluations of ours, by content (earlier versions wrote no marker on it):
    a table folder or generated set semsegdiff marked, or a judge checkpoint that reads as a segmenter of ours."""
    from .judge import read_module_checkpoint

    if any(marker(q) for q in folder.iterdir() if q.is_dir()):
        return True
    try:
        return "arch" in read_module_checkpoint(folder / "judge.ckpt", "judge").get("hyper_parameters", {})
    except CheckpointError:
        return False


def evaluate_checkpoint(checkpoint: str | Path, *, judge: str | Path | None = None, split: str = "val",
                        n_masks: int | None = None, sampler: str | None = None, steps: int | None = None,
                        guidance: float | None = None, per_mask: int | None = None, seed: int | None = None,
                        inception: str = "", out: str | Path | None = None, root: str | Path = ".",
                        device: str | None = None, overwrite: bool = True, progress: bool = True,
                        say=None, judge_settings: dict[str, Any] | None = None,
                        precision: str | None = None, allow_slow: bool = False) -> Evaluation:
    """Generate for the split's masks with ``checkpoint``, score with the judge, write the tables (``semsegdiff evaluate``).

    Unset settings come from the checkpoint's configuration (its profile's judge and
    evaluation settings). The judge defaults to ``runs/<profile>/judge.ckpt`` next to the
    checkpoint, trained on the checkpoint's real train split when missing.
    """
    from ..config import PROFILES, check_device, check_setting
    from ..data import dataset_for
    from ..data.prepare import train_count
    from ..models import check_base, load_checkpoint
    from ..models.training import beside
    from .cost import check_evaluation
    from .judge import ensure_judge, load_segmenter
    from .metrics import inception_features

    checkpoint = Path(checkpoint)
    device = check_device(device, "--device")
    model = check_base(load_checkpoint(checkpoint, device=device, precision=precision), checkpoint, "evaluate")
    cfg = {**PROFILES.get(model.cfg.get("profile", "quick"), PROFILES["quick"]), **model.cfg}  # its precision too
    given = {"eval_masks": n_masks, "sampler": sampler, "steps": steps, "guidance": guidance,
             "eval_per_mask": per_mask, "eval_seed": seed, "inception": inception or None, **(judge_settings or {})}
    if judge and any(v is not None for v in (judge_settings or {}).values()):
        raise SettingError(f"--judge {judge}: a given judge is used as it is; the judge settings "
                           f"({', '.join(k for k, v in judge_settings.items() if v is not None)}) train a new one")
    cfg.update({k: check_setting(k, v) for k, v in given.items() if v is not None}, allow_slow=allow_slow)
    judge_model = load_segmenter(Path(judge), device, model.cfg["precision"]) if judge else None  # a bad file: an error before any work
    if judge_model is not None:
        check_pair(model, judge_model, checkpoint, judge)
    home = Path(out) if out else beside(checkpoint, "evaluate")  # the judge and the generated images go here
    out = Path(out) if out else checkpoint.parent / "eval"
    claim(out, "folder of evaluations", legacy=evaluations_here, inputs=[checkpoint], create=False)
    said = check_evaluation(cfg, model.cfg, n_train=train_count(cfg, root=root), n_masks=cfg["eval_masks"],
                            judge=judge_model is None and not (Path(root) / home / "judge.ckpt").is_file(),
                            device=str(device).split(":")[0])
    if said:  # before any data is rendered or prepared
        print(said, flush=True)
    prepared = dataset_for(cfg, root=root, progress=progress)
    if split not in prepared.splits:
        raise DataError(f"{prepared.root}: no {split} split to evaluate on (has {', '.join(prepared.splits)})")
    if model.cfg.get("instance_edges"):
        prepared.check_instances(f"{checkpoint} (trained with instance_edges)")
    available = len(prepared.masks(split))
    if n_masks is not None and cfg["eval_masks"] > available or available < 4:
        hint = (f"use --masks {available} or fewer" if available >= 4 else
                "the scores need at least 4 (FID/KID compare two halves of >= 2): prepare the data with a larger "
                "val_fraction, or choose --split")
        raise SettingError(f"eval_masks (--masks): {cfg['eval_masks']} masks asked for, but the {split} split of "
                           f"{prepared.root} has {available}; {hint}")
    n = min(cfg["eval_masks"], available)
    masks, real = np.asarray(prepared.masks(split)[:n]), np.asarray(prepared.images(split)[:n])
    attrs = conditions_of(model, np.asarray(prepared.attributes(split)[:n]), n)  # the real images' conditions
    ids = prepared.instances(split)
    instances = instances_of(model, None if ids is None else ids[:n], n)
    tables = out / set_folder(checkpoint, masks, sampler=cfg["sampler"], steps=cfg["steps"], guidance=cfg["guidance"],
                              per_mask=cfg["eval_per_mask"], seed=cfg["eval_seed"], cache=out,
                              precision=sampling_precision(model), attrs=attrs, instances=instances)[1].name
    check_output(tables, overwrite=overwrite, inputs=[checkpoint])  # before training a judge or generating
    claim(out, "folder of evaluations", legacy=evaluations_here, inputs=[checkpoint])  # ours before anything in it
    if judge_model is None:
        judge_model, judge_path = ensure_judge(cfg, root=root, out=home, progress=progress, device=device)
        check_pair(model, judge_model, checkpoint, judge_path)
    else:
        judge_path = Path(judge)
    extractor, features = None, "judge features"
    if cfg["inception"]:
        net = inception_features(cfg["inception"]).to(device)
        extractor = lambda x: torch.cat([net(b.to(device)).cpu() for b in x.split(64)])  # noqa: E731
        features = "Inception"
    generated = generate_set(model, checkpoint, masks, sampler=cfg["sampler"], steps=cfg["steps"],
                             guidance=cfg["guidance"], per_mask=cfg["eval_per_mask"], seed=cfg["eval_seed"],
                             cache=home / "generated", source=f"{prepared.root} {split}[:{n}]",
                             progress=progress, attrs=attrs, instances=instances)
    evaluation = score(generated, masks, real, judge_model, features=features, extractor=extractor,
                       settings={"checkpoint": str(checkpoint), "judge": str(judge_path), "split": split})
    evaluation.settings["tables"] = str(write_tables(evaluation, tables, overwrite=overwrite, say=say))
    return evaluation
