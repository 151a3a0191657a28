"""The ``semsegdiff`` command line: synth, prepare, info, train, distill, generate, edit, evaluate, ablate, notebooks.

Every value that is a setting (``--size``, ``--steps``, ``--lr`` ...) is converted and
range-checked by the same rules as the profiles (:func:`semsegdiff.config.check_setting`).
A user error prints one line, ``semsegdiff <command>: error: <message naming the file or
flag>``, and exits 1 (2 for a malformed command line); a bug keeps its traceback.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

import yaml

from .config import CHOICES, GROUPS, PROFILES, QUICK, check_setting

TRAIN_KEYS = [k for g in ("data", "model", "schedule", "training", "run", "sampling") for k in GROUPS[g]]
DISTILL_KEYS = [k for k in GROUPS["distillation"] if k != "distill_steps"] + ["batch_size", *GROUPS["run"]]
from .errors import SettingError, UserError


def _settings(a: argparse.Namespace, keys: list[str]) -> dict:
    """The values of setting flags that were given, converted and checked (None: not given)."""
    return {k: None if getattr(a, k) is None else check_setting(k, getattr(a, k)) for k in keys}


def _synth(a: argparse.Namespace) -> None:
    from .data.synthetic import write_dataset

    s = _settings(a, ["n_synthetic", "size", "seed", "val_fraction"])
    out = write_dataset(a.out, n=s["n_synthetic"] or 2000, size=s["size"] or 64, seed=s["seed"] or 0,
                        val_fraction=QUICK["val_fraction"] if s["val_fraction"] is None else s["val_fraction"],
                        overwrite=a.overwrite)
    print(f"wrote {s['n_synthetic'] or 2000} synthetic scenes in the BDD100K layout to {out}")


def _prepare(a: argparse.Namespace) -> None:
    from .data import open_prepared, prepare

    s = _settings(a, ["size", "crop", "val_fraction", "seed", "workers"])
    out = prepare(a.src, a.out, size=s["size"] or PROFILES["paper"]["size"], seed=s["seed"] or 0,
                  val_fraction=QUICK["val_fraction"] if s["val_fraction"] is None else s["val_fraction"],
                  overwrite=a.overwrite, workers=s["workers"] or 4, crop=0.5 if s["crop"] is None else s["crop"])
    prepared = open_prepared(out)
    meta, (h, w) = prepared.meta, prepared.frame
    counts = ", ".join(f"{k} {v['images']}" for k, v in meta["splits"].items())
    kept = ", ".join(f"{k} {v['kept']:.0%}" for k, v in meta["splits"].items())
    print(f"prepared {meta['source_format']} dataset {a.src} at {h}x{w} (height x width) -> {out} ({counts}); "
          f"the crop kept {kept} of each frame")
    _print_instances(meta)
    _print_sources(meta["attribute_sources"], meta["splits"].values())


def _print_instances(meta: dict) -> None:
    from .data.instances import describe

    print(describe(meta.get("instances"), meta["source_format"],
                   {k: v["instances_per_image"] for k, v in meta["splits"].items() if "instances_per_image" in v}))


def _print_sources(sources: list[dict], splits: Iterable[dict]) -> None:
    """Which attribute file gave how many images their attributes, and how many have none."""
    from .data.attribute_files import describe_sources

    splits = list(splits)
    n, missing = sum(s["images"] for s in splits), sum(s["attributes_missing"] for s in splits)
    print("attributes (time, weather, scene):")
    for line in describe_sources(sources, n, missing):
        print(f"  {line}")


def _print_attributes(stats_by_split: dict[str, dict]) -> None:
    """Images per value of each attribute and split, unknown included."""
    from .data import attribute_table

    table = attribute_table(stats_by_split)
    counts = table.pivot(index=["attribute", "value"], columns="split", values="images")
    print("images per value (unknown: no file names the image, or its file says undefined):")
    print(counts.loc[list(dict.fromkeys(zip(table["attribute"], table["value"])))][list(stats_by_split)].to_string())


def _info(a: argparse.Namespace) -> None:
    from .attributes import counts
    from .data import distribution_table, is_prepared, open_dataset, open_prepared, read_attributes
    from .data.instances import describe

    if is_prepared(a.path):
        prepared = open_prepared(a.path)
        meta, (h, w) = prepared.meta, prepared.frame
        print(f"prepared cache of a {meta['source_format']} dataset ({meta['source']}), {h}x{w} (height x width)")
        _print_instances(meta)
        table = distribution_table(meta["splits"])
        cols = ["pixel_share", "image_share"]
        print(table.pivot(index="class", columns="split", values=cols).loc[list(dict.fromkeys(table["class"]))]
              .to_string(float_format=lambda v: f"{v:.4f}"))
        if "attribute_sources" in meta:
            _print_sources(meta["attribute_sources"], meta["splits"].values())
            _print_attributes(meta["splits"])
        else:
            print("attributes: none, the cache was prepared before they existed; prepare it again to read them")
    else:
        dataset = open_dataset(a.path)
        print(f"{dataset.format} dataset at {dataset.root}")
        for split, samples in dataset.splits.items():
            print(f"  {split}: {len(samples)} pairs")
        print(describe(dataset.instances, dataset.format))
        attributes = read_attributes(dataset)
        splits = {k: {"images": len(v), "attributes": counts(attributes.codes(v)),
                      "attributes_missing": attributes.missing(v)} for k, v in dataset.splits.items()}
        _print_sources(attributes.sources, splits.values())
        _print_attributes(splits)


def _train(a: argparse.Namespace) -> None:
    from .config import get_profile, print_header
    from .models import train

    cfg = get_profile(a.profile, **{k: getattr(a, k) for k in TRAIN_KEYS})
    max_steps = -1 if a.max_steps is None else check_setting("max_steps", a.max_steps)
    print_header(cfg)
    path = train(cfg, out=a.out, resume=a.resume, accelerator=a.accelerator, progress=not a.no_progress,
                 max_steps=max_steps)
    print(f"checkpoint: {path}")


def _distill(a: argparse.Namespace) -> None:
    from .models import distill

    s = _settings(a, [*DISTILL_KEYS, "steps"])
    max_steps = -1 if a.max_steps is None else check_setting("max_steps", a.max_steps)
    path = distill(a.checkpoint, out=a.out, resume=a.resume, accelerator=a.accelerator, progress=not a.no_progress,
                   max_steps=max_steps, distill_steps=s.pop("steps"), **s)
    print(f"student checkpoint: {path} (samples with lcm; any of 1-4 steps: --steps N)")


def _generate(a: argparse.Namespace) -> None:
    from .models import generate_folder

    s = _settings(a, ["sampler", "steps", "guidance", "per_mask", "seed", "batch_size", "attribute_guidance",
                      "precision"])
    manifest = generate_folder(a.checkpoint, a.masks, a.out, sampler=s["sampler"], steps=s["steps"],
                               guidance=s["guidance"], per_mask=s["per_mask"] or 1, seed=s["seed"] or 0,
                               batch_size=s["batch_size"] or 64, resize=a.resize, device=a.device,
                               overwrite=a.overwrite, progress=not a.no_progress,
                               attribute_guidance=s["attribute_guidance"], precision=s["precision"],
                               instances=a.instances, **_conditions(a))
    extra = " with their instance maps (instances/)" if a.instances else ""
    print(f"wrote {len(manifest)} images{extra} and manifest.csv to {a.out}")


def _edit(a: argparse.Namespace) -> None:
    from .models import edit_photo

    s = _settings(a, ["sampler", "steps", "guidance", "seed", "resample", "dilate", "attribute_guidance", "precision"])
    out = edit_photo(a.checkpoint, a.image, a.mask, a.edited_mask, a.out, dilate=2 if s["dilate"] is None else s["dilate"],
                     sampler=s["sampler"], steps=s["steps"], guidance=s["guidance"], seed=s["seed"] or 0,
                     resample=s["resample"] or 0, resize=a.resize, device=a.device, overwrite=a.overwrite,
                     attribute_guidance=s["attribute_guidance"], precision=s["precision"], **_conditions(a))
    print(f"wrote the edited photo (image.png) and its label (mask.png) to {out}")


def _evaluate(a: argparse.Namespace) -> None:
    from .eval import evaluate_checkpoint

    s = _settings(a, ["eval_masks", "sampler", "steps", "guidance", "eval_per_mask", "eval_seed", "inception",
                      *GROUPS["judge"], "precision"])
    ev = evaluate_checkpoint(a.checkpoint, judge=a.judge, split=a.split, n_masks=s["eval_masks"], sampler=s["sampler"],
                             steps=s["steps"], guidance=s["guidance"], per_mask=s["eval_per_mask"],
                             seed=s["eval_seed"], inception=s["inception"] or "", out=a.out, device=a.device,
                             overwrite=a.overwrite, progress=not a.no_progress, say=print,
                             judge_settings={k: s[k] for k in GROUPS["judge"]}, precision=s["precision"])
    print(ev.table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"tables: {ev.settings.get('tables')}")


def _ablate(a: argparse.Namespace) -> None:
    from .config import check_device, get_profile
    from .eval import arm_table, run_study
    from .models import read_checkpoint

    keys = [*GROUPS["ablation"], "steps", "devices", "strategy", "precision"]
    cfg = get_profile(a.profile, **{k: getattr(a, k) for k in keys})
    trained = read_checkpoint(a.checkpoint)["hyper_parameters"]  # the data the model was trained on
    cfg.update({k: trained[k] for k in GROUPS["data"] if k in trained})
    out = a.out or a.checkpoint.parent / "ablation"  # the default, checked by run_study (a run folder of ours)
    results = run_study(cfg, a.checkpoint, out=a.out, device=check_device(a.device, "--device"),
                        progress=not a.no_progress, generate_only=a.generate_only, overwrite=a.overwrite)
    if a.generate_only:
        print(f"generated sets cached under {out}")
        return
    table = arm_table(results)
    print(table[["regime", "arm", "n_mult", "threshold", "runs", "mean", "std", "verdict"]].to_string(index=False))
    print(f"results: {out / 'runs.csv'}, {out / 'table.md'}")


def _notebooks(a: argparse.Namespace) -> None:
    from .notebooks import run_notebooks

    params = {}
    for item in a.p or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SettingError(f"-p expects key=value, got {item!r}")
        try:
            params[key] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise SettingError(f"-p {key}: {value!r} is not valid YAML ({str(e).splitlines()[0]})") from None
    run_notebooks(a.profile, only=a.only, parameters=params, notebooks_dir=a.notebooks, out_dir=a.out,
                  progress=not a.no_progress)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``semsegdiff <command>: error: ...`` and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _setting_flag(parser: argparse.ArgumentParser, key: str, help: str, *aliases: str) -> None:
    """A flag ``--<key>`` whose value is checked by the rules of setting ``key`` (choices from config.CHOICES)."""
    choices = f" ({', '.join(CHOICES[key])})" if key in CHOICES else ""
    parser.add_argument(*aliases, "--" + key.replace("_", "-"), dest=key, metavar=key.upper(), help=help + choices)


def _sampling_flags(parser: argparse.ArgumentParser) -> None:
    """--sampler, --steps, --guidance: the checkpoint's own values unless given."""
    for key, what in (("sampler", "sampler"), ("steps", "sampling steps"), ("guidance", "classifier-free guidance")):
        _setting_flag(parser, key, f"{what} (default: the checkpoint's)")


def _condition_flags(parser: argparse.ArgumentParser) -> None:
    """--time, --weather, --scene and --attribute-guidance (models trained with attributes)."""
    from .attributes import ATTRIBUTES

    for name, values in ATTRIBUTES.items():
        parser.add_argument(f"--{name}", metavar=name.upper(),
                            help=f"{name} of every image: {', '.join(values)} (default: unconditional)")
    _setting_flag(parser, "attribute_guidance", "guidance of the attributes (default: the checkpoint's)")


def _conditions(a: argparse.Namespace) -> dict:
    from .attributes import NAMES

    return {k: getattr(a, k) for k in NAMES}


def _run_flags(parser: argparse.ArgumentParser, resume: str, max_steps: str) -> None:
    """--resume, --accelerator, --max-steps, --no-progress: the flags of a training run (train, distill)."""
    parser.add_argument("--resume", action="store_true", help=resume)
    parser.add_argument("--accelerator", choices=["cpu", "cuda", "gpu"], help="default: cuda when present")
    _setting_flag(parser, "max_steps", f"stop after this many optimizer steps ({max_steps})")
    parser.add_argument("--no-progress", action="store_true")


def _device_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when present)")
    _precision_flag(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if semsegdiff wrote it")


def _precision_flag(parser: argparse.ArgumentParser) -> None:
    _setting_flag(parser, "precision", "of sampling and scoring (default: the checkpoint's, auto: bf16 on CUDA and "
                                       "on CPUs with native bf16)")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="semsegdiff", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    profiles = list(PROFILES)

    s = sub.add_parser("synth", help="render the embedded procedural driving-scene dataset (BDD100K layout)")
    s.add_argument("out", type=Path)
    _setting_flag(s, "n_synthetic", "number of scenes (default 2000)", "--n")
    _setting_flag(s, "size", "image side, or HxW for a wider view such as 64x112 (default 64)")
    _setting_flag(s, "seed", "seed of the scenes (default 0)")
    _setting_flag(s, "val_fraction", f"share of scenes in the val split (default {QUICK['val_fraction']})")
    s.add_argument("--overwrite", action="store_true", help="replace OUT if semsegdiff wrote it")
    s.set_defaults(func=_synth)

    s = sub.add_parser("prepare", help="crop to the frame's aspect, resize and cache a dataset for training")
    s.add_argument("src", type=Path, help="dataset folder: reference, bdd100k or cityscapes layout")
    s.add_argument("out", type=Path)
    _setting_flag(s, "size", f"image side (a centred square), or HxW for whole frames such as 128x224 "
                             f"(default {PROFILES['paper']['size']})")
    _setting_flag(s, "crop", "where the crop sits along the side it cuts: 0 top/left, 0.5 centre (default), "
                             "1 bottom/right")
    _setting_flag(s, "val_fraction", f"val share for layouts without splits (default {QUICK['val_fraction']})")
    _setting_flag(s, "seed", "seed of that split (default 0)")
    _setting_flag(s, "workers", "decoding threads (default 4)")
    s.add_argument("--overwrite", action="store_true", help="replace OUT if semsegdiff wrote it")
    s.set_defaults(func=_prepare)

    s = sub.add_parser("info", help="describe a dataset folder or a prepared cache")
    s.add_argument("path", type=Path)
    s.set_defaults(func=_info)

    s = sub.add_parser("train", help="train the mask-conditioned diffusion model (Lightning)",
                       description="Every profile setting is a flag; values are YAML (e.g. --channel-mult '[1,2,2]').")
    s.add_argument("--profile", default="quick", choices=profiles)
    s.add_argument("--out", type=Path, help="run folder (default runs/<profile>); an earlier run there is moved "
                                            "to <out>/previous/ unless --resume")
    _run_flags(s, "continue from the run folder's last.ckpt", "default -1: all epochs")
    for key in TRAIN_KEYS:
        _setting_flag(s, key, f"(quick: {QUICK[key]!r})")
    s.set_defaults(func=_train)

    s = sub.add_parser("distill", help="distil a few-step consistency student (LCM) from a trained checkpoint")
    s.add_argument("--checkpoint", type=Path, required=True, help="the teacher: a trained diffusion checkpoint")
    s.add_argument("--out", type=Path, help="student run folder (default: student/ next to the teacher)")
    _setting_flag(s, "steps", f"the student's default sampling steps (default {QUICK['distill_steps']})")
    _run_flags(s, "continue from the folder's last.ckpt (the same teacher)", "default: distill_iters")
    for key in DISTILL_KEYS:
        _setting_flag(s, key, f"(default: the teacher's or the profile's; quick: {QUICK[key]!r})")
    s.set_defaults(func=_distill)

    s = sub.add_parser("generate", help="generate images for a folder of masks with a trained checkpoint")
    s.add_argument("--checkpoint", type=Path, required=True)
    s.add_argument("--masks", type=Path, required=True, help="folder of PNG masks: train ids or palette colours")
    s.add_argument("--instances", type=Path, help="folder of the masks' instance maps, named like them (BDD100K "
                   "bitmasks or Cityscapes instanceIds); written with the images in the same encoding")
    s.add_argument("--out", type=Path, required=True)
    _sampling_flags(s)
    _setting_flag(s, "per_mask", "images per mask (default 1)")
    _setting_flag(s, "seed", "seed of the first image (default 0)")
    _setting_flag(s, "batch_size", "masks per batch (default 64)")
    _condition_flags(s)
    s.add_argument("--resize", action="store_true", help="centre-crop and resize masks to the model's size")
    _device_flags(s)
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=_generate)

    s = sub.add_parser("edit", help="regenerate only the edited region of a real photo (the rest kept exactly)")
    s.add_argument("--checkpoint", type=Path, required=True)
    s.add_argument("--image", type=Path, required=True, help="the photo (JPEG/PNG)")
    s.add_argument("--mask", type=Path, required=True, help="its mask (ids, palette or colour PNG)")
    s.add_argument("--edited-mask", type=Path, required=True, help="the edited mask (same size)")
    s.add_argument("--out", type=Path, required=True, help="folder: image.png, mask.png (its label), region.png")
    _setting_flag(s, "dilate", "grow the changed region by this many pixels (default 2)")
    _sampling_flags(s)
    _setting_flag(s, "seed", "seed (default 0)")
    _setting_flag(s, "resample", "RePaint resampling jumps (default 0: none)")
    _condition_flags(s)
    s.add_argument("--resize", action="store_true", help="centre-crop and resize image and masks to the model's size")
    _device_flags(s)
    s.set_defaults(func=_edit)

    s = sub.add_parser("evaluate", help="score a checkpoint: judge consistency, SSIM, FID/KID with ceilings and floors")
    s.add_argument("--checkpoint", type=Path, required=True)
    s.add_argument("--judge", type=Path, help="judge checkpoint (default: <run>/judge.ckpt, trained when missing)")
    s.add_argument("--split", default="val", help="split of the checkpoint's dataset whose masks are scored")
    _setting_flag(s, "eval_masks", "masks scored (the first N; default: the profile's)", "--masks")
    _sampling_flags(s)
    _setting_flag(s, "eval_per_mask", "images per mask = generation seeds (default: the profile's)", "--per-mask")
    _setting_flag(s, "eval_seed", "seed of the first image (default: the profile's)", "--seed")
    _setting_flag(s, "inception", "FID Inception weights file (default: judge features, named so)")
    for key in GROUPS["judge"]:
        _setting_flag(s, key, f"of the judge trained when --judge is not given (default: the profile's; quick: "
                              f"{QUICK[key]!r})")
    s.add_argument("--out", type=Path, help="tables go to OUT/<set>/ (default: <run>/eval/)")
    s.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when present)")
    _precision_flag(s)
    s.add_argument("--overwrite", action="store_true", help="replace the tables of an earlier evaluation of the same "
                                                            "set (only files semsegdiff wrote)")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=_evaluate)

    s = sub.add_parser("ablate", help="enrichment ablation: segmenters trained on real + generated data, with statistics")
    s.add_argument("--checkpoint", type=Path, required=True)
    s.add_argument("--profile", default="quick", choices=profiles, help="ablation settings of this profile")
    for key in GROUPS["ablation"]:
        _setting_flag(s, key, f"(quick: {QUICK[key]!r})")
    _setting_flag(s, "steps", "sampler steps of the generated sets (default: the profile's)")
    _setting_flag(s, "devices", "devices of the generation stage (DDP); the segmenters train on one device")
    _setting_flag(s, "strategy", "Lightning strategy of the generation stage")
    _precision_flag(s)
    s.add_argument("--generate-only", action="store_true", help="only make the generated sets (the multi-GPU stage)")
    s.add_argument("--out", type=Path, help="study folder, resumed when run again (default: <run>/ablation)")
    s.add_argument("--overwrite", action="store_true", help="start the study over: remove what semsegdiff wrote in OUT")
    s.add_argument("--device", help="device of the segmenters and the generator (default: cuda when present)")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=_ablate)

    s = sub.add_parser("notebooks", help="run the notebooks headless through papermill")
    nsub = s.add_subparsers(dest="action", required=True, parser_class=_Parser)
    r = nsub.add_parser("run", help="execute notebooks/*.ipynb in order")
    r.add_argument("--profile", default="quick", choices=profiles)
    r.add_argument("--only", action="append", metavar="NAME", help="run only notebooks whose name contains NAME")
    r.add_argument("-p", action="append", metavar="KEY=VALUE", help="override a notebook parameter (YAML value)")
    r.add_argument("--notebooks", type=Path, default=Path("notebooks"), help="folder of the notebooks")
    r.add_argument("--out", type=Path, default=Path("runs"), help="executed copies go to OUT/<profile>/")
    r.add_argument("--no-progress", action="store_true")
    r.set_defaults(func=_notebooks)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors print one line and return 1, a malformed command line returns 2."""
    from .quiet import quiet

    quiet()
    main_thread = threading.current_thread() is threading.main_thread()
    before = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)} if main_thread else {}
    try:
        return _main(argv)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _main(argv: list[str] | None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2), already printed
        return int(e.code or 0)
    try:
        args.func(args)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
    except UserError as e:
        print(f"semsegdiff {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (semsegdiff info | head): end quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141
    except OSError as e:
        if e.filename is None:
            raise  # not about a file the user named: a bug, keep the traceback
        print(f"semsegdiff {args.command}: error: {e.filename}: {e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"semsegdiff {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM and SIGHUP end a command as Ctrl-C does: cleanly (a notebook's kernel is shut down, not left running)."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
