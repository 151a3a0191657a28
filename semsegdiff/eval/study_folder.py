"""The folder of an enrichment study: whose it is, what ``--overwrite`` may remove, and its result tables.

A study folder holds, per regime (``low``, ``full``), the generated sets (``sets/``), the
segmenter runs (``runs/``) and the reference segmenters (``reference/``): each a folder written
whole and marked by semsegdiff (its marker lists its files), or a folder of shards of a set in
progress (``<set>.<key>.shards``); at the top, ``runs.csv`` and ``table.{csv,md,tex}``, listed in
the study's own marker. Ownership is read from those markers, never from a file name: a folder
without a marker is a study of an earlier version only when its regime folders hold marked
folders, and ``--overwrite`` removes only the files the markers list, and of those only the ones whose bytes
are still what semsegdiff wrote (size and hash in the marker): an edited table or image is the user's.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from ..errors import OutputError
from ..files import MARKER, atomic_path, changed_files, claim, digest, mark, marker

REGIMES = ("low", "full")
PARTS = ("sets", "runs", "reference")
TABLES = ("runs.csv", "table.csv", "table.md", "table.tex")
KIND = "ablation study"


def _marked_folders(out: Path) -> list[Path]:
    """The folders semsegdiff wrote whole inside the regime folders of ``out``."""
    return [p for r in REGIMES for part in PARTS for p in sorted((out / r / part).glob("*"))
            if p.is_dir() and isinstance((marker(p) or {}).get("files"), list)]


def is_study(out: Path) -> bool:
    """Whether an unmarked ``out`` (earlier versions wrote no study marker) is a study, by its content."""
    return bool(_marked_folders(out))


def open_study(out: Path, *, overwrite: bool = False, inputs: Iterable = (), say: Callable[[str], None] = print,
               create: bool = True) -> None:
    """Check that ``out`` may be a study folder (new, empty, marked as a study, or a study of an earlier version) and
    mark it; with ``overwrite``, remove what the markers list (and say what), keeping every other file."""
    claim(out, KIND, legacy=is_study, inputs=inputs, create=create)
    if not overwrite or not out.is_dir():
        return
    ours, blocking = owned_files(out)
    if blocking:
        shown = ", ".join(str(p.relative_to(out)) for p in blocking[:5])
        more = f" and {len(blocking) - 5} more" if len(blocking) > 5 else ""
        raise OutputError(f"{out}: --overwrite would have to replace folders that hold files semsegdiff did not write "
                          f"({shown}{more}); nothing was removed: move them out first")
    for top in [out / r for r in REGIMES] + [out / t for t in TABLES]:
        if top.exists() and any(p == top or top in p.parents for p in ours):
            say(f"removing what semsegdiff ablate wrote in {top}")
    for p in ours:
        p.unlink(missing_ok=True)
    for r in REGIMES:  # folders left empty, deepest first
        for d in sorted((p for p in (out / r).rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [out / r]:
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
    if create:
        mark(out, kind=KIND, files=None, tables=[])


def owned_files(out: Path) -> tuple[list[Path], list[Path]]:
    """(files semsegdiff wrote in the study ``out``, files of others inside the folders it wrote)."""
    ours, blocking = [], []
    for folder in _marked_folders(out):
        changed = {folder / f for f in changed_files(folder)}  # a user's edits of our files are theirs
        listed = {folder / f for f in marker(folder)["files"]} - changed | {folder / MARKER}
        for p in (p for p in folder.rglob("*") if p.is_file() or p.is_symlink()):
            (ours if p in listed else blocking).append(p)
    for r in REGIMES:
        for shards in (out / r / "sets").glob("*.shards"):
            for p in (p for p in shards.rglob("*") if p.is_file() or p.is_symlink()):
                (ours if p.name.startswith("shard-") and p.suffix == ".npz" else blocking).append(p)
    tables = [t for t in _tables(out) if (out / t).is_file()]
    edited = set(changed_files(out, tables))
    ours += [out / t for t in tables if t not in edited]
    blocking += [out / t for t in tables if t in edited]
    return ours, blocking


def _tables(out: Path) -> list[str]:
    """The top-level tables semsegdiff wrote: those the study marker lists; for a study of an earlier version (a
    marker without that list), the four tables when ``runs.csv`` reads as a study's own."""
    info = marker(out) or {}
    if isinstance(info.get("tables"), list):
        return [t for t in info["tables"] if t in TABLES]
    try:
        header = list(pd.read_csv(out / "runs.csv", nrows=0).columns)
    except (OSError, ValueError):
        return []
    return list(TABLES) if header[:6] == ["regime", "arm", "n_mult", "threshold", "seed", "gen_seed"] else []


def write_tables(out: Path, results: pd.DataFrame, table: pd.DataFrame) -> None:
    """``runs.csv`` and ``table.{csv,md,tex}`` at the top of the study; a file of that name that semsegdiff did not
    write is refused, not replaced; the study marker lists them afterwards."""
    from ..figures import save_table

    theirs = [t for t in TABLES if (out / t).exists() and t not in _tables(out)]
    if theirs:
        raise OutputError(f"{out}: holds {', '.join(theirs)}, which semsegdiff did not write, where the study writes its "
                          "tables; the runs are kept in the study: move those files and run the study again")
    with atomic_path(out / "runs.csv") as tmp:
        results.to_csv(tmp, index=False)
    save_table(table, "table", out)
    info = marker(out) or {}
    if os.environ.get("RANK", "0") == "0":
        mark(out, **{**{k: v for k, v in info.items() if k not in ("written_by", "time", "host")}, "kind": KIND,
                     "files": None, "tables": list(TABLES), "digests": {t: digest(out / t) for t in TABLES}})
