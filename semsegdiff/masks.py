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
  Those three live in :mod:`semsegdiff.placement` and are imported here (``masks.insert`` etc.); the argument
  checks and shapes every edit shares live in :mod:`semsegdiff.shapes`.

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

from .data.mask_files import read_mask
from .errors import DataError, SettingError
from .files import write_bytes
from .labels import IGNORE, LABELS, ids_to_colors
from .placement import OBJECT_ALIASES, SILHOUETTES, Silhouette, horizon, insert, place  # noqa: F401 - masks.insert etc.
from .shapes import MAX_PIXELS, as_pixel, as_points, as_region, check_mask, class_name, class_of, number, paint

# ---------------------------------------------------------------- painting
def replace(mask, src, dst, where=None) -> np.ndarray:
    """Pixels of class ``src`` become ``dst``; only inside the boolean region ``where`` when given."""
    mask, src, dst = check_mask(mask), class_of(src), class_of(dst)
    hit = (mask == src) & (True if where is None else as_region(where, mask.shape, "where"))
    out = mask.copy()
    out[hit] = dst
    return out


def rectangle(mask, cls, top_left, bottom_right) -> np.ndarray:
    """Paint the rectangle between two opposite corners, both included."""
    (r0, c0), (r1, c1) = as_points(top_left, "top_left", 0)[0], as_points(bottom_right, "bottom_right", 0)[0]
    corners = np.array([(r0, c0), (r0, c1), (r1, c1), (r1, c0)])
    return paint(mask, cls, "poly", (corners,), f"the rectangle {tuple(top_left)}-{tuple(bottom_right)}")


def ellipse(mask, cls, center, radii) -> np.ndarray:
    """Paint an ellipse; ``radii`` is one radius or (row radius, col radius), in pixels."""
    pair = tuple(radii) if isinstance(radii, (list, tuple)) or np.ndim(radii) == 1 else (radii, radii)
    if len(pair) != 2:
        raise SettingError(f"radii must be one radius or a (row radius, col radius) pair in pixels, got {radii!r}")
    radii_rc = np.array([number(r, "radii") for r in pair])
    return paint(mask, cls, "ellipse", (as_points(center, "center", 0)[0], radii_rc), f"the ellipse at {center}")


def polygon(mask, cls, points) -> np.ndarray:
    """Paint the polygon through ``points`` [(row, col), ...] (even-odd rule where its outline crosses itself)."""
    return paint(mask, cls, "poly", (as_points(points, "points", 3),), "the polygon")


def stroke(mask, cls, points, radius: float = 1.0) -> np.ndarray:
    """Paint a round brush of ``radius`` pixels along the polyline ``points`` (radius 0: a 1-pixel line)."""
    return paint(mask, cls, "line", (as_points(points, "points"), number(radius, "radius")), "the stroke")


def fill(mask, cls, at) -> np.ndarray:
    """Flood-fill the 4-connected region of the class under ``at`` with ``cls``."""
    mask, cls = check_mask(mask), class_of(cls)
    r, c = as_pixel(at, mask.shape, "fill: at")
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
    mask = check_mask(mask)
    if isinstance(cls_or_region, np.ndarray):
        hole, what = as_region(cls_or_region, mask.shape, "remove: region"), "removing the region"
    else:
        cls = class_of(cls_or_region)
        hole, what = mask == cls, f"removing {class_name(cls)!r}"
    return _fill(mask, hole, ~hole & (mask != IGNORE), what)


def flip(mask) -> np.ndarray:
    """Mirror left-right."""
    return check_mask(mask)[:, ::-1].copy()


def translate(mask, cls, dy: int, dx: int) -> np.ndarray:
    """Move every pixel of ``cls`` by (dy, dx); the vacated pixels take the nearest other labels.

    Pixels moved outside the mask are dropped with a warning.
    """
    mask, cls = check_mask(mask), class_of(cls)
    dy, dx = number(dy, "dy", None, whole=True), number(dx, "dx", None, whole=True)
    rr, cc = np.nonzero(mask == cls)
    rr, cc = rr + dy, cc + dx
    inside = (rr >= 0) & (rr < mask.shape[0]) & (cc >= 0) & (cc < mask.shape[1])
    if len(rr) and not inside.any():
        raise SettingError(f"translate: moving {class_name(cls)!r} by (dy={dy}, dx={dx}) takes all of it outside the "
                           f"{mask.shape[0]}x{mask.shape[1]} mask")
    out = _fill(mask, mask == cls, (mask != cls) & (mask != IGNORE), f"moving {class_name(cls)!r}")
    if not inside.all():
        warnings.warn(f"translate: {int((~inside).sum())} of {len(rr)} {class_name(cls)!r} pixels moved outside the "
                      "mask and were dropped", stacklevel=2)
    out[rr[inside], cc[inside]] = cls
    return out


def grow(mask, cls, pixels: int) -> np.ndarray:
    """Widen ``cls`` by ``pixels`` (a round brush): it covers whatever lies within that distance of it."""
    mask, cls, n = check_mask(mask), class_of(cls), number(pixels, "pixels", whole=True)
    region, out = mask == cls, mask.copy()
    if region.any() and n > 0:
        out[ndimage.distance_transform_edt(~region) <= n] = cls
    return out


def shrink(mask, cls, pixels: int) -> np.ndarray:
    """Thin ``cls`` by ``pixels`` from its borders with other classes; freed pixels take the neighbours' labels."""
    mask, cls, n = check_mask(mask), class_of(cls), number(pixels, "pixels", whole=True)
    region = mask == cls
    if region.all() or n == 0:
        return mask.copy()
    rim = region & (ndimage.distance_transform_edt(region) <= n)
    return _fill(mask, rim, ~region & (mask != IGNORE), f"shrinking {class_name(cls)!r}")


def resize(mask, size) -> np.ndarray:
    """Nearest-neighbour resize to ``size``: an int (square) or (h, w); ids stay ids."""
    mask = check_mask(mask)
    hw = (size, size) if np.ndim(size) == 0 else size
    if isinstance(size, str) or len(hw) != 2:
        raise SettingError(f"size must be a positive int or an (h, w) pair, got {size!r}")
    h, w = (number(v, "size", 1, whole=True) for v in hw)
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
    ids = np.array([class_of(legend[k]) for k in keys], np.uint8)[np.searchsorted(keys, chars)]
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
    rgb, tol = np.asarray(rgb), number(tol, "snap: tol")
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4) or not rgb.size:
        raise DataError(f"snap: expected a non-empty RGB(A) uint8 image (H, W, 3 or 4), got a {rgb.dtype} array of "
                        f"shape {rgb.shape}")
    table = {**{label.id: label.color for label in LABELS}, IGNORE: (0, 0, 0)} if palette is None else palette
    if not isinstance(table, dict) or not table:
        raise SettingError("palette must be a dict {class name or id: (r, g, b)}")
    ids = np.array([class_of(k) for k in table], np.uint8)
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
                        tuple(int(v) for v in rgb[r, c, :3]), class_name(mask[r, c]))
    return mask, report


# ---------------------------------------------------------------- looking at masks, files
def render(mask, title: str = ""):
    """A matplotlib Figure of the mask in the Cityscapes palette (ignore black) with a legend of its classes."""
    from .figures import plot_mask

    return plot_mask(check_mask(mask), title=title)


def diff(a, b) -> tuple[pd.DataFrame, np.ndarray]:
    """What changed from ``a`` to ``b``: pixel counts per (from, to) class pair, most first, and an RGB overlay.

    The overlay (H, W, 3) uint8 shows ``b``'s colours where the masks differ and ``a`` dimmed elsewhere.
    """
    a, b = check_mask(a, "a"), check_mask(b, "b")
    if a.shape != b.shape:
        raise SettingError(f"diff: the masks differ in shape, {a.shape} and {b.shape}; resize() one of them")
    changed = a != b
    pairs, counts = np.unique(a[changed].astype(np.int64) * 256 + b[changed], return_counts=True)
    table = pd.DataFrame({"from": [class_name(p // 256) for p in pairs], "to": [class_name(p % 256) for p in pairs],
                          "pixels": counts})
    table = table.sort_values("pixels", ascending=False, kind="stable").reset_index(drop=True)
    return table, np.where(changed[..., None], ids_to_colors(b), ids_to_colors(a) // 3)


def changed_region(a, b, grow: int = 2) -> np.ndarray:
    """Boolean (H, W): the pixels where masks ``a`` and ``b`` differ, grown by ``grow`` pixels.

    What local regeneration generates anew (``model.generate(..., init=photo, keep=~region)``).
    """
    a, b = check_mask(a, "a"), check_mask(b, "b")
    if a.shape != b.shape:
        raise DataError(f"the masks differ in size: {a.shape} and {b.shape}")
    changed = a != b
    grow = min(number(grow, "grow", whole=True), sum(a.shape))  # further changes nothing
    return ndimage.binary_dilation(changed, iterations=grow) if grow and changed.any() else changed


def read(path, colors: dict | None = None) -> np.ndarray:
    """Read a mask PNG: train ids (grey or palette PNG) or colours ({id: rgb} ``colors``, default as written), by the
    rules of the one mask reader every command uses (:mod:`semsegdiff.data.mask_files`: 1-bit, 16-bit, palette, RGBA).

    A file whose bytes are not a PNG (a JPEG, whatever its name) is refused: lossy compression changes ids and blurs
    class edges (decode a drawing saved as JPEG and use :func:`snap`).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: mask file not found")
    return check_mask(read_mask(path, colors), str(path))


def write(path, mask, colour: bool = False) -> Path:
    """Write a mask atomically as a PNG of train ids, or with ``colour`` in the palette (ignore black)."""
    mask, path = check_mask(mask), Path(path)
    if path.suffix.lower() != ".png":
        raise SettingError(f"{path}: masks are written as PNG (JPEG would change the ids); use a .png name")
    pixels = torch.from_numpy(ids_to_colors(mask)).permute(2, 0, 1) if colour else torch.from_numpy(mask)[None]
    return write_bytes(path, encode_png(pixels.contiguous()).cpu().numpy().tobytes())
