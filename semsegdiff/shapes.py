"""What every mask edit takes: its arguments checked, and shapes drawn in pixel coordinates.

The argument checks of :mod:`semsegdiff.masks`, :mod:`semsegdiff.placement` and the painter
(:mod:`semsegdiff.widgets`): a mask (a non-empty 2-D ``uint8`` array of train ids), a class by
name or id, finite and bounded numbers, seeds, (row, col) points, pixels and regions; each refusal
a :class:`SettingError` (a :class:`DataError` for the mask itself) naming the argument. And the
shapes (polygon, thick polyline, ellipse, ring) rasterised by the conventions of
:mod:`semsegdiff.masks`: every pixel whose centre lies inside or within half a pixel of the
outline, and the pixels under the shape's points.
"""
from __future__ import annotations

import warnings

import numpy as np

from .data.mask_files import check_ids
from .errors import DataError, SettingError
from .labels import CLASS_NAMES, IGNORE, NUM_CLASSES, class_id

MAX_PIXELS = 8192 * 8192  # largest mask made here (resize, sketches): 64 MiB of ids
BIG = 1_000_000  # largest coordinate, size or distance in pixels accepted: beyond any mask, safe from overflow


# ---------------------------------------------------------------- arguments
def check_mask(mask, what: str = "mask") -> np.ndarray:
    """The mask itself if it is a non-empty 2-D uint8 array of train ids; DataError naming the problem otherwise."""
    ok = isinstance(mask, np.ndarray) and mask.ndim == 2 and mask.dtype == np.uint8
    if not ok or not mask.size:
        got = f"a {mask.dtype} array of shape {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
        got = f"an empty {mask.shape[0]}x{mask.shape[1]} array" if ok else got
        hint = "; an RGB colour mask? use masks.snap()" if np.ndim(mask) == 3 else ""
        raise DataError(f"{what}: expected a non-empty 2-D uint8 array of train ids (H, W), got {got}{hint}")
    return check_ids(mask, what)


def class_of(c) -> int:
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


def class_name(cid: int) -> str:
    return "ignore" if cid == IGNORE else CLASS_NAMES[cid]


def number(v, what: str, low: float | None = 0.0, whole: bool = False, high: float | None = BIG) -> float:
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


def as_rng(seed, what: str = "seed") -> np.random.Generator:
    """A numpy Generator from a seed: an int >= 0, a Generator (used as it is) or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise SettingError(f"{what} must be a whole number >= 0 or a numpy Generator, got {seed!r}")
    return np.random.default_rng(seed)


def as_points(points, what: str, at_least: int = 1) -> np.ndarray:
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


def as_pixel(at, shape: tuple[int, int], what: str) -> tuple[int, int]:
    """A (row, col) point that must lie inside the mask, rounded to a pixel."""
    r, c = np.rint(as_points(at, what, at_least=0)[0]).astype(int)
    if not (0 <= r < shape[0] and 0 <= c < shape[1]):
        raise SettingError(f"{what} (row {r}, col {c}) is outside the {shape[0]}x{shape[1]} mask "
                           f"(rows 0..{shape[0] - 1}, cols 0..{shape[1] - 1})")
    return int(r), int(c)


def as_region(region, shape: tuple[int, int], what: str) -> np.ndarray:
    if not (isinstance(region, np.ndarray) and region.dtype == bool and region.shape == shape):
        got = f"{region.dtype} {region.shape}" if isinstance(region, np.ndarray) else type(region).__name__
        raise SettingError(f"{what} must be a boolean array of the mask's shape {shape}, got {got}")
    return region


# ---------------------------------------------------------------- shapes in pixel coordinates
# kind: geometry -- "poly": (points,), "line": (points, radius), "ellipse": (centre, (ry, rx)),
# "ring": (centre, radius, width); points are (row, col) rows of an array.
def extent(kind: str, geom) -> tuple[np.ndarray, np.ndarray]:
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


def shape_pixels(kind: str, geom, shape: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """Boolean (H, W) pixels of one shape, and whether it would cover pixels outside the mask."""
    lo, hi = extent(kind, geom)
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


def paint(mask, cls, kind: str, geom, what: str) -> np.ndarray:
    mask, cls = check_mask(mask), class_of(cls)
    pixels, clipped = shape_pixels(kind, geom, mask.shape)
    h, w = mask.shape
    if not pixels.any():
        raise SettingError(f"{what} lies entirely outside the {h}x{w} mask; coordinates are (row, col) with "
                           f"rows 0..{h - 1} and cols 0..{w - 1}")
    if clipped:
        warnings.warn(f"{what} reaches outside the {h}x{w} mask and was clipped to it", stacklevel=3)
    out = mask.copy()
    out[pixels] = cls
    return out
