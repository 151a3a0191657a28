"""Camera geometry, the canvas of one scene and the patch projection every upright object uses.

A pinhole camera one unit above a flat ground plane looks down the road. A ground point at lateral
offset x and inverse depth ``inv_depth = 1 / z`` projects to image row ``horizon + inv_depth`` and
column ``vanish_x + bend(inv_depth) + x * inv_depth`` (coordinates in units of the image height:
rows in [0, 1], columns in [0, aspect], aspect = width / height; the bend curves the road near the
horizon), so anything standing there with height H spans H * inv_depth of the image. A wide frame
is the square view widened: the same focal length, the camera sees more of the road to the sides.
Canvas buffers hold inverse depth, so 0 means infinitely far and larger is nearer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .tables import SKY

_INTERPOLATION: dict = {}  # (pixels, cells) -> bilinear interpolation matrix


@dataclass
class Camera:
    """Horizon row, vanishing-point column and road bend, in units of the image height."""

    horizon: float
    vanish_x: float
    bend: float
    aspect: float = 1.0  # width / height of the image

    def column(self, x, inv_depth):
        """Image column of the ground point at lateral x and the given inverse depth."""
        b = 1 - inv_depth / (1 - self.horizon)
        return self.vanish_x + self.bend * (b * (b > 0)) ** 3 + x * inv_depth

    def nearest_depth(self, x: float) -> float:
        """Nearest depth at which lateral offset x is still inside the image."""
        room = (self.aspect - self.vanish_x) if x > 0 else self.vanish_x
        return max(1 / (1 - self.horizon), abs(x) / max(room, 0.05))

    def horizon_row(self, size: int) -> int:
        """First pixel row below the horizon."""
        return int(np.floor(self.horizon * size - 0.5)) + 1


def noise_lattice(rng: np.random.Generator, cells_y: int, cells_x: int) -> np.ndarray:
    """Random values on the corners of a (cells_y x cells_x) grid, for smooth_noise."""
    return rng.standard_normal((cells_y + 1, cells_x + 1)).astype(np.float32)


def smooth_noise(lattice: np.ndarray, rows: int, cols: int | None = None) -> np.ndarray:
    """Bilinear value noise: a (cy + 1, cx + 1) lattice of random values stretched to (rows, cols or rows)."""
    mats = []
    for size, cells in ((rows, lattice.shape[0] - 1), (rows if cols is None else cols, lattice.shape[1] - 1)):
        if (size, cells) not in _INTERPOLATION:
            x = (np.arange(size) + 0.5) / size * cells
            i = np.minimum(x.astype(int), cells - 1)
            m = np.zeros((size, cells + 1), np.float32)
            m[np.arange(size), i], m[np.arange(size), i + 1] = 1 - (x - i), x - i
            _INTERPOLATION[size, cells] = m
        mats.append(_INTERPOLATION[size, cells])
    return mats[0] @ lattice @ mats[1].T


class Canvas:
    """Image, mask, inverse-depth and glow buffers plus the camera and noise textures of one scene."""

    def __init__(self, height: int, width: int, camera: Camera, pixel_noise: np.ndarray, low_noise: np.ndarray):
        self.size, self.width, self.camera = height, width, camera  # size: pixels per unit of image height
        self.rows = ((np.arange(height) + 0.5) / height).astype(np.float32)  # pixel centres in [0, 1]
        self.cols = ((np.arange(width) + 0.5) / height).astype(np.float32)  # pixel centres in [0, aspect]
        self.horizon_row = camera.horizon_row(height)
        self.image = np.zeros((height, width, 3), np.float32)
        self.mask = np.full((height, width), SKY, np.uint8)
        self.inv_depth = np.zeros((height, width), np.float32)  # 0 = infinitely far
        self.glow = np.zeros((height, width), np.float32)  # 1 = emissive, exempt from night darkening
        self.objects = np.zeros((height, width), np.uint16)  # which upright object painted each pixel (0: none)
        self.object = 0  # the object being drawn (layers.draw_scene numbers them 1, 2, ...)
        self.noise = pixel_noise  # per-pixel standard normal texture
        self.low_noise = low_noise  # smooth large-scale texture

    def column(self, x, inv_depth):
        """Image column of the ground point at lateral x and the given inverse depth."""
        return self.camera.column(x, inv_depth)


# ---------------------------------------------------------------- pixel helpers
def fractional_part(x):
    return x - np.floor(x)


def saturate(x):
    """Clip to [0, 1] (cheaper than np.clip on small arrays)."""
    return np.minimum(np.maximum(x, 0.0), 1.0)


def paint(rgb, where, colour):
    """rgb with colour wherever the mask is set."""
    return np.where(where[..., None], np.asarray(colour, np.float32), rgb)


def segment_distance(px, py, a, b):
    """Distance from points (px, py) to the segment a-b."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    t = saturate(((px - a[0]) * dx + (py - a[1]) * dy) / (dx * dx + dy * dy))
    return np.hypot(px - a[0] - t * dx, py - a[1] - t * dy)


def column_size(s):
    """Metric size of each pixel column along a patch (s: metric coordinate per column)."""
    return np.abs(np.diff(s, append=2 * s[-1] - s[-2])) if s.size > 1 else np.full(1, 9.0)


# ---------------------------------------------------------------- patches
# A shader(s, y, inv_depth, zone) gets the metric coordinate s along the patch per column, the
# height y above ground per pixel, the inverse depth per column and the canvas zone (row and column
# slices); it returns (solid mask or None, class id or id array, rgb, glow or None).

def draw_patch(canvas: Canvas, a: tuple, b: tuple, y_low: float, y_high: float, shader: Callable) -> None:
    """Draw a vertical planar patch standing on ground points a, b = (u, inv_depth, s), heights y_low..y_high.

    Inverse depth is affine in screen space on a plane, so it is interpolated linearly per column and
    the metric coordinate s perspective-correctly. Sub-pixel patches get one column/row. A pixel is
    painted where the shader says solid, within the heights, and no nearer thing was painted there.
    """
    (ua, da, sa), (ub, db, sb) = (a, b) if a[0] <= b[0] else (b, a)
    size, horizon = canvas.size, canvas.camera.horizon
    grow = 1.05 / (min(da, db) * size) - (y_high - y_low)
    if grow > 0:
        y_low, y_high = y_low - grow / 2, y_high + grow / 2
    j0, j1 = math.ceil(ua * size - 0.5), math.ceil(ub * size - 0.5)
    if j1 <= j0:
        j0 = j1 = int((ua + ub) * 0.5 * size)
        j1 += 1
    j0, j1 = max(j0, 0), min(j1, canvas.width)
    if j1 <= j0:
        return
    t = np.minimum(np.maximum((canvas.cols[j0:j1] - ua) / max(ub - ua, 1e-9), 0.0), 1.0)
    inv_depth = da + t * (db - da)
    s = (sa * da + t * (sb * db - sa * da)) / inv_depth
    top = horizon + min(da * (1 - y_high), db * (1 - y_high))  # rows: extremes sit at the patch ends
    bottom = horizon + max(da * (1 - y_low), db * (1 - y_low))
    i0, i1 = max(math.ceil(top * size - 0.5), 0), min(math.ceil(bottom * size - 0.5), size)
    if i1 <= i0:
        return
    zone = (slice(i0, i1), slice(j0, j1))
    y = 1 - (canvas.rows[i0:i1, None] - horizon) / inv_depth
    solid, cls, rgb, glow = shader(s, y, inv_depth, zone)
    draw = (y >= y_low) & (y < y_high) & (inv_depth >= canvas.inv_depth[zone])
    if solid is not None:
        draw &= solid
    canvas.mask[zone] = np.where(draw, cls, canvas.mask[zone])
    canvas.image[zone] = np.where(draw[..., None], rgb, canvas.image[zone])
    canvas.inv_depth[zone] = np.where(draw, inv_depth, canvas.inv_depth[zone])
    canvas.glow[zone] = np.where(draw, 0.0 if glow is None else glow, canvas.glow[zone])
    canvas.objects[zone] = np.where(draw, canvas.object, canvas.objects[zone])


def draw_billboard(canvas: Canvas, x: float, inv_z: float, half_width: float, y_low: float, y_high: float,
                   shader: Callable, min_px: float = 1.5) -> None:
    """Camera-facing patch centred on lateral x, widened to >= min_px pixels (the shader sees s unwidened)."""
    k = max(1.0, min_px / (2 * half_width * inv_z * canvas.size))
    u = canvas.column(x, inv_z)
    draw_patch(canvas, (u - half_width * k * inv_z, inv_z, -half_width * k),
               (u + half_width * k * inv_z, inv_z, half_width * k), y_low, y_high,
               lambda s, y, inv_depth, zone: shader(s / k, y, inv_depth, zone))


def draw_along_road(canvas: Canvas, x: float, z0: float, z1: float, y_low: float, y_high: float,
                    shader: Callable) -> None:
    """Patch parallel to the road at lateral x from depth z0 to z1 (s = depth)."""
    d0, d1 = 1 / z0, 1 / z1
    draw_patch(canvas, (canvas.column(x, d0), d0, z0), (canvas.column(x, d1), d1, z1), y_low, y_high, shader)


def flat_shader(colour, cls, canvas: Canvas, amp: float = 0.06) -> Callable:
    """Shader: solid colour with pixel noise."""
    return lambda s, y, inv_depth, zone: (None, cls, colour * (1 + amp * canvas.noise[zone])[..., None], None)

