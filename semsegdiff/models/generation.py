"""Generating to disk: images for a folder of masks (``semsegdiff generate``), and a photo's edited region
regenerated in place (``semsegdiff edit``)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torchvision.io import write_png

from ..attributes import requested
from ..config import check_device, check_setting
from ..data.formats import read_mask_folder
from ..data.instances import encode_instances, read_instance_folder
from ..errors import DataError, SettingError
from ..files import atomic_dir, check_output, write_bytes
from .cascade import Cascade
from .module import check_base, load_checkpoint


def generate_folder(checkpoint: str | Path, masks: str | Path, out: str | Path, *, sampler: str | None = None,
                    steps: int | None = None, guidance: float | None = None, per_mask: int = 1, seed: int = 0,
                    batch_size: int = 64, resize: bool = False, device: str | None = None, overwrite: bool = False,
                    progress: bool = True, attribute_guidance: float | None = None,
                    condition_guidance: dict[str, float] | None = None,
                    precision: str | None = None, instances: str | Path | None = None,
                    upscale: str | Path | None = None, aug_level: float | None = None,
                    **conditions: str | None) -> pd.DataFrame:
    """Generate ``per_mask`` images for every mask PNG in ``masks``; write PNGs and ``manifest.csv`` to ``out``.

    ``instances``: a folder with the instance map of every mask (BDD100K bitmasks or Cityscapes
    instanceIds, named like the masks): a model trained with ``instance_edges`` is conditioned on
    them, and each image's map is written to ``out/instances/`` in the same encoding (the label of an
    instance or panoptic training pair).

    ``upscale``: an upscaler of ``checkpoint`` (``semsegdiff train --profile quick-upscaler``): the masks are at ITS
    frame, the base sees them downsampled, and the images come at that frame (:class:`.cascade.Cascade`;
    ``aug_level``: the noise level of the base's images it upscales).

    ``conditions``: ``time``, ``weather``, ``scene`` for every image (a model trained with
    attributes; None: unconditional), recorded in the manifest. Sampler, steps and guidance
    default to the checkpoint's. Image ``k`` of mask ``i``
    (sorted by file name) uses seed ``seed + i * per_mask + k``. Everything is checked
    before any work; ``out`` appears only once everything is written. Returns the manifest.
    """
    per_mask, seed = check_setting("per_mask", per_mask), check_setting("seed", seed)
    requested(1, **conditions)  # unknown attributes or values: an error before any work
    inputs = [checkpoint, masks, *(p for p in (instances, upscale) if p is not None)]
    check_output(out, overwrite=overwrite, inputs=inputs)
    device = check_device(device, "--device")
    model = load_checkpoint(checkpoint, device=device, precision=precision)
    if model.is_upscaler:
        raise SettingError(f"--checkpoint {checkpoint}: is an upscaler (x{model.cfg['upscale']}); give its base "
                           f"model's checkpoint and --upscale {checkpoint}")
    cascade = None if upscale is None else Cascade(model, load_checkpoint(upscale, device=device, precision=precision),
                                                   names=(str(checkpoint), str(upscale)))
    if aug_level is not None and cascade is None:
        raise SettingError("aug_level (--aug-level): the noise level of the images an upscaler upscales; give "
                           "--upscale CKPT, or leave it out")
    target = model if cascade is None else cascade.upscaler  # the frame the masks come at
    sampler, steps, guidance = (model.cfg[k] if v is None else check_setting(k, v)
                                for k, v in (("sampler", sampler), ("steps", steps), ("guidance", guidance)))
    inert(model, checkpoint, instances=instances is not None, attribute_guidance=attribute_guidance, guidance=guidance,
          condition_guidance=condition_guidance)
    files, ids = read_mask_folder(masks, size=target.size if resize else None)
    if ids.shape[1:] != target.frame:
        raise DataError(f"{masks}: masks are {ids.shape[1]}x{ids.shape[2]} but {upscale or checkpoint} was trained on "
                        f"{target.frame[0]}x{target.frame[1]} (height x width); pass --resize to crop them to its "
                        "aspect (centred) and resize them")
    maps, encoding = None, None
    if instances is not None:  # each map checked against its mask as read, then cropped like it
        from ..data.formats import center_crop_resize, read_mask

        _, maps, encoding = read_instance_folder(instances, files, read_mask)
        maps = np.stack([center_crop_resize(None, m.astype(np.int32), target.size)[1] if resize else m for m in maps])
    reps = torch.from_numpy(ids).repeat_interleave(per_mask, dim=0)
    seeds = [seed + j for j in range(len(reps))]
    rows = []
    inputs = [checkpoint, masks, *([] if instances is None else [instances])]
    with atomic_dir(out, overwrite=overwrite, inputs=inputs) as tmp:
        kw = {} if cascade is None else {"aug_level": aug_level}
        images = (model if cascade is None else cascade).generate(
            reps, sampler=sampler, steps=steps, guidance=guidance, seed=seeds, batch_size=batch_size, progress=progress,
            attribute_guidance=attribute_guidance, condition_guidance=condition_guidance,
            instances=None if maps is None else np.repeat(maps.astype(np.int32), per_mask, axis=0), **conditions, **kw)
        if maps is not None:
            (tmp / "instances").mkdir()
        for j, image in enumerate(images):
            f = files[j // per_mask]
            name = f"{f.stem}_{j % per_mask:02d}.png"
            write_png(image, str(tmp / name))
            if maps is not None:
                write_bytes(tmp / "instances" / name, encode_instances(maps[j // per_mask], ids[j // per_mask], encoding))
            rows.append({"image": name, "mask": str(f), "seed": seeds[j], "sampler": sampler, "steps": steps,
                         "guidance": guidance, **{k: v or "" for k, v in conditions.items()},
                         **({} if condition_guidance is None else {"condition_guidance": json.dumps(condition_guidance)}),
                         **({} if maps is None else {"instances": f"instances/{name}", "encoding": encoding}),
                         "checkpoint": str(checkpoint),
                         **({} if cascade is None else {"upscaler": str(upscale), "aug_level": aug_level if aug_level
                                                        is not None else cascade.upscaler.cfg["aug_level"]})})
        manifest = pd.DataFrame(rows)
        manifest.to_csv(tmp / "manifest.csv", index=False)
    return manifest


def inert(model, checkpoint: str | Path, *, instances: bool = False, attribute_guidance: float | None = None,
          guidance: float | None = None, condition_guidance: dict[str, float] | None = None) -> None:
    """Inputs that would change nothing for this model: a refusal when the result would silently differ from what
    was asked, one printed line when it is still useful (instance maps written beside images as labels)."""
    for key, given in (("attribute_guidance", attribute_guidance), ("condition_guidance", condition_guidance)):
        if given is not None and not model.cfg["attributes"]:
            raise SettingError(f"{key} (--{key.replace('_', '-')}): {checkpoint} was trained without attributes "
                               "(attributes: false), so there is nothing for it to guide; leave it out")
    if instances and not model.cfg.get("instance_edges"):
        print(f"note: {checkpoint} was trained without instance_edges, so the instance maps do not condition the "
              "images (they are the same as without --instances); they are written beside them as labels only",
              flush=True)
    if guidance is not None and model.is_student:
        lo, hi = model.cfg["distill_guidance"]
        if not lo <= check_setting("guidance", guidance) <= hi:
            print(f"note: guidance {guidance:g} is outside the scales {lo:g}..{hi:g} the student {checkpoint} was "
                  "distilled for (distill_guidance); it extrapolates, and its images follow no teacher", flush=True)


def edit_photo(checkpoint: str | Path, image: str | Path, mask: str | Path, edited: str | Path, out: str | Path, *,
               dilate: int = 2, sampler: str | None = None, steps: int | None = None, guidance: float | None = None,
               seed: int = 0, resample: int = 0, resize: bool = False, device: str | None = None,
               overwrite: bool = False, attribute_guidance: float | None = None,
               condition_guidance: dict[str, float] | None = None, precision: str | None = None,
               **conditions: str | None) -> Path:
    """Regenerate only what changed between ``mask`` and ``edited`` in the photo ``image`` (``semsegdiff edit``).

    The changed pixels, dilated by ``dilate``, are generated (RePaint-style); every other pixel
    is the photo's. ``out`` gets ``image.png`` (the result), ``mask.png`` (the edited mask as
    train ids: the result's label, a new training pair), ``region.png`` (255 = regenerated) and
    ``manifest.json``. ``conditions`` (``time``, ``weather``, ``scene``) condition the regenerated
    region, e.g. a wet road under ``weather="rain"``.
    """
    from ..data.formats import center_crop_resize, read_image, read_mask
    from ..files import write_text
    from ..masks import changed_region

    dilate, seed, resample = (check_setting(k, v) for k, v in (("dilate", dilate), ("seed", seed), ("resample", resample)))
    requested(1, **conditions)
    check_output(out, overwrite=overwrite, inputs=[checkpoint, image, mask, edited])
    device = check_device(device, "--device")
    model = check_base(load_checkpoint(checkpoint, device=device, precision=precision), checkpoint, "edit")
    inert(model, checkpoint, attribute_guidance=attribute_guidance, guidance=guidance,
          condition_guidance=condition_guidance)
    photo, original, target = read_image(Path(image)), read_mask(Path(mask)), read_mask(Path(edited))
    for name, m in (("mask", (mask, original)), ("edited mask", (edited, target))):
        if m[1].shape != photo.shape[:2]:
            raise DataError(f"{m[0]}: the {name} is {m[1].shape[0]}x{m[1].shape[1]} but the image {image} is "
                            f"{photo.shape[0]}x{photo.shape[1]} (height x width); a mask must be the size of its "
                            "photo (--resize crops and resizes both, together, to the model's frame)")
    if photo.shape[:2] != model.frame:
        if not resize:
            raise DataError(f"{image}: is {photo.shape[0]}x{photo.shape[1]} but {checkpoint} was trained on "
                            f"{model.frame[0]}x{model.frame[1]} (height x width); pass --resize to crop image and "
                            "masks to its aspect (centred) and resize them")
        photo, original = center_crop_resize(photo, original, model.size)
        target = center_crop_resize(None, target, model.size)[1]
    region = changed_region(original, target, dilate)
    if not region.any():
        raise DataError(f"{edited}: is the same as {mask}: there is nothing to regenerate")
    result = model.generate(target[None], sampler=sampler, steps=steps, guidance=guidance, seed=seed,
                            init=photo[None], keep=~region[None], resample=resample,
                            attribute_guidance=attribute_guidance, condition_guidance=condition_guidance,
                            **conditions)[0]
    with atomic_dir(out, overwrite=overwrite, inputs=[checkpoint, image, mask, edited]) as tmp:
        write_png(result, str(tmp / "image.png"))
        write_png(torch.from_numpy(target)[None], str(tmp / "mask.png"))
        write_png(torch.from_numpy(region.astype(np.uint8) * 255)[None], str(tmp / "region.png"))
        write_text(tmp / "manifest.json", json.dumps({
            "image": str(image), "mask": str(mask), "edited_mask": str(edited), "checkpoint": str(checkpoint),
            "dilate": dilate, "regenerated_pixels": int(region.sum()), "seed": seed, "resample": resample,
            "sampler": sampler or model.cfg["sampler"], "steps": steps or model.cfg["steps"],
            "guidance": model.cfg["guidance"] if guidance is None else guidance, **conditions,
            **({} if condition_guidance is None else {"condition_guidance": condition_guidance})}, indent=1))
    return Path(out)
