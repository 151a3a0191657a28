"""Reading mask files: one reader, :func:`read_mask`, behind every entry point (``generate``, ``edit``, ``prepare``,
``masks.read``, the painter, the dataset layouts), with one set of rules for every kind of PNG.

A mask file must be a PNG by its bytes (:mod:`.png`). What its pixels mean follows from the PNG's own
header (colour type and bit depth), never from its name:

============================  ===========================================================================
PNG                           read as
============================  ===========================================================================
grey, 1 bit                   each pixel's bit is its train id (0 road, 1 sidewalk), as stored
grey, 2, 4 or 8 bits          the stored values are train ids (a 2-bit 3 is id 3, not 255)
grey, 16 bits                 the stored values are train ids; a value above 255 is refused
grey + alpha, 8 bits          the grey values are train ids; the alpha channel is not read
palette                       the indices are the ids when they all are; otherwise the palette's colours
RGB, RGBA (8 bits)            colours: the dataset's colormap, by default the Cityscapes palette with black
                              as ignore (what ``masks.write(colour=True)`` writes); alpha is not read
anything else                 refused, naming the mode (16-bit colour, 16-bit grey + alpha)
============================  ===========================================================================

Every value must then be a train id 0..18 or 255 (ignore); the first pixel that is not is named.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..labels import IGNORE, LABELS, NUM_CLASSES, class_id, cityscapes_lut, colors_to_ids
from .png import check_png

COLOR_TYPES = {0: "grey", 2: "RGB", 3: "palette", 4: "grey + alpha", 6: "RGBA"}  # the PNG header's colour types
DEFAULT_COLORS = {**{label.id: label.color for label in LABELS}, IGNORE: (0, 0, 0)}  # the palette, black = ignore


def png_mode(path: Path) -> tuple[str, int]:
    """(colour type, bit depth) of a PNG file, from its header; a file that is not a PNG is refused."""
    head = check_png(path)
    if len(head) < 26 or head[12:16] != b"IHDR":
        raise DataError(f"{path}: cannot decode image, unreadable or truncated (no PNG header)")
    return COLOR_TYPES.get(head[25], f"colour type {head[25]}"), head[24]


def _pixels(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The stored pixels of a PNG (as Pillow decodes them) and its palette (K, 3) for a palette PNG."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            pixels = np.array(im)
            palette = np.array(im.getpalette() or [], np.uint8).reshape(-1, 3) if im.mode == "P" else None
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{path}: cannot decode image, unreadable or truncated ({e})") from None
    return pixels, palette


def check_ids(mask: np.ndarray, path: Path | str) -> np.ndarray:
    """Check that a mask holds only train ids 0..C-1 or IGNORE; name the first bad pixel."""
    bad = (mask >= NUM_CLASSES) & (mask != IGNORE)
    if bad.any():
        y, x = np.argwhere(bad)[0]
        values = np.unique(mask[bad])
        raise DataError(
            f"{path}: class id {mask[y, x]} at pixel (x={x}, y={y}) is not a train id "
            f"(0..{NUM_CLASSES - 1}) or {IGNORE}; {int(bad.sum())} such pixels, ids {values.tolist()}"
        )
    return mask


def read_mask(path: str | Path, colors: dict[int, tuple[int, int, int]] | None = None, *,
              label_ids: bool = False) -> np.ndarray:
    """Read one mask file to train ids, uint8 (H, W), by the module's rules (a table of every PNG kind).

    ``colors`` ({train id: RGB}) decodes colour masks (default: :data:`DEFAULT_COLORS`); ``label_ids``: the grey
    values are Cityscapes labelIds, mapped with the official table.
    """
    path = Path(path)
    kind, depth = png_mode(path)
    what = f"{'an' if depth == 8 else 'a'} {depth}-bit {kind} PNG"
    if depth == 16 and kind != "grey":
        raise DataError(f"{path}: is {what}; a mask is a grey (ids), palette or 8-bit colour PNG: save it as an 8-bit "
                        "greyscale PNG of train ids")
    pixels, palette = _pixels(path)
    if kind == "grey":
        if depth in (2, 4):  # Pillow scales 2- and 4-bit grey to 0..255 (and 1-bit to bool); the stored values
            pixels = pixels // (255 // (2 ** depth - 1))  # are the ids
        pixels = pixels.astype(np.uint16)
        big = pixels > 255
        if big.any():
            y, x = np.argwhere(big)[0]
            raise DataError(f"{path}: is {what} whose value {int(pixels[y, x])} at pixel (x={x}, y={y}) is no class "
                            "id (an instance map? give it with --instances)")
        ids = pixels.astype(np.uint8)
    elif kind == "grey + alpha":
        ids = pixels[..., 0].astype(np.uint8)
    elif kind == "palette":
        ids = pixels.astype(np.uint8)
        if not label_ids and not ((ids < NUM_CLASSES) | (ids == IGNORE)).all():  # not ids: the palette's colours
            table = np.concatenate([palette, np.zeros((256 - len(palette), 3), np.uint8)])
            return read_color_mask(path, colors, rgb=table[ids], what=f"{what} whose indices are not all ids")
    elif kind in ("RGB", "RGBA"):
        if label_ids:
            raise DataError(f"{path}: is {what}, but a Cityscapes labelIds mask is a grey PNG of labelIds")
        return read_color_mask(path, colors, rgb=pixels[..., :3], what=what)
    else:
        raise DataError(f"{path}: is a PNG of {kind}, which no mask is")
    if label_ids:
        return cityscapes_lut()[ids]
    return check_ids(ids, f"{path} ({what} of ids)" if depth != 8 else path)


def read_color_mask(path: str | Path, colors: dict[int, tuple[int, int, int]] | None = None,
                    rgb: np.ndarray | None = None, what: str = "") -> np.ndarray:
    """Convert an RGB colour mask (the file at ``path``, or its decoded ``rgb``) to train ids with ``colors``
    (default :data:`DEFAULT_COLORS`); a colour not in the table is an error naming the pixel."""
    path, colors = Path(path), colors or DEFAULT_COLORS
    if rgb is None:
        kind, depth = png_mode(path)
        if kind not in ("RGB", "RGBA", "palette") or depth == 16:
            return read_mask(path, colors)  # the one reader says what it is
        what = f"{'an' if depth == 8 else 'a'} {depth}-bit {kind} PNG"
        pixels, palette = _pixels(path)
        rgb = palette[pixels] if kind == "palette" else pixels[..., :3]
    ids, unknown = colors_to_ids(rgb, colors)
    if unknown.any():
        y, x = np.argwhere(unknown)[0]
        colour = tuple(int(c) for c in rgb[y, x])
        same = int((unknown & np.all(rgb == rgb[y, x], axis=-1)).sum())
        n_colours = len(np.unique(rgb[unknown].reshape(-1, 3), axis=0))
        grey = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
        hint = ("; its three channels are equal everywhere: if they hold train ids, save it as a greyscale "
                "(one-channel) PNG" if grey else "")
        raise DataError(
            f"{path}: {what + ' read as colours: ' if what else ''}colour {colour} at pixel (x={x}, y={y}) is not a "
            f"class colour ({same} pixels of that colour; {int(unknown.sum())} pixels in {n_colours} unknown "
            f"colours){hint}")
    return ids


def with_black_ignore(colors: dict[int, tuple[int, int, int]]) -> dict[int, tuple[int, int, int]]:
    """``colors`` with black as ignore (as semsegdiff writes colour masks), unless a class or ignore has a colour."""
    return colors if IGNORE in colors or (0, 0, 0) in colors.values() else {**colors, IGNORE: (0, 0, 0)}


def read_colormap(path: Path) -> dict[int, tuple[int, int, int]]:
    """Parse a reference ``colormap.json`` (class name -> [R, G, B]) into {train id: colour}."""
    try:
        raw = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read colormap ({e})") from e
    if not isinstance(raw, dict) or not raw:
        raise DataError(f"{path}: expected a JSON object mapping class names to [R, G, B], got {type(raw).__name__}")
    colors: dict[int, tuple[int, int, int]] = {}
    owner: dict[tuple[int, int, int], str] = {}
    for name, rgb in raw.items():
        try:
            cid = class_id(name)
        except KeyError as e:
            raise DataError(f"{path}: {e.args[0]}") from None
        if not (isinstance(rgb, list) and len(rgb) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in rgb)):
            raise DataError(f"{path}: colour of {name!r} must be [R, G, B] with integers 0..255, got {rgb!r}")
        colour = (rgb[0], rgb[1], rgb[2])
        if colour in owner:
            raise DataError(f"{path}: colour {list(colour)} is given to both {owner[colour]!r} and {name!r}")
        if cid in colors:
            raise DataError(f"{path}: class {name!r} is listed twice (as an alias or by name)")
        owner[colour] = name
        colors[cid] = colour
    return colors
