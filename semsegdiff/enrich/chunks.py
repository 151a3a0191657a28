"""Building an enriched dataset chunk by chunk: the real files placed, the reference segmenter (FreeMask's hardness and
filter), then every chunk of the plan generated (the Lightning predict loop of the study, on N devices), filtered,
written in the layout, and recorded; and at the end the manifest, the attributes and the card.

A chunk counts as done when its rows are recorded (``.work/chunk-NNNNN.csv``, written after its files): a killed run
writes the unrecorded chunk again and never redoes a recorded one.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..attributes import NAMES
from ..files import atomic_path, write_text
from ..labels import IGNORE, NUM_CLASSES
from ..recipe import split_count
from .plan import class_weights, edit, paste, plan

CHUNK = 256  # generated pairs per chunk: the unit a killed run resumes from
STEP_NOTES = {"all": "every real mask in turn", "hard": "FreeMask's hardness re-sampling (hard masks up to hard_max x)",
              "rare": "a rare object inserted into a real mask, the scene generated",
              "rare local": "a rare object inserted, generated inside the real photo only",
              "cond": "common-condition masks generated at night / in rain / in fog",
              "copypaste": "a rare object cut from another real image and pasted (not generated)"}


def build(cfg: dict[str, Any], *, source, prepared, layout, model, generator, sampling: dict[str, Any], total: int,
          target: tuple[int, int], device: str, progress: bool, high: tuple | None = None) -> dict[str, Any]:
    """Place the real files, generate and write every chunk; what the card needs. ``high``: (the upscaler, the train
    masks and instance ids at its frame): every generated image is upscaled by the cascade's second stage."""
    work = layout.out / ".work"
    work.mkdir(parents=True, exist_ok=True)
    samples = {s.name: s for split in source.splits.values() for s in split}
    names = prepared.meta["splits"]["train"]["names"]
    images, masks = np.array(prepared.images("train")), np.array(prepared.masks("train"))  # in memory, writable
    codes = np.array(prepared.attributes("train"))
    ids = None if prepared.instances("train") is None else np.array(prepared.instances("train"))
    real = _place_real(cfg, source, layout, set(names))
    counts = split_count(total, cfg["enrich_recipe"])
    reference = _reference(cfg, images, masks, work, device) if ("hard" in counts or cfg["enrich_filter"] > 0) else None
    rows = plan(cfg["enrich_recipe"], total, masks, codes, seed=cfg["seed"], conditions=cfg["enrich_conditions"],
                hardness=None if reference is None else reference["hardness"], hard_max=cfg["hard_max"])
    weights = class_weights(masks)
    chunks = range(0, len(rows), CHUNK)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(rows), desc="enrich", unit="pair", disable=not progress, mininterval=1.0)
    for start in chunks:
        record = work / f"chunk-{start // CHUNK:05d}.csv"
        if not record.is_file():
            part = _chunk(cfg, rows.iloc[start:start + CHUNK], start, images=images, masks=masks, ids=ids, names=names,
                          samples=samples, layout=layout, generator=generator, sampling=sampling, target=target,
                          reference=reference, weights=weights, work=work, model=model, high=high)
            with atomic_path(record) as tmp:
                part.to_csv(tmp, index=False)
        bar.update(min(CHUNK, len(rows) - start))
    bar.close()
    manifest = pd.concat([pd.read_csv(work / f"chunk-{s // CHUNK:05d}.csv", keep_default_na=False) for s in chunks],
                         ignore_index=True)
    steps = pd.DataFrame([{"step": k, "images": v, "share": v / total, "what": STEP_NOTES[k]} for k, v in counts.items()])
    return {"manifest": manifest, "steps": steps, "codes_before": codes, "real": real, "real_train": len(names),
            "generated": total, "frame": f"{target[0]}x{target[1]}", "layout": source.format,
            "source_name": {"bdd100k": "BDD100K", "cityscapes": "Cityscapes"}.get(source.format, "the dataset"),
            "generator": ", ".join(f"{k} {v}" for k, v in sampling.items()) + (" (a distilled student)" if
                                                                               generator.is_student else ""),
            "seed": cfg["seed"], "image_format": "JPEG (quality 95)" if layout.suffix in (".jpg", ".jpeg") else "PNG",
            "resolution_note": "" if tuple(target) == tuple(model.frame) else
            f", upscaled from the model's {model.frame[0]}x{model.frame[1]} by the cascade's upscaler (x"
            f"{high[0].cfg['upscale']}, noise level {high[0].cfg['aug_level']:g}; copy-paste pairs bicubic)" if high else
            f", upsampled from the model's {model.frame[0]}x{model.frame[1]} (bicubic images, nearest labels: no new detail)",
            "filter_note": (f"FreeMask's filter: a generated label pixel whose loss under a segmenter trained on the real "
                            f"train pairs exceeds {cfg['enrich_filter']:g}x its class's mean real loss is 255 (ignore); "
                            f"{manifest['filtered'].mean():.2%} of generated pixels" if cfg["enrich_filter"] > 0 else
                            "no filter: every generated label pixel is the mask it was made from"),
            "pixels_before": np.asarray(prepared.meta["splits"]["train"]["pixel_counts"], dtype=np.int64),
            "pixels_generated": np.stack([json.loads(p) for p in manifest["pixels"]]).sum(0)}


def _place_real(cfg: dict[str, Any], source, layout, train: set[str]) -> str:
    """The real pairs placed: val and test always, train unless ``enrich_real`` is none; how, for the card."""
    how = "copy" if cfg["enrich_real"] == "copy" else "link"
    for split, samples in source.splits.items():
        for s in samples:
            if cfg["enrich_real"] == "none" and (split == "train" or s.name in train):
                continue
            layout.place(layout.real_files(s), how)
    for f in layout.finish() + [p for p in layout.attribute_sources() if p != source.root / "attributes.csv"]:
        layout.place([f], how)  # colormaps, label JSON: unchanged (the export writes its own attributes.csv)
    return {"link": "hard links to the source's files", "copy": "copies of the source's files",
            "none": "left out (--real none): add your own"}[cfg["enrich_real"]]


def _reference(cfg: dict[str, Any], images: np.ndarray, masks: np.ndarray, work: Path, device: str) -> dict[str, Any]:
    """FreeMask's reference: a segmenter trained on the real train pairs (the study's settings), the real pixel
    losses' class means and each mask's hardness; trained once, kept in the work folder while the run lasts."""
    from ..eval.arms import class_mean_losses, hardness, pixel_losses
    from ..eval.judge import load_segmenter, train_segmenter

    folder = work / "reference"
    ckpt = folder / "segmenter.ckpt"
    if not ckpt.is_file():
        ckpt = train_segmenter(cfg, (images, masks), None, folder, name="segmenter", seed=999, progress=False,
                               arch=cfg["ablate_arch"], steps=cfg["ablate_steps"], accelerator=device)
    segmenter = load_segmenter(ckpt, device, cfg.get("precision", "auto"))
    losses = pixel_losses(segmenter, images, masks)
    class_mean = class_mean_losses(losses, masks)
    return {"segmenter": segmenter, "class_mean": class_mean, "hardness": hardness(losses, masks, class_mean)}


def _chunk(cfg, rows: pd.DataFrame, start: int, *, images, masks, ids, names, samples, layout, generator, sampling,
           target, reference, weights, work: Path, model, high: tuple | None = None) -> pd.DataFrame:
    """Generate, filter and write one chunk of the plan; its rows of the manifest (``high``: :func:`build`'s)."""
    from ..eval.arms import filter_pixels, pixel_losses
    from ..eval.generated_sets import make_set
    from ..masks import changed_region

    out = []
    for step, group in rows.groupby("step", sort=False):
        k = start + np.flatnonzero(rows["step"].to_numpy() == step)  # the rows' global indices
        src = group["source"].to_numpy().copy()
        labels, inst, inserted, local = masks[src].copy(), None if ids is None else ids[src].copy(), [""] * len(k), {}
        if step in ("rare", "rare local", "copypaste"):
            made = []
            for j, (i, seed) in enumerate(zip(src, group["seed"].to_numpy())):
                if step == "copypaste":
                    image, label, new_ids, cls = paste(images, masks, ids, int(i), int(seed), weights)
                    made.append(image)
                else:
                    i, label, new_ids, cls = edit(masks, ids, int(i), int(seed), weights)
                    src[j] = i
                labels[j], inserted[j] = label, cls
                if inst is not None:
                    inst[j] = new_ids
            if step == "rare local":
                local = {"init": images[src].transpose(0, 3, 1, 2),
                         "keep": ~np.stack([changed_region(masks[i], e, 2) for i, e in zip(src, labels)])}
        if step == "copypaste":
            pics = np.stack(made)
        else:
            asked = group[list(NAMES)].to_numpy().astype(np.uint8)
            pics = make_set(generator, labels, group["seed"].to_numpy(), work / "sets" / f"chunk-{start // CHUNK:05d}-"
                            f"{step.replace(' ', '')}", sampling=sampling, attrs=asked if asked.any() else None,
                            instances=inst if generator.cfg.get("instance_edges") else None,
                            devices=cfg["devices"] if cfg["devices"] != "auto" else 1, num_nodes=cfg["num_nodes"],
                            strategy=_strategy(cfg), accelerator="cpu" if generator.device.type == "cpu" else "cuda",
                            batch_size=cfg["batch_size"], **local)
        filtered, unfiltered = np.zeros(len(k)), labels
        if reference is not None and cfg["enrich_filter"] > 0 and step != "copypaste":
            kept = labels
            labels = filter_pixels(pixel_losses(reference["segmenter"], pics, labels), labels, reference["class_mean"],
                                   cfg["enrich_filter"])
            filtered = ((labels == IGNORE) & (kept != IGNORE)).reshape(len(k), -1).mean(1)
        if inst is not None:
            inst[labels == IGNORE] = 0
        if high is not None and step != "copypaste":  # the cascade: upscaled on the masks at the upscaler's frame
            pics, labels, inst = _upscale(high, step, src, pics, labels, unfiltered, inst, group, asked)
        pics_out, labels_out, inst_out = _resize(pics, labels, inst, target)
        for j in range(len(k)):
            name = layout.name(int(k[j]), step, samples[names[src[j]]])
            files = layout.write("train" if "train" in layout.source.splits else "all", name, pics_out[j],
                                 labels_out[j], None if inst_out is None else inst_out[j])
            out.append({"image": files[0], "label": files[1], "step": step, "source": names[src[j]],
                        "source_mask": str(samples[names[src[j]]].mask.relative_to(layout.source.root)),
                        "seed": int(group["seed"].iloc[j]), **({"sampler": "", "steps": "", "guidance": ""}
                                                                if step == "copypaste" else sampling),
                        **{a: int(group[a].iloc[j]) for a in NAMES}, "inserted": inserted[j],
                        "filtered": round(float(filtered[j]), 6), "checkpoint": "" if step == "copypaste" else "model",
                        "pixels": json.dumps(np.bincount(labels[j][labels[j] != IGNORE].ravel(),
                                                         minlength=NUM_CLASSES)[:NUM_CLASSES].tolist())})
        shutil.rmtree(work / "sets", ignore_errors=True)  # written: the chunk's arrays are not needed any more
    return pd.DataFrame(out)


def _upscale(high: tuple, step: str, src: np.ndarray, pics: np.ndarray, labels: np.ndarray, unfiltered: np.ndarray,
             inst, group, asked) -> tuple:
    """(images, labels, instance ids) at the upscaler's frame: the source's masks prepared there (an edited mask
    upsampled nearest), the base's images upscaled on them with the pairs' seeds; the filter's ignore pixels (in
    ``labels``, not in ``unfiltered``) upsampled nearest."""
    upscaler, masks_hi, ids_hi = high
    near = lambda a: _nearest(a, upscaler.frame)  # noqa: E731
    edited = step in ("rare", "rare local")
    cond = near(unfiltered).astype(np.uint8) if edited else masks_hi[src].copy()
    cond_ids = None if inst is None else (near(inst).astype(np.int32) if edited or ids_hi is None else
                                          ids_hi[src].astype(np.int32))
    images = upscaler.generate(cond, low=pics, seed=[int(s) for s in group["seed"]],
                               attrs=asked if upscaler.cfg["attributes"] and asked.any() else None,
                               instances=cond_ids if upscaler.cfg.get("instance_edges") else None)
    out = cond.copy()
    out[near(labels) == IGNORE] = IGNORE  # what the filter (or the mask) left unlabelled stays so
    ids = None if cond_ids is None else np.where(out == IGNORE, 0, cond_ids).astype(np.uint16)
    return images.permute(0, 2, 3, 1).cpu().numpy(), out, ids


def _strategy(cfg: dict[str, Any]) -> str:
    from ..eval.ablation import generation_devices

    return generation_devices(cfg)["strategy"]


def _resize(images: np.ndarray, labels: np.ndarray, inst, target) -> tuple:
    """The pairs at ``target`` (H, W): images bicubic, labels and instance ids nearest (unchanged when already)."""
    if images.shape[1:3] == tuple(target):
        return images, labels, inst
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=tuple(target), mode="bicubic", align_corners=False).round().clamp(0, 255)
    return (x.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy(), _nearest(labels, target).astype(np.uint8),
            None if inst is None else _nearest(inst, target).astype(np.uint16))


def _nearest(a: np.ndarray, frame) -> np.ndarray:
    """Ids (N, h, w) at ``frame`` (H, W), nearest neighbour, as float32 holding whole numbers."""
    return F.interpolate(torch.from_numpy(a.astype(np.int32))[:, None].float(), size=tuple(frame),
                         mode="nearest")[:, 0].cpu().numpy()


def finish(partial: Path, info: dict[str, Any], source, prepared) -> None:
    """The manifest, the attributes of every image, the source's attribute files, the card; the work folder gone."""
    from ..data.attribute_files import read_attributes, write_attribute_csv
    from .card import card

    manifest = info["manifest"].drop(columns=["pixels"]).assign(checkpoint=lambda d: d["checkpoint"].replace(
        "model", info["checkpoint_sha256"]))
    with atomic_path(partial / "enrichment.csv") as tmp:
        manifest.to_csv(tmp, index=False)
    table = read_attributes(source)
    real = [s for samples in source.splits.values() for s in samples]
    generated = manifest[list(NAMES)].to_numpy().astype(np.uint8)
    stems = [Path(p).stem for p in manifest["image"]]
    write_attribute_csv(partial / "attributes.csv", [s.name for s in real] + stems,
                        np.concatenate([table.codes(real), generated]))
    text = card(info, info["steps"], info["pixels_before"], info["pixels_before"] + info["pixels_generated"],
                info["codes_before"], np.concatenate([info["codes_before"], generated]))
    write_text(partial / "README.md", text)
    shutil.rmtree(partial / ".work", ignore_errors=True)
