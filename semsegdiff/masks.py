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
- An inserted object stands on its foot point, as tall as the perspective makes it (:func:`horizon`);
  ``insert(..., "auto")`` finds it a spot on its ground where it covers nothing in front of it and at most
  half of anything behind it, and may hide the sky above the horizon, as tall vehicles do (:func:`place`).

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
from .labels import CLASS_NAMES, IGNORE, LABELS, NUM_CLASSES, THINGS, class_id, ids_to_colors

ROAD, SIDEWALK, SKY = class_id("road"), class_id("sidewalk"), class_id("sky")
VERGE = [class_id(c) for c in ("sidewalk", "terrain", "vegetation", "building", "wall", "fence")]
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


# ---------------------------------------------------------------- inserting objects
@dataclass(frozen=True)
class Silhouette:
    """An insertable object. Parts (class, kind, geometry) are drawn in order, later ones in front; their
    points are (x right, y up) in units of the object's height with its foot point at (0, 0). Kinds:
    "poly" [points]; "line" [points], radius; "ellipse" centre, (rx, ry); "ring" centre, radius, width."""

    height: float  # typical height in camera heights (a dashcam sits ~1.4 m above the road)
    on: tuple[str, ...]  # ground it stands on when placed automatically; "road edge": road beside its verge
    base: float  # half-width of its contact with the ground, in units of its height
    parts: tuple


ROAD_ONLY, STREET = ("road",), ("sidewalk", "road edge")
SILHOUETTES: dict[str, Silhouette] = {  # vehicles from behind, train: a tram from the front, riders from the side
    "car": Silhouette(1.1, ROAD_ONLY, 0.55, (
        ("car", "poly", [(-.60, .08), (-.62, .48), (-.56, .60), (-.45, .95), (-.37, 1), (.37, 1), (.45, .95),
                         (.56, .60), (.62, .48), (.60, .08)]),
        ("car", "poly", [(-.58, 0), (-.38, 0), (-.38, .1), (-.58, .1)]),
        ("car", "poly", [(.38, 0), (.58, 0), (.58, .1), (.38, .1)]))),
    "truck": Silhouette(2.5, ROAD_ONLY, 0.33, (
        ("truck", "poly", [(-.37, .14), (-.37, 1), (.37, 1), (.37, .14)]),
        ("truck", "poly", [(-.34, 0), (-.34, .14), (.34, .14), (.34, 0), (.2, 0), (.2, .06), (-.2, .06), (-.2, 0)]))),
    "bus": Silhouette(2.3, ROAD_ONLY, 0.36, (
        ("bus", "poly", [(-.40, .06), (-.41, .90), (-.37, 1), (.37, 1), (.41, .90), (.40, .06)]),
        ("bus", "poly", [(-.38, 0), (-.24, 0), (-.24, .07), (-.38, .07)]),
        ("bus", "poly", [(.24, 0), (.38, 0), (.38, .07), (.24, .07)]))),
    "train": Silhouette(3.0, ROAD_ONLY, 0.30, (
        ("train", "poly", [(-.30, 0), (-.32, .62), (-.30, .76), (-.25, .84), (.25, .84), (.30, .76), (.32, .62),
                           (.30, 0)]),
        ("train", "line", [(-.1, .84), (0, .95), (.1, .84)], .006),  # pantograph
        ("train", "line", [(-.14, 1), (.14, 1)], .006),
        ("train", "line", [(0, .95), (0, 1)], .006))),
    "person": Silhouette(1.2, ("road", "sidewalk"), 0.10, (
        ("person", "poly", [(-.10, .50), (-.01, .50), (-.03, 0), (-.10, 0)]),
        ("person", "poly", [(.01, .50), (.10, .50), (.10, 0), (.03, 0)]),
        ("person", "poly", [(-.13, .83), (.13, .83), (.11, .48), (-.11, .48)]),
        ("person", "line", [(-.12, .81), (-.16, .62), (-.15, .47)], .03),
        ("person", "line", [(.12, .81), (.16, .62), (.15, .47)], .03),
        ("person", "ellipse", (0, .925), (.055, .075)))),
    "bicycle": Silhouette(1.25, ROAD_ONLY, 0.30, (  # with its rider, riding to the right
        ("bicycle", "ring", (-.3, .2), .2, .035),
        ("bicycle", "ring", (.3, .2), .2, .035),
        ("bicycle", "line", [(-.3, .2), (-.02, .2), (.22, .5), (-.1, .52), (-.3, .2)], .015),
        ("bicycle", "line", [(-.02, .2), (-.1, .52)], .015),
        ("bicycle", "line", [(.3, .2), (.22, .5), (.2, .58), (.25, .6)], .015),
        ("rider", "line", [(-.1, .56), (-.05, .38), (-.06, .16)], .04),
        ("rider", "line", [(-.1, .56), (.08, .42), (0, .2)], .04),
        ("rider", "line", [(-.1, .58), (.06, .84)], .07),
        ("rider", "line", [(.05, .82), (.2, .6)], .03),
        ("rider", "ellipse", (.1, .93), (.06, .07)))),
    "motorcycle": Silhouette(1.15, ROAD_ONLY, 0.38, (  # with its rider, riding to the right
        ("motorcycle", "ring", (-.4, .18), .18, .07),
        ("motorcycle", "ring", (.4, .18), .18, .07),
        ("motorcycle", "poly", [(-.52, .44), (-.05, .47), (.05, .52), (.25, .52), (.30, .45), (.15, .2),
                                (-.1, .18), (-.3, .28), (-.45, .34)]),
        ("motorcycle", "line", [(.4, .18), (.3, .62), (.22, .64)], .02),
        ("rider", "line", [(-.18, .55), (.05, .5), (.02, .28)], .045),
        ("rider", "line", [(-.16, .58), (-.04, .85)], .075),
        ("rider", "line", [(-.04, .82), (.24, .64)], .035),
        ("rider", "ellipse", (-.01, .93), (.07, .07)))),
    "pole": Silhouette(3.0, STREET, 0.0, (("pole", "line", [(0, 0), (0, 1)], .012),)),
    "traffic light": Silhouette(2.6, STREET, 0.0, (
        ("pole", "line", [(0, 0), (0, .72)], .015),
        ("traffic light", "poly", [(-.06, .70), (.06, .70), (.06, 1), (-.06, 1)]))),
    "traffic sign": Silhouette(2.0, STREET, 0.0, (
        ("pole", "line", [(0, 0), (0, .8)], .015),
        ("traffic sign", "ellipse", (0, .89), (.11, .11)))),
}
OBJECT_ALIASES = {"rider": "bicycle", "cyclist": "bicycle", "motorcyclist": "motorcycle"}
MIN_HEIGHT = 0.08  # automatic placement: objects at least this share of the mask's height tall (and 4 px)
BASE_SHARE = 0.8  # automatic placement: share of an object's base (its width at the ground) on its ground
STAMPS = 4  # automatic placement: foot rows whose object is drawn to check what it hides, at most
DEPTH_ROWS = 2  # automatic placement: things whose lowest row is at most this far above its foot row are in front
KERB = [class_id("sidewalk"), class_id("terrain")]  # automatic placement: where half a base may stand beside its ground


def _object(obj) -> str:
    """The SILHOUETTES key of an object or class name or id (unknown names: class_id's closest names)."""
    key = OBJECT_ALIASES.get(obj.strip().lower() if isinstance(obj, str) else obj, obj)
    if key not in SILHOUETTES:
        key = _name(_cls(key))
        key = OBJECT_ALIASES.get(key, key)
        if key not in SILHOUETTES:
            raise SettingError(f"no silhouette for {key!r}; insert draws: {', '.join(SILHOUETTES)}")
    return key


def _to_pixels(kind: str, geom, foot, h: float) -> tuple:
    """A part's geometry in pixel coordinates for the foot point (row, col) and a height of h pixels."""
    pts = lambda p: np.asarray(foot, float) + np.asarray(p, float).reshape(-1, 2)[:, ::-1] * [-h, h]  # noqa: E731
    if kind == "poly":
        return (pts(geom[0]),)
    if kind == "line":
        return pts(geom[0]), geom[1] * h
    if kind == "ellipse":
        return pts(geom[0])[0], (geom[1][1] * h, geom[1][0] * h)
    return pts(geom[0])[0], geom[1] * h, geom[2] * h


def _draw(mask: np.ndarray, sil: Silhouette, foot, h: float) -> tuple[np.ndarray, np.ndarray, bool]:
    """(new mask, the object's pixels, whether it was clipped) for the object standing at foot, h pixels tall."""
    out, covered, clipped = mask.copy(), np.zeros(mask.shape, bool), False
    for part_cls, kind, *geom in sil.parts:
        pixels, part_clipped = _shape_pixels(kind, _to_pixels(kind, geom, foot, h), mask.shape)
        pixels[foot[0] + 1:] = False  # it stands on the ground: nothing below its foot row
        out[pixels], covered, clipped = class_id(part_cls), covered | pixels, clipped or part_clipped
    return out, covered, clipped


def _things(mask: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Things (8-connected person, rider and vehicle pixels) labelled 1..n, n, and per pixel the lowest row of
    its thing in its column (-1: no thing): where it meets the ground, so a row of parked cars merged into one
    thing is nearer where it comes lower."""
    things, n = ndimage.label(np.isin(mask, THINGS), structure=np.ones((3, 3)))
    lowest = np.full((n + 1, mask.shape[1]), -1)
    rows, cols = np.nonzero(things)
    np.maximum.at(lowest, (things[rows, cols], cols), rows)
    return things, n, np.where(things > 0, lowest[things, np.arange(mask.shape[1])], -1)


def horizon(mask) -> int:
    """Estimated horizon row: the perspective that sizes inserted objects.

    A pinhole camera over flat ground sees an object H camera heights tall standing at row r as
    H * (r - horizon) pixels tall. The horizon lies at or above the top row of the road (its largest
    region; the sidewalk's when there is no road), and what stands on the road says where: each car,
    truck, bus, train or person at least 4 px tall whose bottom touches the road gives r - height / H.
    The estimate is the higher of the road's top and the median of those.
    """
    mask = _check(mask)
    cls = ROAD if (mask == ROAD).any() else SIDEWALK
    regions, n = ndimage.label(mask == cls, structure=np.ones((3, 3)))
    if not n:
        raise SettingError("cannot estimate the horizon (the perspective) of a mask without road or sidewalk; "
                           "pass height= in pixels")
    largest = np.argmax(np.bincount(regions.ravel())[1:]) + 1
    top = int(np.argmax((regions == largest).any(axis=1)))
    on_ground = np.zeros(mask.shape, bool)
    on_ground[:-1] = mask[1:] == cls
    cues = []
    for name in ("car", "truck", "bus", "train", "person"):  # one-class silhouettes
        if not (mask == class_id(name)).any():
            continue
        things, _ = ndimage.label(mask == class_id(name), structure=np.ones((3, 3)))
        for i, (rows, _) in enumerate(ndimage.find_objects(things), 1):
            bottom, height = rows.stop - 1, rows.stop - 1 - rows.start
            if height >= 4 and (on_ground[bottom] & (things[bottom] == i)).any():
                cues.append(bottom - height / SILHOUETTES[name].height)
    return min(top, int(round(np.median(cues)))) if cues else top


def _box_sums(blocked: np.ndarray, top, left, bottom, right) -> np.ndarray:
    """Number of blocked pixels in each box (rows top..bottom, cols left..right), from one integral image."""
    s = np.zeros((blocked.shape[0] + 1, blocked.shape[1] + 1), np.int64)
    s[1:, 1:] = blocked.cumsum(0).cumsum(1)
    return s[bottom + 1, right + 1] - s[top, right + 1] - s[bottom + 1, left] + s[top, left]


def _ground(mask: np.ndarray, on: tuple[str, ...]) -> np.ndarray:
    """Pixels an object may stand on: its classes and, for "road edge", road within 2 columns of its verge."""
    ground = np.isin(mask, [class_id(n) for n in on if n != "road edge"])
    if "road edge" in on:
        ground |= (mask == ROAD) & ndimage.binary_dilation(np.isin(mask, VERGE), np.ones((1, 5), bool))
    return ground


def _boxes(sil: Silhouette, rr, cc, h) -> tuple[np.ndarray, ...]:
    """Pixel bounding boxes (top, left, bottom, right) of the object standing at (rr, cc), h pixels tall."""
    parts = [_extent(kind, _to_pixels(kind, geom, (0, 0), 1.0)) for _, kind, *geom in sil.parts]
    lo, hi = np.min([p[0] for p in parts], 0), np.max([p[1] for p in parts], 0)  # (row, col) per pixel of height
    return (np.ceil(rr + lo[0] * h - 0.5).astype(int), np.ceil(cc + lo[1] * h - 0.5).astype(int),
            np.floor(rr + hi[0] * h + 0.5).astype(int), np.floor(cc + hi[1] * h + 0.5).astype(int))


def _narrow(ok: np.ndarray, candidates: tuple, why) -> tuple:
    """The candidates (arrays) where ok holds; a SettingError saying ``why()`` when none is left."""
    if not ok.any():
        raise SettingError(f"{why()}; pass at=(row, col) to place it yourself")
    return tuple(a[ok] for a in candidates)


def _longest_runs(pixels: np.ndarray) -> np.ndarray:
    """Per row, the length of its longest run of True pixels."""
    steps = np.diff(np.pad(pixels, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    (rows, starts), (_, stops) = np.nonzero(steps == 1), np.nonzero(steps == -1)
    runs = np.zeros(len(pixels), int)
    np.maximum.at(runs, rows, stops - starts)
    return runs


def _row_counts(pixels: np.ndarray, rows: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Number of True pixels in each row segment (row, columns first..last)."""
    left_of = np.pad(pixels.cumsum(1), ((0, 0), (1, 0)))  # per row: pixels left of each column
    return left_of[rows, last + 1] - left_of[rows, first]


def _too_narrow(no_spot: str, key: str, on: str, hz: int, runs: np.ndarray, needs: np.ndarray, rows: np.ndarray) -> str:
    """Why no spot has enough ground under the object's base: the row that comes closest."""
    i = int(np.argmax(runs / needs))
    return (f"{no_spot}: no {on} below the horizon (row {hz}) wide enough for a {key}: the widest {on} row for its "
            f"size is {runs[i]} px (row {rows[i]}), a {key} there needs {BASE_SHARE * needs[i]:.0f} px of its "
            f"{needs[i]} px base (or half, beside sidewalk or terrain)")


def place(mask, obj, *, height: float | None = None, seed=None) -> tuple[int, int]:
    """A free, plausible foot point (row, col) for ``obj``: what ``insert(..., at="auto")`` uses.

    Candidates are pixels of the object's ground (SILHOUETTES ``on``) below the horizon where it

    - is at least MIN_HEIGHT of the mask tall (unless ``height`` is given) and fits in the mask;
    - stands with BASE_SHARE of its base on its ground, or with half of it there and the rest on sidewalk
      or terrain (a car on the kerb, a bus where the far road is narrow);
    - covers no ignore, no sky below the horizon and nothing of a thing (person, rider, vehicle) in front
      of it: one whose lowest pixel in that column is at or below its foot row - DEPTH_ROWS. It may cover
      what lies behind: buildings, vegetation and the sky above the horizon, which anything taller than
      the camera height reaches (a bus on an open road hides the sky).

    They are tried in a random order weighted by 1 / (distance below the horizon), so far spots come up
    about as often as near ones; the first that hides at most half of each thing behind it wins (things
    smaller than MIN_HEIGHT, far-away specks, may be hidden; at most STAMPS rows are drawn to check).
    ``seed``: an int >= 0 or a numpy Generator. Without a spot, the SettingError names the rule that ruled
    out the last candidates (no ground below the horizon, too narrow, ...).
    """
    mask, key, rng = _check(mask), _object(obj), _rng(seed)
    fixed_h = _number(height, "height", 1) if height is not None else None
    sil, (h_img, w_img) = SILHOUETTES[key], mask.shape
    on, ground = " or ".join(sil.on), _ground(mask, sil.on)
    no_spot = f"no plausible spot for a {key} in this mask"
    if not ground.any():
        raise SettingError(f"{no_spot}: it has no {on}; pass at=(row, col) to place it yourself")
    hz, least = horizon(mask), max(4, MIN_HEIGHT * h_img)
    rr, cc = np.nonzero(ground)
    h = np.full(rr.shape, fixed_h) if fixed_h is not None else sil.height * (rr - hz)
    cand = _narrow(rr > hz, (rr, cc, h), lambda: f"{no_spot}: none of its {on} lies below the horizon (row {hz})")
    cand = _narrow((cand[2] >= least) | (fixed_h is not None), cand, lambda: (
        f"{no_spot}: its {on} below the horizon (row {hz}) reaches down to row {cand[0].max()} only, where a {key} "
        f"is {cand[2].max():.1f} px tall; automatic placement needs {least:.1f} px (MIN_HEIGHT) or height="))
    top, left, bottom, right = _boxes(sil, *cand)
    cand = _narrow((top >= 0) & (left >= 0) & (bottom < h_img) & (right < w_img), cand, lambda: (
        f"{no_spot}: standing on its {on} below the horizon (row {hz}) it would leave the {h_img}x{w_img} mask "
        f"wherever it stands ({cand[2].min():.0f}..{cand[2].max():.0f} px tall)"))
    rr, cc, h = cand
    b0, b1 = (np.clip(np.rint(cc + side * sil.base * h), 0, w_img - 1).astype(int) for side in (-1, 1))
    width, under = b1 - b0 + 1, _row_counts(ground, rr, b0, b1)
    kerb = _row_counts(ground | np.isin(mask, KERB), rr, b0, b1)
    cand = _narrow((under >= BASE_SHARE * width) | (under >= 0.5 * width) & (kerb >= BASE_SHARE * width), cand,
                   lambda: _too_narrow(no_spot, key, on, hz, _longest_runs(ground)[rr], width, rr))
    rr, cc, h = cand
    top, left, bottom, right = _boxes(sil, rr, cc, h)
    things, n_things, lowest = _things(mask)
    fixed = (mask == IGNORE) | ((mask == SKY) & (np.arange(h_img)[:, None] > hz))
    blocked = np.zeros(len(rr), int)
    levels = np.searchsorted(np.unique(lowest[things > 0]), rr - DEPTH_ROWS)  # foot rows with the same things in front
    for level in np.unique(levels):
        at = np.flatnonzero(levels == level)
        blocked[at] = _box_sums(fixed | (lowest >= rr[at[0]] - DEPTH_ROWS), top[at], left[at], bottom[at], right[at])
    rr, cc, h, top, left, bottom, right = _narrow(blocked == 0, (rr, cc, h, top, left, bottom, right), lambda: (
        f"{no_spot}: every spot on its {on} below the horizon (row {hz}) where it fits would cover ignore, sky below "
        "the horizon or an object in front of it"))
    sizes, stamps = np.bincount(things.ravel(), minlength=n_things + 1), {}
    kept = np.array([False] + [s[0].stop - s[0].start >= least for s in ndimage.find_objects(things)])  # no specks
    hides_half = lambda ids: (np.bincount(ids, minlength=n_things + 1) > 0.5 * sizes)[kept].any()  # noqa: E731
    for i in np.argsort(rng.exponential(size=len(rr)) * (rr - hz)):  # a random order, weights 1 / (rr - hz)
        box = np.s_[top[i]:bottom[i] + 1, left[i]:right[i] + 1]
        if hides_half(things[box].ravel()):  # its box would, but would its pixels? (the same all along a row)
            if rr[i] not in stamps:
                if len(stamps) == STAMPS:
                    continue
                stamps[rr[i]] = _draw(mask, sil, (rr[i], cc[i]), h[i])[1][box]
            if hides_half(things[box][stamps[rr[i]]]):
                continue
        return int(rr[i]), int(cc[i])
    raise SettingError(f"{no_spot}: every spot tried on its {on} below the horizon (row {hz}) would hide more than "
                       f"half of an object ({least:.0f} px or taller) behind it; pass at=(row, col) to place it yourself")


def insert(mask, cls, at, height: float | None = None, *, seed=None) -> np.ndarray:
    """Draw an object standing at ``at`` (its foot point, (row, col)) in front of what is there.

    ``cls``: car, truck, bus, train, person, bicycle / motorcycle (each with its rider; "rider" means a
    cyclist), pole, traffic light, traffic sign (see SILHOUETTES). ``height`` in pixels defaults to the
    perspective (:func:`horizon`). ``at="auto"`` picks a free, plausible spot with :func:`place`, seeded
    by ``seed`` (an int >= 0 or a numpy Generator); an object reaching outside the mask at a given ``at``
    is clipped with a warning.
    """
    mask, key, rng = _check(mask), _object(cls), _rng(seed)
    h = _number(height, "height", 1) if height is not None else None
    auto = isinstance(at, str) and at == "auto"
    foot = place(mask, key, height=h, seed=rng) if auto else _pixel(at, mask.shape, "insert: at (or 'auto')")
    if h is None:
        hz = horizon(mask)
        if foot[0] <= hz:
            raise SettingError(f"insert: at row {foot[0]} is not below the horizon (row {hz}, the top of the road), "
                               f"so a {key} standing there has no size; choose a lower row or pass height= in pixels")
        h = SILHOUETTES[key].height * (foot[0] - hz)
    out, _, clipped = _draw(mask, SILHOUETTES[key], foot, h)
    if clipped:
        warnings.warn(f"the {key} at {foot} ({h:.0f} px tall) reaches outside the mask and was clipped to it",
                      stacklevel=2)
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

    A JPEG is refused: its lossy compression changes ids and blurs class edges (decode it and use :func:`snap`).
    """
    path, colors = Path(path), colors or {**{label.id: label.color for label in LABELS}, IGNORE: (0, 0, 0)}
    if path.is_file():
        with open(path, "rb") as f:
            if f.read(3) == b"\xff\xd8\xff":
                raise DataError(f"{path}: a JPEG; masks are read from PNG (JPEG's lossy compression changes the ids); "
                                "for a colour drawing saved as JPEG, decode it and use masks.snap()")
    return _check(read_mask(path, colors), str(path))


def write(path, mask, colour: bool = False) -> Path:
    """Write a mask atomically as a PNG of train ids, or with ``colour`` in the palette (ignore black)."""
    mask, path = _check(mask), Path(path)
    if path.suffix.lower() != ".png":
        raise SettingError(f"{path}: masks are written as PNG (JPEG would change the ids); use a .png name")
    pixels = torch.from_numpy(ids_to_colors(mask)).permute(2, 0, 1) if colour else torch.from_numpy(mask)[None]
    return write_bytes(path, encode_png(pixels.contiguous()).cpu().numpy().tobytes())
