"""The ``semsegdiff`` command line: synth, prepare, info, train, sample, notebooks."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from .config import QUICK

PROFILE_KEYS = list(QUICK)


def _synth(a: argparse.Namespace) -> None:
    from .data.synthetic import write_dataset

    out = write_dataset(a.out, n=a.n, size=a.size, seed=a.seed, val_fraction=a.val_fraction, overwrite=a.overwrite)
    print(f"wrote {a.n} synthetic scenes ({a.size}x{a.size}, seed {a.seed}) in the BDD100K layout to {out}")


def _prepare(a: argparse.Namespace) -> None:
    from .data import open_prepared, prepare

    out = prepare(a.src, a.out, size=a.size, val_fraction=a.val_fraction, seed=a.seed,
                  overwrite=a.overwrite, workers=a.workers)
    meta = open_prepared(out).meta
    counts = ", ".join(f"{k} {v['images']}" for k, v in meta["splits"].items())
    print(f"prepared {meta['source_format']} dataset {a.src} at {a.size}x{a.size} -> {out} ({counts})")


def _info(a: argparse.Namespace) -> None:
    from .data import distribution_table, is_prepared, open_dataset, open_prepared

    if is_prepared(a.path):
        meta = open_prepared(a.path).meta
        print(f"prepared cache of a {meta['source_format']} dataset ({meta['source']}), {meta['size']}x{meta['size']}")
        table = distribution_table(meta["splits"])
        cols = ["pixel_share", "image_share"]
        print(table.pivot(index="class", columns="split", values=cols).loc[list(dict.fromkeys(table["class"]))]
              .to_string(float_format=lambda v: f"{v:.4f}"))
    else:
        dataset = open_dataset(a.path)
        print(f"{dataset.format} dataset at {dataset.root}")
        for split, samples in dataset.splits.items():
            print(f"  {split}: {len(samples)} pairs")


def _train(a: argparse.Namespace) -> None:
    from .config import get_profile, print_header
    from .models import train

    cfg = get_profile(a.profile, **{k: getattr(a, k) for k in PROFILE_KEYS})
    print_header(cfg)
    path = train(cfg, out=a.out, resume=a.resume, accelerator=a.accelerator, progress=not a.no_progress,
                 max_steps=a.max_steps)
    print(f"checkpoint: {path}")


def _sample(a: argparse.Namespace) -> None:
    from .models import sample_folder

    manifest = sample_folder(a.checkpoint, a.masks, a.out, sampler=a.sampler, steps=a.steps, guidance=a.guidance,
                             per_mask=a.per_mask, seed=a.seed, batch_size=a.batch_size, resize=a.resize,
                             device=a.device, overwrite=a.overwrite, progress=not a.no_progress)
    print(f"wrote {len(manifest)} images and manifest.csv to {a.out}")


def _notebooks(a: argparse.Namespace) -> None:
    from .notebooks import run_notebooks

    params = {}
    for item in a.p or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"-p expects key=value, got {item!r}")
        params[key] = yaml.safe_load(value)
    run_notebooks(a.profile, only=a.only, parameters=params, notebooks_dir=a.notebooks, out_dir=a.out,
                  progress=not a.no_progress)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="semsegdiff", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="generate the embedded procedural driving-scene dataset (BDD100K layout)")
    s.add_argument("out", type=Path)
    s.add_argument("--n", type=int, default=2000, help="number of scenes")
    s.add_argument("--size", type=int, default=64, help="image side in pixels")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--val-fraction", type=float, default=0.125, help="share of scenes in the val split")
    s.add_argument("--overwrite", action="store_true")
    s.set_defaults(func=_synth)

    s = sub.add_parser("prepare", help="centre-crop, resize and cache a dataset for training")
    s.add_argument("src", type=Path, help="dataset folder: reference, bdd100k or cityscapes layout")
    s.add_argument("out", type=Path)
    s.add_argument("--size", type=int, default=128)
    s.add_argument("--val-fraction", type=float, default=0.125, help="val share for layouts without splits")
    s.add_argument("--seed", type=int, default=0, help="seed of that split")
    s.add_argument("--workers", type=int, default=4, help="decoding threads")
    s.add_argument("--overwrite", action="store_true")
    s.set_defaults(func=_prepare)

    s = sub.add_parser("info", help="describe a dataset folder or a prepared cache")
    s.add_argument("path", type=Path)
    s.set_defaults(func=_info)

    s = sub.add_parser("train", help="train the mask-conditioned diffusion model (Lightning)",
                       description="Every profile setting is a flag; values are YAML (e.g. --channel-mult '[1,2,2]').")
    s.add_argument("--profile", default="quick", choices=["quick", "paper"])
    s.add_argument("--out", type=Path, help="run folder (default runs/<profile>)")
    s.add_argument("--resume", action="store_true", help="continue from the run folder's last.ckpt")
    s.add_argument("--accelerator", choices=["cpu", "cuda", "gpu"], help="default: cuda when present")
    s.add_argument("--max-steps", type=int, default=-1, help="stop after this many optimizer steps")
    s.add_argument("--no-progress", action="store_true")
    for key, default in QUICK.items():
        s.add_argument("--" + key.replace("_", "-"), dest=key, type=yaml.safe_load, metavar=type(default).__name__.upper(),
                       help=f"(quick: {default!r})")
    s.set_defaults(func=_train)

    s = sub.add_parser("sample", help="generate images for a folder of masks with a trained checkpoint")
    s.add_argument("--checkpoint", type=Path, required=True)
    s.add_argument("--masks", type=Path, required=True, help="folder of PNG masks: train ids or palette colours")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--sampler", default="dpmsolver++", choices=["ddpm", "ddim", "dpmsolver++"])
    s.add_argument("--steps", type=int, default=20)
    s.add_argument("--guidance", type=float, default=3.0, help="classifier-free guidance scale")
    s.add_argument("--per-mask", type=int, default=1, help="images per mask")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--resize", action="store_true", help="centre-crop and resize masks to the model's size")
    s.add_argument("--device", help="default: cuda when present")
    s.add_argument("--overwrite", action="store_true")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=_sample)

    s = sub.add_parser("notebooks", help="run the notebooks headless through papermill")
    nsub = s.add_subparsers(dest="action", required=True)
    r = nsub.add_parser("run", help="execute notebooks/*.ipynb in order")
    r.add_argument("--profile", default="quick", choices=["quick", "paper"])
    r.add_argument("--only", action="append", metavar="NAME", help="run only notebooks whose name contains NAME")
    r.add_argument("-p", action="append", metavar="KEY=VALUE", help="override a notebook parameter (YAML value)")
    r.add_argument("--notebooks", type=Path, default=Path("notebooks"), help="folder of the notebooks")
    r.add_argument("--out", type=Path, default=Path("runs"), help="executed copies go to OUT/<profile>/")
    r.add_argument("--no-progress", action="store_true")
    r.set_defaults(func=_notebooks)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from .data.formats import DataError
    from .notebooks import NotebookError

    try:
        args.func(args)
    except (DataError, NotebookError, FileExistsError, KeyError, ValueError, FloatingPointError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"semsegdiff {args.command}: error: {msg}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
