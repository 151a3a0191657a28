"""Attribute files of a dataset -> one attribute table: per image the (time, weather, scene) codes.

Sources, in this order of precedence (per attribute, the first that knows a value gives it):

- ``attributes.csv`` at the root of any layout: columns ``name, time, weather, scene``; values
  in the vocabulary of :mod:`semsegdiff.attributes` or its aliases, empty = unknown; ``name``
  is an image's file name or stem.
- in the BDD100K layout, every JSON list of frames under ``labels/`` (mask folders skipped), in
  path order: the 100K image-label files (``bdd100k_labels_images_train.json``) and the
  Scalabel det / sem-seg files (``det_20/det_train.json``, also wrapped as ``{"frames": [...]}``),
  frames ``{"name": "x.jpg", "attributes": {"weather": ..., "scene": ..., "timeofday": ...}}``.

Frames match images by file stem. Names that match no image are counted, images no file names
are unknown (code 0) and counted: nothing is guessed. A value outside the vocabulary, a
malformed file or a name given twice in one file is a :class:`DataError` naming the file and row.
"""
from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..attributes import ATTRIBUTES, NAMES, SOURCE_KEYS, UNKNOWN, code, value
from ..errors import DataError, SettingError
from ..files import write_text


class Sample(Protocol):  # a pair of :mod:`.formats` (this module sits below it: it needs the name only)
    name: str


class Dataset(Protocol):  # :class:`.formats.Dataset`, as far as attributes go
    root: Path
    splits: dict[str, list[Sample]]
    attribute_files: list[Path]


CSV_NAME = "attributes.csv"
CSV_COLUMNS = ("name", *NAMES)
MASK_FOLDERS = {"masks", "colormaps", "bitmasks"}  # PNGs of the BDD100K label tree: never attribute files
_SUFFIXES = (".jpg", ".jpeg", ".png")


def image_key(name: str) -> str:
    """The image a file's row names: ``train/x.jpg``, ``x.jpg`` and ``x`` all name stem ``x`` (Cityscapes:
    ``c_000000_000019_leftImg8bit.png`` names ``c_000000_000019``)."""
    name = name.strip().replace("\\", "/").rsplit("/", 1)[-1]
    if name.lower().endswith(_SUFFIXES):
        name = name.rsplit(".", 1)[0]
    return name.removesuffix("_leftImg8bit")


def _codes(row: Mapping[str, Any], where: str) -> np.ndarray:
    """(3,) uint8 codes of one row (our or a source's keys; missing: unknown); DataError naming ``where``."""
    try:
        return np.array([code(a, next((row[k] for k in SOURCE_KEYS[a] if k in row), None), where) for a in NAMES],
                        np.uint8)
    except SettingError as e:
        raise DataError(str(e)) from None


def _add(rows: dict[str, np.ndarray], seen: dict[str, str], name: str, row: Mapping[str, Any], path: Path,
         label: str) -> None:
    """Put the codes of ``row`` (``label``: "row 3" or "frame 3" of ``path``) under its image; twice is an error."""
    key = image_key(name)
    if not key:
        raise DataError(f"{path} {label}: empty image name")
    if key in rows:
        raise DataError(f"{path}: {seen[key]} and {label} both name image {_short(key)}; give each image one row")
    rows[key], seen[key] = _codes(row, f"{path} {label} ({_short(name.strip())})"), label


def read_attribute_csv(path: str | Path) -> dict[str, np.ndarray]:
    """{image name: (3,) uint8 codes} of an ``attributes.csv`` (name, time, weather, scene; empty = unknown)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read attribute table ({e})") from None
    try:
        return _read_csv(path, text)
    except csv.Error as e:  # a field over csv's size limit, a NUL byte, ...
        raise DataError(f"{path}: not a readable CSV table ({e}); the columns are {', '.join(CSV_COLUMNS)}") from None


def _read_csv(path: Path, text: str) -> dict[str, np.ndarray]:
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    columns = {"name": ("name",), **SOURCE_KEYS}
    unknown = [h for h in header if not any(h in keys for keys in columns.values())]
    counts = {c: sum(h in keys for h in header) for c, keys in columns.items()}
    problem = ("no header row" if not header else f"unknown column {unknown[0]!r}" if unknown else
               next((f"no {c!r} column" if n == 0 else f"{n} {c!r} columns" for c, n in counts.items() if n != 1), ""))
    if problem:
        raise DataError(f"{path}: {problem}; the columns are {', '.join(CSV_COLUMNS)} (values empty for unknown)")
    rows: dict[str, np.ndarray] = {}
    seen: dict[str, str] = {}
    for i, fields in enumerate(reader, start=1):
        if not any(f.strip() for f in fields):
            continue  # a blank line
        if len(fields) != len(header):
            raise DataError(f"{path} row {i}: {len(fields)} fields, expected {len(header)} ({', '.join(header)})")
        row = dict(zip(header, fields))
        _add(rows, seen, row.pop("name"), row, path, f"row {i}")
    return rows


def read_label_frames(path: str | Path) -> dict[str, np.ndarray]:
    """{image name: (3,) uint8 codes} of a BDD100K label JSON (a list of frames, or ``{"frames": [...]}``).

    Every label JSON of BDD100K is such a list (Scalabel's format); a file of any other shape, malformed
    JSON, a frame without a name and a value outside the vocabulary are DataErrors naming the file
    (and frame), never skipped. An empty list holds no frames: {}.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_bytes())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply to be a label file (expected a list of frames)") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"{path}: cannot read label file ({e})") from None
    frames = raw.get("frames") if isinstance(raw, dict) else raw
    if not isinstance(frames, list):
        got = f"an object with keys {', '.join(map(repr, list(raw)[:5]))}" if isinstance(raw, dict) else \
            f"a JSON {type(raw).__name__}"
        raise DataError(f"{path}: expected a BDD100K label file, a JSON list of frames (or {{\"frames\": [...]}}) "
                        f"each {{\"name\": \"x.jpg\", \"attributes\": {{...}}}}, got {got}; move other JSON files "
                        "out of labels/")
    rows: dict[str, np.ndarray] = {}
    seen: dict[str, str] = {}
    for i, frame in enumerate(frames, start=1):
        name = frame.get("name") if isinstance(frame, dict) else None
        if not isinstance(name, str):
            raise DataError(f"{path} frame {i}: expected an object with a \"name\" (the image file) and "
                            f"\"attributes\", got {_short(frame)}")
        attributes = frame.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise DataError(f"{path} frame {i} ({_short(name)}): \"attributes\" must be an object with weather, "
                            f"scene and timeofday, got {_short(attributes)}")
        _add(rows, seen, name, attributes, path, f"frame {i}")
    return rows


def _short(value: Any, n: int = 60) -> str:
    """``repr(value)`` cut to ``n`` characters, for messages about files of any size."""
    text = repr(value) if not isinstance(value, (dict, list)) else json.dumps(value, default=str)[:n + 1]
    return text if len(text) <= n else text[:n] + "..."


def find_attribute_files(root: str | Path, layout: str) -> list[Path]:
    """The attribute files of a dataset in precedence order: ``attributes.csv``, then (BDD100K) ``labels/**/*.json``."""
    root = Path(root)
    found = [root / CSV_NAME] if (root / CSV_NAME).is_file() else []
    if layout == "bdd100k":
        jsons = []
        for folder, dirs, files in os.walk(root / "labels"):
            dirs[:] = sorted(d for d in dirs if d not in MASK_FOLDERS)
            jsons += [Path(folder) / f for f in files if f.lower().endswith(".json")]
        found += sorted(jsons)
    return found


@dataclass
class AttributeTable:
    """The attribute codes of a dataset's images and the files they came from."""

    rows: dict[str, np.ndarray]  # image name -> (3,) uint8 codes, for every image some file names
    sources: list[dict]  # per file with rows, in precedence order: file (under the root), rows, images, unmatched

    def codes(self, samples: Sequence[Sample]) -> np.ndarray:
        """(N, 3) uint8 codes of ``samples`` (columns :data:`attributes.NAMES`); 0 = unknown."""
        out = np.zeros((len(samples), len(NAMES)), np.uint8)
        for i, s in enumerate(samples):
            if s.name in self.rows:
                out[i] = self.rows[s.name]
        return out

    def missing(self, samples: Sequence[Sample]) -> int:
        """How many of ``samples`` no attribute file names (all unknown)."""
        return sum(s.name not in self.rows for s in samples)


def read_attributes(dataset: Dataset) -> AttributeTable:
    """Read every attribute file of ``dataset`` (:attr:`Dataset.attribute_files`) into one table."""
    images = {s.name for samples in dataset.splits.values() for s in samples}
    merged: dict[str, np.ndarray] = {}
    sources = []
    for path in dataset.attribute_files:
        rows = read_attribute_csv(path) if path.suffix.lower() == ".csv" else read_label_frames(path)
        if not rows:
            continue  # an empty list of frames (or a table without rows) names no image
        matched = images.intersection(rows)
        for name in matched:
            have = merged.setdefault(name, np.zeros(len(NAMES), np.uint8))
            np.copyto(have, rows[name], where=have == 0)  # an earlier file's known values win
        sources.append({"file": path.relative_to(dataset.root).as_posix(), "rows": len(rows),
                        "images": len(matched), "unmatched": len(rows) - len(matched)})
    return AttributeTable(merged, sources)


def describe_sources(sources: Iterable[Mapping[str, Any]], n_images: int, missing: int) -> list[str]:
    """Lines saying which file gave attributes to how many of ``n_images`` images, and how many have none."""
    lines = [f"{s['file']}: {s['images']} of {n_images} images"
             + (f" ({s['unmatched']} of its {s['rows']} rows name no image)" if s["unmatched"] else "")
             for s in sources]
    if not lines:
        lines.append(f"no attribute file ({CSV_NAME}, or BDD100K label JSON under labels/)")
    if missing:
        lines.append(f"{missing} of {n_images} images named by no attribute file: {UNKNOWN}")
    return lines


def write_attribute_csv(path: str | Path, names: Sequence[str], codes: np.ndarray) -> Path:
    """Write an ``attributes.csv`` (name, time, weather, scene in our vocabulary, empty = unknown) atomically.

    ``codes``: (N, 3) codes of :mod:`semsegdiff.attributes`, one row per name.
    """
    codes = np.asarray(codes)
    top = np.array([len(ATTRIBUTES[a]) for a in NAMES])
    if codes.shape != (len(names), len(NAMES)) or (codes < 0).any() or (codes > top).any():
        raise DataError(f"{path}: expected ({len(names)}, {len(NAMES)}) attribute codes ({', '.join(NAMES)}) with "
                        f"values 0..{top.tolist()}, got {codes.dtype} {codes.shape}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for name, row in zip(names, codes):
        writer.writerow([name, *("" if c == 0 else value(a, c) for a, c in zip(NAMES, row))])
    return write_text(path, out.getvalue())
