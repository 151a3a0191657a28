"""What each ``semsegdiff`` command does (its grammar and flags: :mod:`semsegdiff.cli_parser`), and :func:`main`: a user
error prints one line naming the file or flag and returns 1, an interrupt (Ctrl-C, SIGTERM, SIGHUP) "interrupted" and
130; a bug keeps its traceback."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterable

import yaml

from .config import GROUPS, PROFILES, QUICK, check_setting

from .cli_parser import DISTILL_KEYS, TRAIN_KEYS, parser  # noqa: F401 - parser and TRAIN_KEYS: imported from here
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
    unused = [f"--{k.replace('_', '-')}" for k in ("val_fraction", "seed") if s[k] is not None]
    if unused and meta["val_fraction"] is None:
        print(f"note: {' and '.join(unused)} split a layout that has no splits; {a.src} has its own "
              f"({', '.join(meta['splits'])}), so {'they were' if len(unused) > 1 else 'it was'} not used")
    counts = ", ".join(f"{k} {v['images']}" for k, v in meta["splits"].items())
    kept = ", ".join(f"{k} {v['kept']:.0%}" for k, v in meta["splits"].items())
    print(f"prepared {meta['source_format']} dataset {a.src} at {h}x{w} (height x width) -> {out} ({counts}); "
          f"the crop kept {kept} of each frame")
    _print_instances(meta)
    _print_sources(meta["attribute_sources"], meta["splits"].values())


def _print_instances(meta: dict) -> None:
    from .data.instances import describe

    print(describe(meta.get("instances"), meta["source_format"],
                   {k: v["instances_per_image"] for k, v in meta["splits"].items() if "instances_per_image" in v},
                   partial=meta.get("instances_partial")))


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
    from .data.prepare import partial

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
        missing = dataset.missing_instances()
        print(describe(dataset.instances, dataset.format, partial=partial(dataset, missing) if missing else None))
        attributes = read_attributes(dataset)
        splits = {k: {"images": len(v), "attributes": counts(attributes.codes(v)),
                      "attributes_missing": attributes.missing(v)} for k, v in dataset.splits.items()}
        _print_sources(attributes.sources, splits.values())
        _print_attributes(splits)


def _train(a: argparse.Namespace) -> None:
    from .config import get_profile
    from .runtime import print_header
    from .models import train

    cfg = get_profile(a.profile, **{k: getattr(a, k) for k in TRAIN_KEYS})
    max_steps = -1 if a.max_steps is None else check_setting("max_steps", a.max_steps)
    print_header(cfg)
    if a.n_synthetic is not None and cfg["data"] != "synthetic":
        print(f"note: --n-synthetic sizes the synthetic dataset; this run trains on {cfg['data']}, so it is not used")
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
                      "condition_guidance", "precision", "aug_level"])
    manifest = generate_folder(a.checkpoint, a.masks, a.out, sampler=s["sampler"], steps=s["steps"],
                               guidance=s["guidance"], per_mask=s["per_mask"] or 1, seed=s["seed"] or 0,
                               batch_size=s["batch_size"] or 64, resize=a.resize, device=a.device,
                               overwrite=a.overwrite, progress=not a.no_progress,
                               attribute_guidance=s["attribute_guidance"], condition_guidance=s["condition_guidance"],
                               precision=s["precision"], instances=a.instances, upscale=a.upscale, aug_level=s["aug_level"], **_conditions(a))
    extra = " with their instance maps (instances/)" if a.instances else ""
    print(f"wrote {len(manifest)} images{extra} and manifest.csv to {a.out}")


def _edit(a: argparse.Namespace) -> None:
    from .models import edit_photo

    s = _settings(a, ["sampler", "steps", "guidance", "seed", "resample", "dilate", "attribute_guidance",
                      "condition_guidance", "precision"])
    out = edit_photo(a.checkpoint, a.image, a.mask, a.edited_mask, a.out, dilate=2 if s["dilate"] is None else s["dilate"],
                     sampler=s["sampler"], steps=s["steps"], guidance=s["guidance"], seed=s["seed"] or 0,
                     resample=s["resample"] or 0, resize=a.resize, device=a.device, overwrite=a.overwrite,
                     attribute_guidance=s["attribute_guidance"], condition_guidance=s["condition_guidance"],
                     precision=s["precision"], **_conditions(a))
    print(f"wrote the edited photo (image.png) and its label (mask.png) to {out}")


def _evaluate(a: argparse.Namespace) -> None:
    from .eval import evaluate_checkpoint

    s = _settings(a, ["eval_masks", "sampler", "steps", "guidance", "eval_per_mask", "eval_seed", "inception",
                      *GROUPS["judge"], "precision", "allow_slow"])
    ev = evaluate_checkpoint(a.checkpoint, judge=a.judge, split=a.split, n_masks=s["eval_masks"], sampler=s["sampler"],
                             steps=s["steps"], guidance=s["guidance"], per_mask=s["eval_per_mask"],
                             seed=s["eval_seed"], inception=s["inception"] or "", out=a.out, device=a.device,
                             overwrite=a.overwrite, progress=not a.no_progress, say=print,
                             judge_settings={k: s[k] for k in GROUPS["judge"]}, precision=s["precision"],
                             allow_slow=bool(s["allow_slow"]))
    print(ev.table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"tables: {ev.settings.get('tables')}")


def _ablate(a: argparse.Namespace) -> None:
    from .config import check_device, get_profile
    from .eval import arm_table, run_study
    from .models import read_checkpoint

    keys = [*GROUPS["ablation"], "steps", "devices", "strategy", "precision", "allow_slow"]
    cfg = get_profile(a.profile, **{k: getattr(a, k) for k in keys})
    if cfg["ablate_student"] and "real+gen student" not in cfg["ablate_arms"]:
        print("note: --ablate-student is the generator of the 'real+gen student' arm, which --ablate-arms does not "
              "ask for, so it is not used")
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


def _enrich(a: argparse.Namespace) -> None:
    from .enrich import enrich
    from .enrich.run import command_line

    s = _settings(a, ["seed", "batch_size", "devices", "num_nodes", "strategy", "allow_slow", "ablate_steps"])
    out = enrich(a.checkpoint, a.data, a.out, n=a.enrich_n, recipe=a.enrich_recipe, conditions=a.enrich_conditions,
                 filter=a.enrich_filter, real=a.enrich_real, resolution=a.resolution, student=a.student,
                 sampler=a.sampler, steps=a.steps, guidance=a.guidance, seed=s["seed"] or 0,
                 batch_size=s["batch_size"] or 64, devices=s["devices"] or 1, num_nodes=s["num_nodes"] or 1,
                 strategy=s["strategy"] or "auto", device=a.device, precision=a.precision,
                 allow_slow=bool(s["allow_slow"]), progress=not a.no_progress, command=command_line() or None,
                 upscale=a.upscale,
                 **({} if s["ablate_steps"] is None else {"ablate_steps": s["ablate_steps"]}))
    print(f"wrote the enriched dataset {out} (README.md: what is in it; enrichment.csv: every generated pair)")


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
                  progress=not a.no_progress, jobs=a.jobs)


def _conditions(a: argparse.Namespace) -> dict:
    from .attributes import NAMES

    return {k: getattr(a, k) for k in NAMES}


COMMANDS = {"synth": _synth, "prepare": _prepare, "info": _info, "train": _train, "distill": _distill,
            "generate": _generate, "edit": _edit, "evaluate": _evaluate, "ablate": _ablate, "enrich": _enrich,
            "notebooks": _notebooks}


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors print one line and return 1, a malformed command line returns 2."""
    from .quiet import quiet

    quiet()
    main_thread = threading.current_thread() is threading.main_thread()
    _INTERRUPTED.clear()
    before = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)} \
        if main_thread else {}
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
        COMMANDS[args.command](args)
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
    except (SystemExit, RuntimeError):  # Lightning ends an interrupted fit with exit(1); torch names a worker the
        if not _INTERRUPTED:  # signal reached too: an interrupt, said as one
            raise
        print(f"semsegdiff {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


_INTERRUPTED: list[int] = []  # the signals received while a command ran


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM and SIGHUP end a command as Ctrl-C does: cleanly (a notebook's kernel is shut down, not left running,
    DataLoader workers end on it quietly too: data.datamodule's worker_init)."""
    _INTERRUPTED.append(signum)
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
