"""``semsegdiff enrich``: a NEW dataset folder in the source's layout, with the real pairs and generated ones.

Everything is checked before any image is made (settings, the checkpoint against the data, the output folder, the
time on a CPU and the disk it will take). The folder is built in ``.<out>.enriching`` beside ``out`` (held by one
process, resumable: a killed run goes on from its last finished chunk of images, a half-written chunk is written
again) and renamed to ``out`` only when complete. Nothing in the source is ever written.
"""
from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..config import PROFILES, check_device, check_setting, get_profile
from ..errors import CheckpointError, DataError, OutputError, SettingError
from ..files import check_output, claim, file_fingerprint, hold, mark, marker, overlaps
from ..frame import label
from ..labels import NUM_CLASSES
from ..recipe import count, split_count

KIND = "enrichment in progress"


def settings(checkpoint_cfg: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The enrichment settings: what was given, checked, else the checkpoint's profile's (its study's evidence)."""
    cfg = get_profile(checkpoint_cfg["profile"] if checkpoint_cfg.get("profile") in PROFILES else "quick")
    cfg.update({k: check_setting(k, v) for k, v in given.items() if v is not None})
    if "cond" in cfg["enrich_recipe"] and not checkpoint_cfg.get("attributes"):
        if given.get("enrich_recipe") is not None:
            raise SettingError("enrich_recipe (--recipe): the cond step asks for night, rain and fog, but the checkpoint "
                               "was trained without attributes; leave cond out")
        recipe = dict(cfg["enrich_recipe"])  # the default recipe: cond's share to hard, said
        recipe["hard"] = recipe.get("hard", 0.0) + recipe.pop("cond")
        cfg["enrich_recipe"] = recipe
        print("note: the checkpoint was trained without attributes: the recipe's cond share goes to hard", flush=True)
    return cfg


def enrich(checkpoint: str | Path, data: str | Path, out: str | Path, *, n: str | int | None = None,
           recipe: Any = None, conditions: Any = None, filter: float | None = None, real: str | None = None,
           resolution: str = "model", student: str | Path | None = None, sampler: str | None = None,
           steps: int | None = None, guidance: float | None = None, seed: int = 0, devices: Any = 1,
           num_nodes: int = 1, strategy: str = "auto", batch_size: int = 64, device: str | None = None,
           precision: str | None = None, allow_slow: bool = False, progress: bool = True, cache: str | Path = "data",
           command: str | None = None, upscale: str | Path | None = None, **reference: Any) -> Path:
    """Write ``out``: the dataset ``data`` in its own layout, its real train pairs (``real``: link, copy, none) and
    generated ones by ``checkpoint`` (or ``student``) per the recipe; ``enrichment.csv`` and a card. Its path.

    ``upscale``: the cascade's upscaler of ``checkpoint``: every generated image is upscaled to its frame, conditioned
    on the source's mask prepared at that frame (an edited one upsampled, nearest), and written there.

    ``reference``: settings of the segmenter trained on the real pairs for FreeMask's hardness and filter
    (``ablate_steps``, ``ablate_arch``, ``judge_batch_size``, ``judge_lr``, ``hard_max``; default the profile's)."""
    from ..data import ensure_dataset, open_dataset
    from ..models import check_base, load_checkpoint, read_checkpoint
    from .layouts import Layout

    checkpoint, data, out = Path(checkpoint), Path(data), Path(out)
    device = check_device(device, "--device")
    hp = read_checkpoint(checkpoint)["hyper_parameters"]
    cfg = settings(hp, {"enrich_n": n, "enrich_recipe": recipe, "enrich_conditions": conditions,
                        "enrich_filter": filter, "enrich_real": real, "seed": seed, "batch_size": batch_size,
                        "devices": devices, "num_nodes": num_nodes, "strategy": strategy, **_reference_keys(reference)})
    cfg["allow_slow"] = bool(allow_slow)
    if resolution not in ("model", "source"):
        raise SettingError(f"--resolution: {resolution!r} is not one of model, source")
    if upscale is not None and resolution != "model":
        raise SettingError("--resolution source with --upscale: the upscaler's frame is the export's; leave --resolution")
    inputs = [data, checkpoint, *([student] if student else []), *([upscale] if upscale else [])]
    if data.exists() and overlaps(out, data):
        raise OutputError(f"{out}: the output overlaps the source {data}; nothing in the source is ever written: "
                          "choose --out outside it")
    if marker(out) is not None and isinstance(marker(out).get("files"), list):
        raise OutputError(f"{out}: is a finished enriched dataset (or another output of semsegdiff); choose another "
                          "--out, or delete it yourself to make it again")
    check_output(out, inputs=inputs)  # new or empty: a user's folder is never written into
    source = open_dataset(data)
    if "train" not in source.splits and "all" not in source.splits:
        raise DataError(f"{data}: has no train split to enrich (it has {', '.join(source.splits)})")
    if hp["num_classes"] != NUM_CLASSES:
        raise CheckpointError(f"{checkpoint}: has {hp['num_classes']} classes, the data's layouts {NUM_CLASSES}")
    model = check_base(load_checkpoint(checkpoint, device=device, precision=precision), checkpoint, "enrich")
    generator, sampling = _generator(model, checkpoint, student, device, precision, sampler, steps, guidance)
    upscaler = None
    if upscale is not None:
        from ..models import Cascade

        upscaler = Cascade(model, load_checkpoint(upscale, device=device, precision=precision),
                           names=(str(checkpoint), str(upscale))).upscaler
    prepared = ensure_dataset(data, size=model.size, cache=cache, crop=model.cfg.get("crop", 0.5), progress=progress,
                              seed=model.cfg.get("seed", 0), val_fraction=model.cfg.get("val_fraction", 0.125))
    high = None if upscaler is None else _high(data, prepared, upscaler, model, cache, progress)
    train = "train" if "train" in prepared.splits else None
    if train is None:
        raise DataError(f"{data}: has no train split to enrich")
    target = _resolution(source, model, resolution) if upscaler is None else upscaler.frame
    n_real = len(prepared.masks(train))
    total = count(cfg["enrich_n"], n_real)
    layout_probe = Layout(source, out)
    _check_cost(cfg, generator, sampling, total, n_real, source, layout_probe, target, out, device, upscaler)

    partial = out.parent / f".{out.name}.enriching"
    key = {"checkpoint": file_fingerprint(checkpoint), "student": file_fingerprint(student) if student else "",
           **({"upscaler": file_fingerprint(upscale)} if upscale else {}),
           "data": prepared.meta.get("fingerprint"), "sampling": sampling, "resolution": resolution,
           **{k: cfg[k] for k in ("enrich_n", "enrich_recipe", "enrich_conditions", "enrich_filter", "enrich_real",
                                  "seed", "hard_max", "ablate_arch", "ablate_steps", "judge_batch_size", "judge_lr")}}
    claim(partial, KIND, inputs=inputs, create=False)
    earlier = marker(partial)
    if earlier is not None and earlier.get("key") not in (None, key):
        raise OutputError(f"{partial}: holds an unfinished enrichment with other settings (or source, or checkpoint); "
                          f"finish it with those, or delete {partial} to start this one")
    with hold(claim(partial, KIND, inputs=inputs), "semsegdiff enrich"):
        if marker(partial).get("key") is None:
            mark(partial, kind=KIND, files=None, key=key)
        from .chunks import build

        info = build(cfg, source=source, prepared=prepared, layout=Layout(source, partial), model=model,
                     generator=generator, sampling=sampling, total=total, target=target, device=device,
                     progress=progress, high=None if high is None else (upscaler, *high))
        info.update(checkpoint=str(checkpoint), checkpoint_sha256=key["checkpoint"], source=str(data),
                    created=time.strftime("%Y-%m-%d"),
                    name=out.name, command=command or _command(checkpoint, data, out, cfg, resolution, student))
        from .chunks import finish

        finish(partial, info, source, prepared)
        mark(partial, kind="enriched dataset", key=key)
    if out.exists():
        out.rmdir()  # empty (checked above); the rename needs it gone
    partial.rename(out)
    (out / ".lock").unlink(missing_ok=True)
    return out


def _reference_keys(given: dict[str, Any]) -> dict[str, Any]:
    allowed = ("ablate_steps", "ablate_arch", "judge_batch_size", "judge_lr", "hard_max")
    unknown = [k for k in given if k not in allowed]
    if unknown:
        raise SettingError(f"{', '.join(unknown)}: not an enrichment setting; the reference segmenter takes "
                           f"{', '.join(allowed)}")
    return given


def _generator(model, checkpoint: Path, student, device: str, precision, sampler, steps, guidance):
    """(the model that generates, its sampling): the teacher with its sampler, or a student of it with lcm."""
    from ..models import load_checkpoint

    if student is None:
        gen = model
    else:
        gen = load_checkpoint(student, device=device, precision=precision)
        if not gen.is_student or gen.cfg.get("teacher") != file_fingerprint(checkpoint):
            raise CheckpointError(f"{student}: is not a student distilled from {checkpoint} (--student); make one "
                                  f"with semsegdiff distill --checkpoint {checkpoint}")
    sampling = {"sampler": gen.cfg["sampler"] if sampler is None else check_setting("sampler", sampler),
                "steps": gen.cfg["steps"] if steps is None else check_setting("steps", steps),
                "guidance": gen.cfg["guidance"] if guidance is None else check_setting("guidance", guidance)}
    if gen.is_student and sampling["sampler"] != "lcm":
        raise SettingError(f"sampler (--sampler): a student samples with lcm, not {sampling['sampler']!r}")
    if gen.cfg.get("attributes") and not gen.is_student:  # the cond step's scales, recorded with the set
        sampling.update({k: gen.cfg[k] for k in ("attribute_guidance", "condition_guidance")})
    return gen, sampling


def _resolution(source, model, resolution: str) -> tuple[int, int]:
    """The frame the generated pairs are written at: the model's, or (``source``) the source's when its aspect is the
    model's (upsampled: bicubic images, nearest labels)."""
    if resolution == "model":
        return model.frame
    from PIL import Image

    sample = (source.splits.get("train") or source.splits["all"])[0]
    with Image.open(sample.image) as im:
        w, h = im.size
    mh, mw = model.frame
    if abs(h / w - mh / mw) > 0.01:
        raise SettingError(f"--resolution source: {sample.image} is {h}x{w} but the model generates {mh}x{mw} (height x "
                           "width), another aspect; train the model on whole frames (--size HxW at the source's "
                           "aspect) or write at the model's frame (--resolution model)")
    return h, w


def _high(data: Path, prepared, upscaler, model, cache, progress: bool) -> tuple:
    """(masks, instance ids or None) of the train pairs prepared at the upscaler's frame, in the base cache's order."""
    from ..data import ensure_dataset

    high = ensure_dataset(data, size=upscaler.size, cache=cache, crop=model.cfg.get("crop", 0.5), progress=progress,
                          seed=model.cfg.get("seed", 0), val_fraction=model.cfg.get("val_fraction", 0.125))
    if high.meta["splits"]["train"]["names"] != prepared.meta["splits"]["train"]["names"]:
        raise DataError(f"{data}: its train pairs prepared at {label(upscaler.size)} px are not those at "
                        f"{label(model.size)} px (another split); prepare both from the same folder")
    ids = high.instances("train")
    return np.array(high.masks("train")), None if ids is None else np.array(ids)


def _check_cost(cfg, generator, sampling, total, n_real, source, layout, target, out, device, upscaler=None) -> None:
    """Before any image: the time on a CPU (allow_slow) and the disk the export will take (refused when short)."""
    from ..eval.cost import sampling_flops, segmenter_flops
    from ..models.cost import CPU_TFLOPS, verdict

    counts = split_count(total, cfg["enrich_recipe"])
    generated = total - counts.get("copypaste", 0)
    if str(device).startswith("cpu"):
        flops = sampling_flops({**generator.cfg, "attributes": generator.cfg.get("attributes")}, generated,
                               sampling["steps"]) / (2 if generator.is_student else 1)
        if upscaler is not None:
            flops += sampling_flops(upscaler.cfg, generated, upscaler.cfg["steps"])
        if "hard" in counts or cfg["enrich_filter"] > 0:
            flops += segmenter_flops(cfg["ablate_arch"], generator.size) * cfg["ablate_steps"] * cfg["judge_batch_size"]
        said = verdict(cfg, flops / (CPU_TFLOPS * 1e12), f"generates {generated:,} images at {label(generator.size)} px")
        if said:
            print(said, flush=True)
    samples = (source.splits.get("train") or source.splits["all"])[:16]
    per_pixel = np.mean([sum(f.stat().st_size for f in layout.real_files(s)) / _pixels(s.image) for s in samples])
    need = per_pixel * target[0] * target[1] * total * 1.2  # PNG/JPEG of generated pairs vary: a margin
    if cfg["enrich_real"] == "copy":
        need += sum(f.stat().st_size for samples in source.splits.values() for s in samples
                    for f in layout.real_files(s))
    free = shutil.disk_usage(next(p for p in [out, *out.parents] if p.exists())).free
    if need > 0.95 * free:
        raise OutputError(f"{out}: the export needs about {need / 2**30:,.1f} GiB ({total:,} generated pairs at "
                          f"{target[0]}x{target[1]}{' and copies of the real files' if cfg['enrich_real'] == 'copy' else ''})"
                          f" and {free / 2**30:,.1f} GiB are free there; free some, ask for fewer (--n), or link the "
                          "real files (--real link)")
    size = next(f"{need / 2**e:,.1f} {unit}" for e, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB"), (0, "bytes"))
                if need >= 2**e or not e)
    print(f"enrich: {total:,} generated pairs ({', '.join(f'{k} {v:,}' for k, v in counts.items())}) at "
          f"{target[0]}x{target[1]}, about {size} on disk", flush=True)


def _pixels(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as im:
        return im.size[0] * im.size[1]


def _command(checkpoint, data, out, cfg, resolution, student) -> str:
    """The command line that makes this export again."""
    args = ["semsegdiff", "enrich", "--checkpoint", str(checkpoint), "--data", str(data), "--out", str(out),
            "--n", cfg["enrich_n"], "--recipe", json.dumps(cfg["enrich_recipe"]),
            "--conditions", json.dumps(cfg["enrich_conditions"]), "--filter", str(cfg["enrich_filter"]),
            "--real", cfg["enrich_real"], "--resolution", resolution, "--seed", str(cfg["seed"])]
    return shlex.join(args + (["--student", str(student)] if student else []))


def command_line() -> str:
    """This process's command line, for the card (``semsegdiff enrich ...``)."""
    return shlex.join(["semsegdiff", *sys.argv[1:]]) if sys.argv and sys.argv[0].endswith("semsegdiff") else ""

