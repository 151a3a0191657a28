"""The ``semsegdiff`` command line: synth, prepare, info, notebooks."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml


def _synth(a: argparse.Namespace) -> None:
    from .data.synthetic import generate

    out = generate(a.out, n=a.n, size=a.size, seed=a.seed, val_fraction=a.val_fraction, overwrite=a.overwrite)
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
    except (DataError, NotebookError, FileExistsError, KeyError, ValueError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"semsegdiff {args.command}: error: {msg}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
