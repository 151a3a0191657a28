"""Inserting objects into masks: silhouettes, the perspective (:func:`horizon`), where an object can
stand (:func:`place`) and drawing it there (:func:`insert`).

The conventions of :mod:`semsegdiff.masks` hold here too (a new ``uint8`` mask returned, classes by
name, ``(row, col)`` coordinates, SettingErrors naming the argument); ``masks.insert``,
``masks.place`` and ``masks.horizon`` are these functions.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .errors import SettingError
from .labels import IGNORE, THINGS, class_id
from .shapes import as_pixel, as_rng, check_mask, class_name, class_of, extent, number, shape_pixels

ROAD, SIDEWALK, SKY = class_id("road"), class_id("sidewalk"), class_id("sky")
VERGE = [class_id(c) for c in ("sidewalk", "terrain", "vegetation", "building", "wall", "fence")]


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
        key = class_name(class_of(key))
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
        pixels, part_clipped = shape_pixels(kind, _to_pixels(kind, geom, foot, h), mask.shape)
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
    mask = check_mask(mask)
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
    parts = [extent(kind, _to_pixels(kind, geom, (0, 0), 1.0)) for _, kind, *geom in sil.parts]
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
    mask, key, rng = check_mask(mask), _object(obj), as_rng(seed)
    fixed_h = number(height, "height", 1) if height is not None else None
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
    return drawn(mask, cls, at, height, seed=seed)[0]


def drawn(mask, cls, at, height: float | None = None, *, seed=None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`insert`, and the inserted object's pixels (bool (H, W)): what :mod:`semsegdiff.instances` numbers."""
    mask, key, rng = check_mask(mask), _object(cls), as_rng(seed)
    h = number(height, "height", 1) if height is not None else None
    auto = isinstance(at, str) and at == "auto"
    foot = place(mask, key, height=h, seed=rng) if auto else as_pixel(at, mask.shape, "insert: at (or 'auto')")
    if h is None:
        hz = horizon(mask)
        if foot[0] <= hz:
            raise SettingError(f"insert: at row {foot[0]} is not below the horizon (row {hz}, the top of the road), "
                               f"so a {key} standing there has no size; choose a lower row or pass height= in pixels")
        h = SILHOUETTES[key].height * (foot[0] - hz)
    out, covered, clipped = _draw(mask, SILHOUETTES[key], foot, h)
    if clipped:
        warnings.warn(f"the {key} at {foot} ({h:.0f} px tall) reaches outside the mask and was clipped to it",
                      stacklevel=3)
    return out, covered
