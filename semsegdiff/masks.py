"""Mask editing for notebook cells: paint, insert objects, remove, move, sketch, snap, compare.

Conventions, for every function here:

- A mask is a ``uint8`` array (H, W) of train ids 0..18 with 255 = ignore (:mod:`semsegdiff.labels`).
  Each function checks it (:class:`DataError` naming the first bad pixel), returns a NEW array and
  never modifies the one it was given.
- Classes are given by name (``"car"``, aliases such as ``"pedestrian"``) or id, and ``"ignore"`` / 255;
  an unknown name is a :class:`SettingError` naming the closest valid ones.
- Coordinates are ``(row, col)`` = ``(y, x)`` in pixels, row 0 at the top; sizes are ``(h, w)``.
- A shape covers every pixel whose centre lies inside it or within half a pixel of its outline, and the
  pixels under its points, so corners given as pixels are included and no shape vanishes.
- A shape that reaches outside the mask is clipped to it with a ``warnings.warn``; one that covers no
  pixel of the mask, or a single point (``fill``, ``insert``) outside it, is a SettingError.
- Holes (``remove``, ``translate``, ``shrink``) take the label of the nearest remaining pixel, never ignore.
- Numbers (coordinates, radii, heights, pixel counts) must be finite and at most BIG (a million) pixels in
  size; seeds are ints >= 0 or numpy Generators. Anything else is a SettingError naming the argument.
- An inserted object stands on its foot point, as tall as the perspective makes it (``horizon``);
  ``insert(..., "auto")`` finds it a spot on its ground where it covers nothing in front of it and at most
  half of anything behind it, and may hide the sky above the horizon, as tall vehicles do (``place``).
  Those three live in :mod:`semsegdiff.placement` and are reached from here as ``masks.insert`` etc.

Example::

    m = masks.read("scene.png")
    m = masks.replace(m, "car", "bus")
    m = masks.insert(m, "bicycle", "auto", seed=0)  # a rider on a bicycle, sized by the perspective
    masks.render(m)
"""
from __future__ import annotations

import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import ndimage
from torchvision.io import encode_png

from .data.formats import check_ids, read_mask
from .errors import DataError, SettingError
from .files import write_bytes
from .labels import CLASS_NAMES, IGNORE, LABELS, NUM_CLASSES, class_id, ids_to_colors

MAX_PIXELS = 8192 * 8192  # largest mask made here (resize, sketches): 64 MiB of ids
BIG = 1_000_000  # largest coordinate, size or distance in pixels accepted: beyond any mask, safe from overflow


# ---------------------------------------------------------------- argument checks
def _check(mask, what: str = "mask") -> np.ndarray:
    """The mask itself if it is a non-empty 2-D uint8 array of train ids; DataError naming the problem otherwise."""
    ok = isinstance(mask, np.ndarray) and mask.ndim == 2 and mask.dtype == np.uint8
    if not ok or not mask.size:
        got = f"a {mask.dtype} array of shape {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
        got = f"an empty {mask.shape[0]}x{mask.shape[1]} array" if ok else got
        hint = "; an RGB colour mask? use masks.snap()" if np.ndim(mask) == 3 else ""
        raise DataError(f"{what}: expected a non-empty 2-D uint8 array of train ids (H, W), got {got}{hint}")
    return check_ids(mask, what)


def _cls(c) -> int:
    """Train id of a class name or id (255 / "ignore" allowed)."""
    if isinstance(c, str):
        if c.strip().lower() == "ignore":
            return IGNORE
        try:
            return class_id(c)
        except KeyError as e:
            raise SettingError(e.args[0]) from None
    if isinstance(c, (int, np.integer)) and not isinstance(c, bool) and (0 <= c < NUM_CLASSES or c == IGNORE):
        return int(c)
    raise SettingError(f"a class must be a name such as 'car' or an id 0..{NUM_CLASSES - 1} (255 = ignore), got {c!r}")


def _name(cid: int) -> str:
    return "ignore" if cid == IGNORE else CLASS_NAMES[cid]


def _number(v, what: str, low: float | None = 0.0, whole: bool = False, high: float | None = BIG) -> float:
    """v as an int (``whole``) or float in low..high (None: no bound); SettingError naming ``what`` otherwise.

    Bounded by default to +-BIG: no mask is near that size, and larger values overflow pixel arithmetic.
    """
    kinds = (int, np.integer) if whole else (int, float, np.integer, np.floating)
    if (isinstance(v, bool) or not isinstance(v, kinds) or isinstance(v, (float, np.floating)) and not np.isfinite(v)
            or low is not None and v < low or high is not None and abs(v) > high):
        most = f"{high:,.0f}" if high is not None else ""
        if low is None:
            bound = f" from -{most} to {most}" if most else ""
        else:
            bound = f" >= {low:g}" + (f" and <= {most}" if most else "")
        raise SettingError(f"{what} must be a {'whole number' if whole else 'number'}{bound}, got {v!r}")
    return int(v) if whole else float(v)


def _rng(seed, what: str = "seed") -> np.random.Generator:
    """A numpy Generator from a seed: an int >= 0, a Generator (used as it is) or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise SettingError(f"{what} must be a whole number >= 0 or a numpy Generator, got {seed!r}")
    return np.random.default_rng(seed)


def _points(points, what: str, at_least: int = 1) -> np.ndarray:
    """(n, 2) float array of (row, col) points; ``at_least=0`` asks for a single point."""
    try:
        pts = np.asarray(points)
        pts = pts.astype(float) if pts.dtype.kind in "iuf" else np.empty(0)  # numbers, not "3", None or True
    except (TypeError, ValueError):
        pts = np.empty(0)
    single = at_least == 0
    shape_ok = pts.shape == (2,) if single else (pts.ndim == 2 and pts.shape[1] == 2 and len(pts) >= at_least)
    if isinstance(points, str) or not shape_ok or not (np.abs(pts) <= BIG).all():  # also refuses NaN
        need = "a (row, col) pair" if single else f"a list of at least {at_least} (row, col) points"
        raise SettingError(f"{what} must be {need} of finite numbers from -{BIG:,} to {BIG:,}, got {points!r}")
    return pts.reshape(-1, 2)


def _pixel(at, shape: tuple[int, int], what: str) -> tuple[int, int]:
    """A (row, col) point that must lie inside the mask, rounded to a pixel."""
    r, c = np.rint(_points(at, what, at_least=0)[0]).astype(int)
    if not (0 <= r < shape[0] and 0 <= c < shape[1]):
        raise SettingError(f"{what} (row {r}, col {c}) is outside the {shape[0]}x{shape[1]} mask "
                           f"(rows 0..{shape[0] - 1}, cols 0..{shape[1] - 1})")
    return int(r), int(c)


def _region(region, shape: tuple[int, int], what: str) -> np.ndarray:
    if not (isinstance(region, np.ndarray) and region.dtype == bool and region.shape == shape):
        got = f"{region.dtype} {region.shape}" if isinstance(region, np.ndarray) else type(region).__name__
        raise SettingError(f"{what} must be a boolean array of the mask's shape {shape}, got {got}")
    return region


# ---------------------------------------------------------------- shapes in pixel coordinates
# kind: geometry -- "poly": (points,), "line": (points, radius), "ellipse": (centre, (ry, rx)),
# "ring": (centre, radius, width); points are (row, col) rows of an array.
def _extent(kind: str, geom) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest (row, col) the ideal shape reaches."""
    if kind in ("poly", "line"):
        pad = geom[1] if kind == "line" else 0.0
        return geom[0].min(0) - pad, geom[0].max(0) + pad
    half = np.asarray(geom[1], float) if kind == "ellipse" else np.array([geom[1], geom[1]])
    return np.asarray(geom[0]) - half, np.asarray(geom[0]) + half


def _polyline_distance(rr, cc, pts: np.ndarray) -> np.ndarray:
    """Distance of every pixel to the polyline through pts (one point: to that point)."""
    best = np.hypot(rr - pts[0, 0], cc - pts[0, 1])
    for a, b in zip(pts[:-1], pts[1:]):
        d = b - a
        t = np.clip(((rr - a[0]) * d[0] + (cc - a[1]) * d[1]) / max(d @ d, 1e-12), 0, 1)
        best = np.minimum(best, np.hypot(rr - a[0] - t * d[0], cc - a[1] - t * d[1]))
    return best


def _inside(kind: str, geom, rr: np.ndarray, cc: np.ndarray) -> np.ndarray:
    if kind == "poly":
        pts, inside = geom[0], np.zeros(rr.shape, bool)
        for (ya, xa), (yb, xb) in zip(pts, np.roll(pts, -1, axis=0)):  # even-odd rule, one edge at a time
            crosses = (ya > rr) != (yb > rr)
            inside ^= crosses & (cc < xa + (rr - ya) * (xb - xa) / (yb - ya if yb != ya else 1.0))
        return inside | (_polyline_distance(rr, cc, np.vstack([pts, pts[:1]])) <= 0.5)
    if kind == "line":
        return _polyline_distance(rr, cc, geom[0]) <= geom[1] + 0.5
    (r0, c0), size = geom[0], geom[1]
    if kind == "ellipse":
        return ((rr - r0) / (size[0] + 0.5)) ** 2 + ((cc - c0) / (size[1] + 0.5)) ** 2 <= 1
    d = np.hypot(rr - r0, cc - c0)
    return (d <= size + 0.5) & (d >= size - geom[2] - 0.5)


def _shape_pixels(kind: str, geom, shape: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """Boolean (H, W) pixels of one shape, and whether it would cover pixels outside the mask."""
    lo, hi = _extent(kind, geom)
    first, last, limit = np.ceil(lo - 0.5).astype(int), np.floor(hi + 0.5).astype(int), np.array(shape) - 1
    (r0, c0), (r1, c1) = np.maximum(first, 0), np.minimum(last, limit)
    pixels = np.zeros(shape, bool)
    if r0 <= r1 and c0 <= c1:
        rr, cc = np.mgrid[r0:r1 + 1, c0:c1 + 1].astype(float)
        pixels[r0:r1 + 1, c0:c1 + 1] = _inside(kind, geom, rr, cc)
    anchors = np.rint(geom[0]).astype(int).reshape(-1, 2) if kind != "ring" else np.empty((0, 2), int)
    anchors = anchors[((anchors >= 0) & (anchors <= limit)).all(1)]  # the pixels under its points: never empty
    pixels[anchors[:, 0], anchors[:, 1]] = True
    return pixels, bool((first < 0).any() or (last > limit).any())


def _paint(mask, cls, kind: str, geom, what: str) -> np.ndarray:
    mask, cls = _check(mask), _cls(cls)
    pixels, clipped = _shape_pixels(kind, geom, mask.shape)
    h, w = mask.shape
    if not pixels.any():
        raise SettingError(f"{what} lies entirely outside the {h}x{w} mask; coordinates are (row, col) with "
                           f"rows 0..{h - 1} and cols 0..{w - 1}")
    if clipped:
        warnings.warn(f"{what} reaches outside the {h}x{w} mask and was clipped to it", stacklevel=3)
    out = mask.copy()
    out[pixels] = cls
    return out


# ---------------------------------------------------------------- painting
def replace(mask, src, dst, where=None) -> np.ndarray:
    """Pixels of class ``src`` become ``dst``; only inside the boolean region ``where`` when given."""
    mask, src, dst = _check(mask), _cls(src), _cls(dst)
    hit = (mask == src) & (True if where is None else _region(where, mask.shape, "where"))
    out = mask.copy()
    out[hit] = dst
    return out


def rectangle(mask, cls, top_left, bottom_right) -> np.ndarray:
    """Paint the rectangle between two opposite corners, both included."""
    (r0, c0), (r1, c1) = _points(top_left, "top_left", 0)[0], _points(bottom_right, "bottom_right", 0)[0]
    corners = np.array([(r0, c0), (r0, c1), (r1, c1), (r1, c0)])
    return _paint(mask, cls, "poly", (corners,), f"the rectangle {tuple(top_left)}-{tuple(bottom_right)}")


def ellipse(mask, cls, center, radii) -> np.ndarray:
    """Paint an ellipse; ``radii`` is one radius or (row radius, col radius), in pixels."""
    pair = tuple(radii) if isinstance(radii, (list, tuple)) or np.ndim(radii) == 1 else (radii, radii)
    if len(pair) != 2:
        raise SettingError(f"radii must be one radius or a (row radius, col radius) pair in pixels, got {radii!r}")
    radii_rc = np.array([_number(r, "radii") for r in pair])
    return _paint(mask, cls, "ellipse", (_points(center, "center", 0)[0], radii_rc), f"the ellipse at {center}")


def polygon(mask, cls, points) -> np.ndarray:
    """Paint the polygon through ``points`` [(row, col), ...] (even-odd rule where its outline crosses itself)."""
    return _paint(mask, cls, "poly", (_points(points, "points", 3),), "the polygon")


def stroke(mask, cls, points, radius: float = 1.0) -> np.ndarray:
    """Paint a round brush of ``radius`` pixels along the polyline ``points`` (radius 0: a 1-pixel line)."""
    return _paint(mask, cls, "line", (_points(points, "points"), _number(radius, "radius")), "the stroke")


def fill(mask, cls, at) -> np.ndarray:
    """Flood-fill the 4-connected region of the class under ``at`` with ``cls``."""
    mask, cls = _check(mask), _cls(cls)
    r, c = _pixel(at, mask.shape, "fill: at")
    regions, _ = ndimage.label(mask == mask[r, c])  # default structure: 4-connectivity
    out = mask.copy()
    out[regions == regions[r, c]] = cls
    return out


# ---------------------------------------------------------------- removing and moving
def _fill(mask: np.ndarray, hole: np.ndarray, source: np.ndarray, what: str) -> np.ndarray:
    """Copy of mask with the hole's pixels taking the label of the nearest source pixel."""
    out = mask.copy()
    if not hole.any():
        return out
    if not source.any():
        raise SettingError(f"{what} would remove the whole mask: no pixel (other than ignore) is left to fill the hole")
    _, (ir, ic) = ndimage.distance_transform_edt(~source, return_indices=True)
    out[hole] = mask[ir[hole], ic[hole]]
    return out


def remove(mask, cls_or_region) -> np.ndarray:
    """Remove a class (name or id) or a boolean region; the hole takes the nearest surrounding labels."""
    mask = _check(mask)
    if isinstance(cls_or_region, np.ndarray):
        hole, what = _region(cls_or_region, mask.shape, "remove: region"), "removing the region"
    else:
        cls = _cls(cls_or_region)
        hole, what = mask == cls, f"removing {_name(cls)!r}"
    return _fill(mask, hole, ~hole & (mask != IGNORE), what)


def flip(mask) -> np.ndarray:
    """Mirror left-right."""
    return _check(mask)[:, ::-1].copy()


def translate(mask, cls, dy: int, dx: int) -> np.ndarray:
    """Move every pixel of ``cls`` by (dy, dx); the vacated pixels take the nearest other labels.

    Pixels moved outside the mask are dropped with a warning.
    """
    mask, cls = _check(mask), _cls(cls)
    dy, dx = _number(dy, "dy", None, whole=True), _number(dx, "dx", None, whole=True)
    rr, cc = np.nonzero(mask == cls)
    rr, cc = rr + dy, cc + dx
    inside = (rr >= 0) & (rr < mask.shape[0]) & (cc >= 0) & (cc < mask.shape[1])
    if len(rr) and not inside.any():
        raise SettingError(f"translate: moving {_name(cls)!r} by (dy={dy}, dx={dx}) takes all of it outside the "
                           f"{mask.shape[0]}x{mask.shape[1]} mask")
    out = _fill(mask, mask == cls, (mask != cls) & (mask != IGNORE), f"moving {_name(cls)!r}")
    if not inside.all():
        warnings.warn(f"translate: {int((~inside).sum())} of {len(rr)} {_name(cls)!r} pixels moved outside the mask "
                      "and were dropped", stacklevel=2)
    out[rr[inside], cc[inside]] = cls
    return out


def grow(mask, cls, pixels: int) -> np.ndarray:
    """Widen ``cls`` by ``pixels`` (a round brush): it covers whatever lies within that distance of it."""
    mask, cls, n = _check(mask), _cls(cls), _number(pixels, "pixels", whole=True)
    region, out = mask == cls, mask.copy()
    if region.any() and n > 0:
        out[ndimage.distance_transform_edt(~region) <= n] = cls
    return out


def shrink(mask, cls, pixels: int) -> np.ndarray:
    """Thin ``cls`` by ``pixels`` from its borders with other classes; freed pixels take the neighbours' labels."""
    mask, cls, n = _check(mask), _cls(cls), _number(pixels, "pixels", whole=True)
    region = mask == cls
    if region.all() or n == 0:
        return mask.copy()
    rim = region & (ndimage.distance_transform_edt(region) <= n)
    return _fill(mask, rim, ~region & (mask != IGNORE), f"shrinking {_name(cls)!r}")


def resize(mask, size) -> np.ndarray:
    """Nearest-neighbour resize to ``size``: an int (square) or (h, w); ids stay ids."""
    mask = _check(mask)
    hw = (size, size) if np.ndim(size) == 0 else size
    if isinstance(size, str) or len(hw) != 2:
        raise SettingError(f"size must be a positive int or an (h, w) pair, got {size!r}")
    h, w = (_number(v, "size", 1, whole=True) for v in hw)
    if h * w > MAX_PIXELS:
        raise SettingError(f"size {h}x{w}: {h * w:,} pixels, more than the {MAX_PIXELS:,} (8192 x 8192) a mask may "
                           "have here")
    rows = ((np.arange(h) + 0.5) * mask.shape[0] / h).astype(int)
    cols = ((np.arange(w) + 0.5) * mask.shape[1] / w).astype(int)
    return mask[rows[:, None], cols]


# ---------------------------------------------------------------- sketches and drawings
DEFAULT_LEGEND = {  # one character per class; b/W building/wall, w: sidewalk (walk), |: pole, k: bicycle (bike)
    "r": "road", "w": "sidewalk", "b": "building", "W": "wall", "f": "fence", "|": "pole", "L": "traffic light",
    "S": "traffic sign", "v": "vegetation", "t": "terrain", "s": "sky", "p": "person", "R": "rider", "c": "car",
    "T": "truck", "B": "bus", "n": "train", "m": "motorcycle", "k": "bicycle", ".": "ignore",
}


def from_ascii(text: str, legend: dict | None = None, size=None) -> np.ndarray:
    """A mask from text art, one character per class (``legend``: DEFAULT_LEGEND), resized nearest to ``size``.

    Indentation and blank lines around the art are dropped; all rows must have the same length.
    To add characters, pass ``{**DEFAULT_LEGEND, "x": "terrain"}``.
    """
    if not isinstance(text, str):
        raise SettingError(f"from_ascii: text must be a str, one character per pixel, got {type(text).__name__}")
    legend = DEFAULT_LEGEND if legend is None else legend
    if not isinstance(legend, dict) or not all(isinstance(k, str) and len(k) == 1 for k in legend):
        raise SettingError("legend must be a dict mapping single characters to class names or ids")
    lines = [line.rstrip() for line in textwrap.dedent(text).strip("\n").splitlines()]
    if not lines or not lines[0]:
        raise SettingError("from_ascii: the text holds no rows")
    for i, line in enumerate(lines, 1):
        if len(line) != len(lines[0]):
            raise SettingError(f"from_ascii: line {i} has {len(line)} characters but line 1 has {len(lines[0])}; "
                               "all rows must have the same length")
    chars, keys = np.array([list(line) for line in lines]), np.array(sorted(legend))
    unknown = ~np.isin(chars, keys)
    if unknown.any():
        r, c = np.argwhere(unknown)[0]
        raise SettingError(f"from_ascii: character {str(chars[r, c])!r} at line {r + 1}, column {c + 1} is not in the "
                           f"legend ({''.join(keys)})")
    ids = np.array([_cls(legend[k]) for k in keys], np.uint8)[np.searchsorted(keys, chars)]
    return ids if size is None else resize(ids, size)


@dataclass(frozen=True)
class SnapReport:
    """How well an RGB drawing matched the palette: pixels farther than ``tol`` and the worst one."""

    pixels: int
    far: int
    tol: float
    worst_distance: float
    worst_pixel: tuple[int, int]  # (row, col)
    worst_colour: tuple[int, int, int]
    worst_class: str

    def __str__(self) -> str:
        return (f"{self.far} of {self.pixels} pixels ({self.far / self.pixels:.2%}) are farther than {self.tol:g} from "
                f"every class colour; the worst, colour {self.worst_colour} at (row {self.worst_pixel[0]}, col "
                f"{self.worst_pixel[1]}), is {self.worst_distance:.1f} away and became {self.worst_class!r}")


# JPEG keeps brightness sharp but stores colour at half resolution, blurred across class edges: snap in
# YCbCr with the colour channels at half weight (at 64 px, sky and vegetation differ only in colour).
LUMA_CHROMA = np.array([[0.299, 0.587, 0.114], [-0.1687, -0.3313, 0.5], [0.5, -0.4187, -0.0813]]) * [[1], [.5], [.5]]


def snap(rgb, palette: dict | None = None, tol: float = 30.0) -> tuple[np.ndarray, SnapReport]:
    """Snap an RGB mask drawn in any paint program (antialiased, JPEG) to the nearest palette colour.

    ``palette``: {class name or id: (r, g, b)}, such as a loaded colormap.json; by default the
    Cityscapes palette plus black for ignore (as :func:`render` and ``write(colour=True)`` draw it).
    Every pixel is snapped (distances weigh brightness over colour, see LUMA_CHROMA); the report counts
    those farther than ``tol`` (RGB distance, >= 0) from every class colour and gives the worst one.
    In an RGBA image (H, W, 4), fully transparent pixels (alpha 0) become ignore (255) whatever their
    colour and count as exact; any other alpha is opaque.
    """
    rgb, tol = np.asarray(rgb), _number(tol, "snap: tol")
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4) or not rgb.size:
        raise DataError(f"snap: expected a non-empty RGB(A) uint8 image (H, W, 3 or 4), got a {rgb.dtype} array of "
                        f"shape {rgb.shape}")
    table = {**{label.id: label.color for label in LABELS}, IGNORE: (0, 0, 0)} if palette is None else palette
    if not isinstance(table, dict) or not table:
        raise SettingError("palette must be a dict {class name or id: (r, g, b)}")
    ids = np.array([_cls(k) for k in table], np.uint8)
    try:
        colours = np.array([tuple(v) for v in table.values()], float)
    except (TypeError, ValueError):
        colours = np.empty(0)
    if colours.shape != (len(table), 3) or not ((colours >= 0) & (colours <= 255)).all():
        raise SettingError(f"palette colours must be (r, g, b) triples of 0..255, got {list(table.values())!r}")
    key = rgb[..., :3].astype(np.int64) @ np.array([1 << 16, 1 << 8, 1])
    unique, inverse = np.unique(key.ravel(), return_inverse=True)
    unique_rgb = np.stack([unique >> 16, (unique >> 8) & 255, unique & 255], axis=1).astype(float)
    delta = unique_rgb[:, None, :] - colours[None]  # (unique colours, classes, 3)
    best = ((delta @ LUMA_CHROMA.T) ** 2).sum(-1).argmin(1)
    mask = ids[best][inverse].reshape(key.shape)
    far = np.sqrt((delta ** 2).sum(-1)).min(1)[inverse].reshape(key.shape)
    if rgb.shape[2] == 4:
        clear = rgb[..., 3] == 0
        mask[clear], far[clear] = IGNORE, 0.0
    r, c = np.unravel_index(far.argmax(), far.shape)
    report = SnapReport(int(far.size), int((far > tol).sum()), float(tol), float(far[r, c]), (int(r), int(c)),
                        tuple(int(v) for v in rgb[r, c, :3]), _name(mask[r, c]))
    return mask, report


# ---------------------------------------------------------------- looking at masks, files
def render(mask, title: str = ""):
    """A matplotlib Figure of the mask in the Cityscapes palette (ignore black) with a legend of its classes."""
    from .figures import plot_mask

    return plot_mask(_check(mask), title=title)


def diff(a, b) -> tuple[pd.DataFrame, np.ndarray]:
    """What changed from ``a`` to ``b``: pixel counts per (from, to) class pair, most first, and an RGB overlay.

    The overlay (H, W, 3) uint8 shows ``b``'s colours where the masks differ and ``a`` dimmed elsewhere.
    """
    a, b = _check(a, "a"), _check(b, "b")
    if a.shape != b.shape:
        raise SettingError(f"diff: the masks differ in shape, {a.shape} and {b.shape}; resize() one of them")
    changed = a != b
    pairs, counts = np.unique(a[changed].astype(np.int64) * 256 + b[changed], return_counts=True)
    table = pd.DataFrame({"from": [_name(p // 256) for p in pairs], "to": [_name(p % 256) for p in pairs],
                          "pixels": counts})
    table = table.sort_values("pixels", ascending=False, kind="stable").reset_index(drop=True)
    return table, np.where(changed[..., None], ids_to_colors(b), ids_to_colors(a) // 3)


def changed_region(a, b, grow: int = 2) -> np.ndarray:
    """Boolean (H, W): the pixels where masks ``a`` and ``b`` differ, grown by ``grow`` pixels.

    What local regeneration generates anew (``model.generate(..., init=photo, keep=~region)``).
    """
    a, b = _check(a, "a"), _check(b, "b")
    if a.shape != b.shape:
        raise DataError(f"the masks differ in size: {a.shape} and {b.shape}")
    changed = a != b
    grow = min(_number(grow, "grow", whole=True), sum(a.shape))  # further changes nothing
    return ndimage.binary_dilation(changed, iterations=grow) if grow and changed.any() else changed


def read(path, colors: dict | None = None) -> np.ndarray:
    """Read a mask PNG: train ids (grey or palette PNG) or colours ({id: rgb} ``colors``, default as written).

    A file whose bytes are not a PNG (a JPEG, whatever its name) is refused: lossy compression changes ids and blurs
    class edges (decode a drawing saved as JPEG and use :func:`snap`).
    """
    path, colors = Path(path), colors or {**{label.id: label.color for label in LABELS}, IGNORE: (0, 0, 0)}
    if not path.is_file():
        raise DataError(f"{path}: mask file not found")
    return _check(read_mask(path, colors), str(path))


def write(path, mask, colour: bool = False) -> Path:
    """Write a mask atomically as a PNG of train ids, or with ``colour`` in the palette (ignore black)."""
    mask, path = _check(mask), Path(path)
    if path.suffix.lower() != ".png":
        raise SettingError(f"{path}: masks are written as PNG (JPEG would change the ids); use a .png name")
    pixels = torch.from_numpy(ids_to_colors(mask)).permute(2, 0, 1) if colour else torch.from_numpy(mask)[None]
    return write_bytes(path, encode_png(pixels.contiguous()).cpu().numpy().tobytes())


PLACEMENT = ("Silhouette", "SILHOUETTES", "OBJECT_ALIASES", "horizon", "place", "insert")  # semsegdiff.placement's


def __getattr__(name: str):
    """``masks.insert``, ``masks.place``, ... : the object-placement API of :mod:`semsegdiff.placement`."""
    if name in PLACEMENT:
        from . import placement

        return getattr(placement, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
