"""Procedural dashcam driving scenes with exact 19-class masks (pure numpy, no assets).

Scene model: a pinhole camera one unit above a flat ground plane looks down a road. A ground
point at lateral offset X and inverse depth d = 1/Z projects to image row v = horizon + d and
column u = vanish_x + bend(d) + X*d (coordinates normalised to [0, 1]; ``bend`` curves the road
near the horizon), so anything standing there with height H spans H*d of the image. A scene is
painted in layers: sky (gradient, clouds), ground (road with lane marks, kerb and sidewalk,
terrain verges, computed for all pixels at once from their ground coordinates), a far skyline or
treeline band, then upright objects - buildings, walls, fences, hedges, trees, poles, traffic
lights and signs, vehicles, people - each a vertical planar patch with metric texture coordinates
(windows, wheels and fence bars foreshorten correctly). Objects are drawn far to near with an
inverse-depth test, so near things occlude far ones and the mask is exactly what was painted.
The scene type (urban / suburban / highway / rural) sets the mix; time of day, weather, haze,
exposure, optics blur and sensor noise touch the image only. Sizes are in camera-height units.
"""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
from scipy import ndimage
from tqdm.auto import tqdm

from ..labels import IGNORE, NUM_CLASSES
from .formats import write_bdd100k

(ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY,
 PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE) = range(NUM_CLASSES)  # labels.py order

# ----------------------------------------------------------------------------------------------
# Frequencies (tuned on 2000 scenes towards BDD100K class statistics) and appearance tables.
# p_*: probability (per road side for side features), n_*: Poisson mean per scene, (lo, hi): range.
# ----------------------------------------------------------------------------------------------
SCENE_TYPES = ("urban", "suburban", "highway", "rural")
SCENE_P = (0.42, 0.28, 0.15, 0.15)
TIMES, TIME_P = ("day", "dusk", "night"), (0.62, 0.13, 0.25)
WEATHERS, WEATHER_P = ("clear", "cloudy", "overcast", "rain", "fog"), (0.45, 0.22, 0.16, 0.09, 0.08)
MIX = {
    "urban": dict(lanes=(2, 3), two_way=0.75, parking=0.7, sidewalk=(0.95, 0.8, 1.8),
                  field=((SIDEWALK, 0.92), (TERRAIN, 0.08)), p_build=0.93, setback=(0.0, 0.4),
                  bld_h=(4.0, 15.0), bld_gap=0.2, p_trees=0.35, tree_gap=(5, 11), p_hedge=0.03,
                  p_wall=0.16, p_fence=0.14, p_lamps=0.4, n_cars=6.5, n_parked=3.5, n_trucks=0.22,
                  n_bus=0.25, p_tram=0.03, p_train=0.0, n_people=1.6, p_cross=0.7, p_lights=0.8,
                  n_signs=1.4, p_bike=0.11, p_moto=0.06, p_skyline=0.9, p_treeline=0.3),
    "suburban": dict(lanes=(2, 2), two_way=0.95, parking=0.3, sidewalk=(0.6, 0.4, 0.8),
                     field=((TERRAIN, 0.4), (VEGETATION, 0.4), (SIDEWALK, 0.2)), p_build=0.8,
                     setback=(1.0, 3.5), bld_h=(2.2, 4.0), bld_gap=0.6, p_trees=0.85, tree_gap=(3, 8),
                     p_hedge=0.25, p_wall=0.15, p_fence=0.25, p_lamps=0.3, n_cars=4.5, n_parked=2.0,
                     n_trucks=0.22, n_bus=0.08, p_tram=0.0, p_train=0.015, n_people=0.5, p_cross=0.3,
                     p_lights=0.35, n_signs=1.0, p_bike=0.09, p_moto=0.04, p_skyline=0.2, p_treeline=0.8),
    "highway": dict(lanes=(3, 4), two_way=0.0, parking=0.0, sidewalk=(0.0, 0.0, 0.0),
                    field=((TERRAIN, 0.55), (VEGETATION, 0.45)), p_build=0.1, setback=(4.0, 8.0),
                    bld_h=(3.0, 8.0), bld_gap=0.7, p_trees=0.65, tree_gap=(2, 6), p_hedge=0.1,
                    p_wall=0.35, p_fence=0.35, p_lamps=0.25, n_cars=7.0, n_parked=0.0, n_trucks=0.8,
                    n_bus=0.08, p_tram=0.0, p_train=0.0, n_people=0.05, p_cross=0.0, p_lights=0.0,
                    n_signs=1.5, p_bike=0.0, p_moto=0.05, p_skyline=0.25, p_treeline=0.7),
    "rural": dict(lanes=(2, 2), two_way=1.0, parking=0.0, sidewalk=(0.05, 0.4, 0.7),
                  field=((TERRAIN, 0.7), (VEGETATION, 0.3)), p_build=0.25, setback=(2.0, 6.0),
                  bld_h=(2.2, 4.5), bld_gap=0.85, p_trees=0.8, tree_gap=(2, 8), p_hedge=0.2,
                  p_wall=0.12, p_fence=0.3, p_lamps=0.12, n_cars=2.0, n_parked=0.0, n_trucks=0.35,
                  n_bus=0.04, p_tram=0.0, p_train=0.08, n_people=0.3, p_cross=0.0, p_lights=0.1,
                  n_signs=1.0, p_bike=0.03, p_moto=0.03, p_skyline=0.0, p_treeline=0.95),
}
CAR_RGB = ((235, 235, 235), (176, 178, 183), (100, 102, 108), (28, 28, 32), (30, 45, 105),
           (45, 85, 170), (165, 25, 25), (105, 20, 28), (40, 90, 60), (190, 175, 140),
           (225, 185, 40), (205, 95, 30))
TRUCK_RGB = ((232, 232, 228), (200, 200, 195), (40, 70, 140), (160, 30, 30), (50, 110, 60), (220, 130, 40))
BUS_RGB = ((232, 190, 40), (190, 35, 30), (232, 232, 226), (40, 90, 170), (60, 140, 80))
TRAIN_RGB = ((226, 226, 220), (200, 40, 35), (236, 196, 52), (60, 110, 170))
WALL_RGB = ((150, 78, 58), (118, 60, 46), (152, 150, 145), (118, 118, 115), (218, 202, 168),
            (232, 222, 198), (208, 208, 204), (192, 166, 122), (180, 150, 150), (150, 170, 160))
GLASS_RGB = ((45, 55, 70), (62, 78, 98), (35, 40, 46), (80, 96, 112))
ROOF_RGB = ((95, 45, 40), (70, 70, 75), (110, 80, 60), (60, 62, 70))
FOLIAGE_RGB = ((48, 88, 36), (62, 106, 40), (36, 72, 32), (82, 116, 50), (96, 122, 46), (40, 82, 56))
AUTUMN_RGB = ((170, 110, 30), (182, 72, 30), (200, 160, 52), (140, 62, 32))
TERRAIN_RGB = ((92, 124, 56), (114, 134, 62), (140, 132, 78), (128, 100, 74), (144, 138, 126))
PAVE_RGB = ((168, 166, 160), (188, 184, 172), (150, 148, 146), (196, 186, 160), (160, 142, 130))
BARRIER_RGB = ((160, 158, 150), (130, 122, 108), (150, 80, 60), (200, 196, 186))
FENCE_RGB = ((60, 62, 64), (40, 70, 50), (140, 104, 70), (170, 172, 175))
CLOTHES_RGB = ((30, 30, 35), (205, 205, 205), (40, 60, 120), (150, 30, 30), (60, 100, 60),
               (200, 170, 60), (95, 62, 40), (230, 120, 140), (70, 130, 190), (120, 120, 122))
SKIN_RGB = ((238, 198, 168), (202, 152, 112), (142, 96, 66), (92, 62, 42))
POLE_RGB = ((122, 124, 127), (86, 89, 93), (45, 55, 48), (105, 90, 70))
SKY_RGB = {"day": ((62, 112, 192), (178, 204, 232), (246, 246, 250)),  # zenith, horizon, cloud
           "dusk": ((72, 70, 128), (252, 150, 92), (240, 162, 150)),
           "night": ((3, 5, 14), (26, 26, 40), (34, 34, 44))}
OVERCAST_RGB = ((140, 146, 154), (196, 198, 203), (212, 214, 217))
TAIL_RGB, HEAD_RGB, LAMP_RGB = (235, 30, 25), (255, 248, 222), (255, 226, 160)
SIGNAL_RGB = ((235, 40, 35), (245, 172, 30), (40, 232, 122))  # red, amber, green
SIGN_SHAPES = ("circle", "blue", "tri", "rect", "diamond", "stop", "back")

_CACHE: dict = {}


# ---------------------------------------------------------------- small helpers
def _frac(x):
    return x - np.floor(x)


def _col(rng, table, jitter=10.0) -> np.ndarray:
    """Random entry of a colour table with per-channel jitter."""
    return np.asarray(table[rng.integers(len(table))], np.float32) + rng.normal(0, jitter, 3).astype(np.float32)


def _sat(x):
    """Clip to [0, 1] (cheaper than np.clip on small arrays)."""
    return np.minimum(np.maximum(x, 0.0), 1.0)


def _paint(rgb, cond, colour):
    return np.where(cond[..., None], np.asarray(colour, np.float32), rgb)


def _logu(rng, lo, hi):
    return lo * (hi / lo) ** rng.random() if hi > lo else hi


def _smooth_noise(rng, size, cy, cx):
    """Bilinear value noise on a (cy x cx) lattice, via cached interpolation matrices."""
    mats = []
    for c in (cy, cx):
        if (size, c) not in _CACHE:
            x = (np.arange(size) + 0.5) / size * c
            i = np.minimum(x.astype(int), c - 1)
            m = np.zeros((size, c + 1), np.float32)
            m[np.arange(size), i], m[np.arange(size), i + 1] = 1 - (x - i), x - i
            _CACHE[size, c] = m
        mats.append(_CACHE[size, c])
    return mats[0] @ rng.standard_normal((cy + 1, cx + 1)).astype(np.float32) @ mats[1].T


def _step(s):
    """Metric size of one pixel column along a patch (per column)."""
    return np.abs(np.diff(s, append=2 * s[-1] - s[-2])) if s.size > 1 else np.full(1, 9.0)


def _seg(px, py, a, b):
    """Distance from points (px, py) to segment a-b."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    t = _sat(((px - a[0]) * dx + (py - a[1]) * dy) / (dx * dx + dy * dy))
    return np.hypot(px - a[0] - t * dx, py - a[1] - t * dy)


class _Canvas:
    """Image, mask, inverse-depth and glow buffers plus the camera of one scene."""

    def __init__(self, rng, size, env):
        self.size, self.h, self.vx, self.bend = size, env.h, env.vx, env.bend
        self.c = ((np.arange(size) + 0.5) / size).astype(np.float32)
        self.ih = int(np.floor(env.h * size - 0.5)) + 1  # first row below the horizon
        self.img = np.zeros((size, size, 3), np.float32)
        self.mask = np.full((size, size), SKY, np.uint8)
        self.depth = np.zeros((size, size), np.float32)  # inverse depth, 0 = infinitely far
        self.glow = np.zeros((size, size), np.float32)  # 1 = emissive, exempt from night darkening
        self.noise = rng.standard_normal((size, size)).astype(np.float32)
        self.low = _smooth_noise(rng, size, 6, 6)

    def u(self, x, d):
        """Image column of the ground point at lateral x, inverse depth d."""
        b = 1 - d / (1 - self.h)
        return self.vx + self.bend * (b * (b > 0)) ** 3 + x * d


def _patch(cv: "_Canvas", a: tuple, b: tuple, ylo: float, yhi: float, shader: Callable) -> None:
    """Draw a vertical planar patch standing on ground points a, b = (u, d, s), heights ylo..yhi.

    d (inverse depth) is affine in screen space on a plane, so it is interpolated linearly per
    column and the metric coordinate s perspective-correctly. shader(s, y, d, zone) returns
    (solid mask or None, class id or id array, rgb, glow or None). Sub-pixel patches get one column/row.
    """
    (ua, da, sa), (ub, db, sb) = (a, b) if a[0] <= b[0] else (b, a)
    S = cv.size
    grow = 1.05 / (min(da, db) * S) - (yhi - ylo)
    if grow > 0:
        ylo, yhi = ylo - grow / 2, yhi + grow / 2
    j0, j1 = math.ceil(ua * S - 0.5), math.ceil(ub * S - 0.5)
    if j1 <= j0:
        j0 = j1 = int((ua + ub) * 0.5 * S)
        j1 += 1
    j0, j1 = max(j0, 0), min(j1, S)
    if j1 <= j0:
        return
    t = np.minimum(np.maximum((cv.c[j0:j1] - ua) / max(ub - ua, 1e-9), 0.0), 1.0)
    d = da + t * (db - da)
    s = (sa * da + t * (sb * db - sa * da)) / d
    top = cv.h + min(da * (1 - yhi), db * (1 - yhi))  # rows: extremes sit at the patch ends
    bot = cv.h + max(da * (1 - ylo), db * (1 - ylo))
    i0, i1 = max(math.ceil(top * S - 0.5), 0), min(math.ceil(bot * S - 0.5), S)
    if i1 <= i0:
        return
    zone = (slice(i0, i1), slice(j0, j1))
    y = 1 - (cv.c[i0:i1, None] - cv.h) / d
    solid, cls, rgb, glow = shader(s, y, d, zone)
    draw = (y >= ylo) & (y < yhi) & (d >= cv.depth[zone])
    if solid is not None:
        draw &= solid
    cv.mask[zone] = np.where(draw, cls, cv.mask[zone])
    cv.img[zone] = np.where(draw[..., None], rgb, cv.img[zone])
    cv.depth[zone] = np.where(draw, d, cv.depth[zone])
    cv.glow[zone] = np.where(draw, 0.0 if glow is None else glow, cv.glow[zone])


def _billboard(cv: "_Canvas", x: float, d: float, hw: float, ylo: float, yhi: float, shader: Callable,
               min_px: float = 1.5) -> None:
    """Camera-facing patch centred on lateral x, widened to >= min_px pixels (shader sees s unwidened)."""
    k = max(1.0, min_px / (2 * hw * d * cv.size))
    u = cv.u(x, d)
    _patch(cv, (u - hw * k * d, d, -hw * k), (u + hw * k * d, d, hw * k), ylo, yhi,
           lambda s, y, dd, zone: shader(s / k, y, dd, zone))


def _along(cv: "_Canvas", x: float, z0: float, z1: float, ylo: float, yhi: float, shader: Callable) -> None:
    """Patch parallel to the road at lateral x from depth z0 to z1 (s = depth)."""
    d0, d1 = 1 / z0, 1 / z1
    _patch(cv, (cv.u(x, d0), d0, z0), (cv.u(x, d1), d1, z1), ylo, yhi, shader)


def _flat(colour, cls, cv, amp=0.06):
    """Shader: solid colour with pixel noise."""
    return lambda s, y, d, zone: (None, cls, colour * (1 + amp * cv.noise[zone])[..., None], None)


# ---------------------------------------------------------------- scene sampling
def _sample_env(rng: np.random.Generator) -> SimpleNamespace:
    """Scene type, camera (horizon, vanishing point, bend), lanes, kerbs, intersection, lighting."""
    kind = SCENE_TYPES[rng.choice(4, p=SCENE_P)]
    m = MIX[kind]
    env = SimpleNamespace(kind=kind, m=m, h=rng.uniform(0.38, 0.56), vx=0.5 + rng.normal(0, 0.05))
    env.bend = rng.uniform(-0.2, 0.2) if rng.random() < 0.3 else 0.0
    env.time = TIMES[rng.choice(3, p=TIME_P)]
    env.weather = WEATHERS[rng.choice(5, p=WEATHER_P)]
    n = int(rng.integers(m["lanes"][0], m["lanes"][1] + 1))
    lw = rng.uniform(1.2, 1.45)
    env.n_on = n // 2 if rng.random() < m["two_way"] else 0  # oncoming lanes, on the left
    ego = int(rng.integers(env.n_on, n))
    env.lanes = [((k - ego) * lw, k < env.n_on) for k in range(n)]
    park = [rng.random() < m["parking"] for _ in range(2)]
    env.park = [-(ego + 0.5) * lw - 0.55, (n - ego - 0.5) * lw + 0.55]
    env.road = (-(ego + 0.5) * lw - 1.1 * park[0], (n - ego - 0.5) * lw + 1.1 * park[1])
    env.parked = park
    p_sw, lo, hi = m["sidewalk"]
    env.sw = [rng.uniform(lo, hi) if rng.random() < p_sw else 0.0 for _ in range(2)]
    classes, probs = zip(*m["field"])
    env.field = [classes[rng.choice(len(classes), p=probs)] for _ in range(2)]
    env.cross = None
    if rng.random() < m["p_lights"]:
        z0 = _logu(rng, 7, 30)
        env.cross = (z0, z0 + rng.uniform(3.5, 6.5), rng.random() < 0.75)  # zebra crossing?
    env.tram = rng.random() < m["p_tram"]
    env.sun = 1 if rng.random() < 0.5 else -1
    marks = []
    for k in range(1, n):
        xb = env.lanes[k][0] - lw / 2
        if k == env.n_on:
            marks += [(xb - 0.09, 0.09, False, (220, 180, 50)), (xb + 0.09, 0.09, False, (220, 180, 50))]
        else:
            marks.append((xb, 0.1, True, (222, 222, 212)))
    if rng.random() < 0.6:
        marks += [(env.road[0] + 0.2, 0.1, False, (222, 222, 212)), (env.road[1] - 0.2, 0.1, False, (222, 222, 212))]
    env.marks = marks
    return env


def _zmin(env: SimpleNamespace, x: float) -> float:
    """Nearest depth at which lateral offset x is still inside the image."""
    room = (1 - env.vx) if x > 0 else env.vx
    return max(1 / (1 - env.h), abs(x) / max(room, 0.05))


def _free(env: SimpleNamespace, z0: float, z1: float) -> bool:
    """True when depths z0..z1 do not overlap the cross street."""
    c = env.cross
    return c is None or z1 < c[0] - 0.3 or z0 > c[1] + 0.3


def _plan(rng: np.random.Generator, env: SimpleNamespace) -> list:
    """All upright objects as (inverse depth, draw function, args), to be drawn far to near."""
    items, m = [], env.m

    def add(z, fn, *args):
        items.append((1.0 / z, fn, args))

    for sg in (-1, 1):
        _plan_side(rng, env, sg, add)
    # vehicles in lanes
    occupied = {k: [] for k in range(len(env.lanes))}
    kinds = (["tram"] * env.tram + ["bus"] * rng.poisson(m["n_bus"]) + ["truck"] * rng.poisson(m["n_trucks"])
             + ["car"] * rng.poisson(m["n_cars"]))
    for kind in kinds:
        for _ in range(4):
            k = int(rng.integers(len(env.lanes))) if kind != "tram" else len(env.lanes) - 1
            x, oncoming = env.lanes[k]
            st = _vehicle_style(rng, kind, oncoming)
            z = _logu(rng, 3.2 + 1.8 * (x == 0) if kind == "car" else 5.0, 35.0 if kind == "car" else 30.0)
            if all(z + st["L"] + 1 < a or z > b + 1 for a, b in occupied[k]):
                occupied[k].append((z, z + st["L"]))
                add(z, _draw_vehicle, x + rng.normal(0, 0.1), z, st)
                break
    for sg, x, parked in zip((-1, 1), env.park, env.parked):
        z = _zmin(env, x) * rng.uniform(0.4, 1.0)
        for _ in range(rng.poisson(m["n_parked"]) if parked else 0):
            st = _vehicle_style(rng, "car", sg < 0 and env.n_on > 0)
            z += rng.uniform(0.3, 6.0)
            if _free(env, z, z + st["L"]):
                add(z, _draw_vehicle, x, z, st)
            z += st["L"]
    # people, cycles, trains
    sides = [sg for sg in (-1, 1) if env.sw[sg > 0] > 0] or [1]
    for _ in range(rng.poisson(m["n_people"])):
        crossing = env.cross is not None and env.cross[2] and rng.random() < 0.3
        if crossing:
            z = env.cross[0] - 1.2 + rng.normal(0, 0.25)
            x = rng.uniform(env.road[0] + 0.3, env.road[1] - 0.3)
        else:
            sg = sides[rng.integers(len(sides))]
            x = sg * (abs(env.road[sg > 0]) + rng.uniform(0.2, max(env.sw[sg > 0], 0.5) - 0.1))
            z = _logu(rng, max(2.5, 0.8 * _zmin(env, x)), 40)
        add(z, _draw_person, x, z, _person_style(rng, crossing))
    for moto in (False, True):
        if rng.random() < m["p_moto" if moto else "p_bike"]:
            ridden = moto or rng.random() < 0.25
            if ridden:
                x = env.lanes[-1][0] + (rng.uniform(-0.3, 0.3) if moto else 0.55)
            else:
                x = env.road[1] + min(0.3, env.sw[1] * 0.5)
            z = _logu(rng, max(3.0, 0.8 * _zmin(env, x)), 30)
            f = rng.uniform(0.4, 0.8) if ridden else rng.uniform(0.5, 1.0)
            add(z, _draw_cycle, x, z, dict(moto=moto, rider=_person_style(rng, False) if ridden else None,
                                           f=f * rng.choice((-1, 1)), rgb=_col(rng, CAR_RGB if moto else CLOTHES_RGB)))
    if rng.random() < m["p_train"]:
        z = _logu(rng, 14, 40)
        add(z, _draw_train, z, dict(rgb=_col(rng, TRAIN_RGB), car=rng.uniform(9, 14), off=rng.uniform(0, 10)))
    # traffic lights at the intersection, signs
    if env.cross is not None:
        z = env.cross[0] - 0.4
        for sg in (-1, 1):
            x = env.road[sg > 0] + sg * 0.3
            st = dict(H=rng.uniform(3.2, 4.0), rgb=_col(rng, POLE_RGB[:3]), lit=int(rng.integers(3)),
                      arm=None, back=sg < 0 and rng.random() < 0.5)
            if sg > 0 and rng.random() < 0.6:
                st["H"] = rng.uniform(4.5, 5.5)
                st["arm"] = [lx for lx, onc in env.lanes if not onc][-2:]
            add(z, _draw_signal, x, z, st)
    for _ in range(rng.poisson(m["n_signs"])):
        sg = 1 if rng.random() < 0.75 else -1
        x = env.road[sg > 0] + sg * rng.uniform(0.25, 0.8)
        z = _logu(rng, max(3.0, 0.9 * _zmin(env, x)), 35)
        shape = SIGN_SHAPES[rng.choice(7, p=(0.24, 0.14, 0.16, 0.2, 0.1, 0.06, 0.1))]
        big = env.kind == "highway" and shape == "rect"
        add(z, _draw_sign, x, z, dict(shape=shape, R=rng.uniform(1.0, 1.6) if big else rng.uniform(0.25, 0.4),
                                      y=rng.uniform(3.5, 4.5) if big else rng.uniform(1.6, 2.6),
                                      pole=_col(rng, POLE_RGB[:2]), green=rng.random() < 0.7))
    return items


def _plan_side(rng: np.random.Generator, env: SimpleNamespace, sg: int, add: Callable) -> None:
    """Buildings, barriers, trees and lamp posts along one side of the road (sg = -1 left, +1 right)."""
    m, edge, sw = env.m, abs(env.road[sg > 0]), env.sw[sg > 0]
    base = edge + sw
    if rng.random() < m["p_build"]:
        x0 = base + rng.uniform(*m["setback"])
        z = max(1.0, _zmin(env, x0) * rng.uniform(0.4, 1.0))
        while z < 60:
            length = rng.uniform(3.0, 12.0) * max(1.0, z / 15)
            if not _free(env, z, z + length):
                z = env.cross[1] + 0.4
                continue
            add(z, _draw_building, sg, x0 + rng.uniform(0, 0.8) * (rng.random() < 0.4), z, z + length,
                _building_style(rng, env, sg))
            z += length + (rng.uniform(1.0, 6.0) if rng.random() < m["bld_gap"] else 0.0)
    for kind in ("wall", "fence", "hedge"):
        if rng.random() < m["p_" + kind]:
            x = base + (rng.uniform(0.05, 0.4) if sw or env.kind != "highway" else 0.3)
            z0 = max(1.5, _zmin(env, x) * rng.uniform(0.5, 1.5))
            z1 = z0 + rng.uniform(8, 45)
            if env.cross is not None and z0 < env.cross[0] < z1:
                z1 = env.cross[0] - 0.3
            style = int(rng.integers(4)) if kind == "fence" else 0
            table = dict(hedge=FOLIAGE_RGB, wall=BARRIER_RGB, fence=FENCE_RGB[style:style + 1])[kind]
            st = dict(kind=kind, H=rng.uniform(0.5, 1.5) if kind != "fence" else rng.uniform(0.7, 1.6),
                      rgb=_col(rng, table), style=style)
            if env.kind == "highway":
                st.update(H=0.65 if kind == "wall" else 0.55, style=3 if kind == "fence" else 0,
                          rgb=st["rgb"] if kind != "fence" else _col(rng, FENCE_RGB[3:]))
            add(z0, _draw_barrier, sg * x, z0, z1, st)
    if rng.random() < m["p_trees"]:
        street = env.kind == "urban" and sw > 0.5
        z = _zmin(env, base + 1) * rng.uniform(0.4, 1.2)
        while z < 50:
            x = edge + sw * 0.5 if street else base + rng.uniform(0.4, 3.0)
            if _free(env, z, z):
                add(z, _draw_tree, sg * x, z, _tree_style(rng, env))
            z += rng.uniform(*m["tree_gap"]) * max(1.0, z / 12)  # sparser far away (treeline fills in)
    if rng.random() < m["p_lamps"]:
        x = edge + (0.25 if sw or env.kind != "highway" else 0.5)
        z, rgb, h = _zmin(env, x) * rng.uniform(0.5, 1.3), _col(rng, POLE_RGB), rng.uniform(5.0, 7.0)
        gap = rng.uniform(12, 22)
        while z < 45:
            if _free(env, z, z):
                add(z, _draw_lamp, sg, sg * x, z, dict(H=h, rgb=rgb, arm=rng.uniform(0.8, 1.8)))
            z += gap


# ---------------------------------------------------------------- styles
def _building_style(rng, env, sg) -> dict:
    """Wall/glass colours, window grid, roof (houses), lit windows at night, face shading."""
    house = env.kind != "urban"
    glassy = not house and rng.random() < 0.15
    st = dict(H=rng.uniform(*env.m["bld_h"]), wall=_col(rng, GLASS_RGB if glassy else WALL_RGB, 14),
              glass=_col(rng, GLASS_RGB, 8) * (0.9 if glassy else 1.0), floor=rng.uniform(1.8, 2.4),
              ww=rng.uniform(2.4, 3.6) if house else rng.uniform(1.4, 2.6),
              fx=0.85 if glassy else rng.uniform(0.3, 0.6), fy=0.8 if glassy else rng.uniform(0.4, 0.6),
              shop=not house and rng.random() < 0.5, roof=_col(rng, ROOF_RGB) if house else None,
              lit=rng.uniform(0.1, 0.5) if env.time == "night" else 0.0, depth=rng.uniform(4, 10))
    lit_side = 1.0 if env.weather in ("overcast", "rain", "fog") else (1.05 if sg == env.sun else 0.72)
    st["shade"] = (lit_side, 0.88)
    if glassy:
        st["wall"], st["glass"] = _col(rng, ((70, 72, 76), (40, 42, 46))), st["wall"] * 1.3
    return st


def _vehicle_style(rng, kind, oncoming) -> dict:
    """Size (W, H, L), body/cab/glass colours and facing of a car, truck, bus or tram."""
    car = kind == "car"
    h = dict(car=rng.uniform(0.95, 1.25), truck=rng.uniform(2.2, 2.8), bus=2.3, tram=2.5)[kind]
    table = dict(car=CAR_RGB, truck=TRUCK_RGB, bus=BUS_RGB, tram=TRAIN_RGB)[kind]
    return dict(kind=kind, front=oncoming, H=h, W=rng.uniform(1.05, 1.25) if car else 1.6,
                L=dict(car=rng.uniform(3.0, 3.6), truck=rng.uniform(6, 11), bus=rng.uniform(8.5, 11),
                       tram=rng.uniform(14, 20))[kind], belt=rng.uniform(0.5, 0.6), rgb=_col(rng, table),
                cab=_col(rng, TRUCK_RGB), glass=_col(rng, GLASS_RGB, 6) * 0.7, Hc=rng.uniform(1.7, 2.0))


def _tree_style(rng, env) -> dict:
    """Trunk, crown radius, foliage colour (autumn sometimes) and crown blobs."""
    r = rng.uniform(1.0, 2.4) * (1.3 if env.kind == "rural" else 1.0)
    k = int(rng.integers(3, 6))
    leaf = _col(rng, AUTUMN_RGB if rng.random() < 0.12 else FOLIAGE_RGB, 12)
    return dict(R=r, th=rng.uniform(1.0, 2.6), tw=rng.uniform(0.15, 0.3), leaf=leaf,
                bark=_col(rng, ((80, 64, 50), (100, 92, 82))), conifer=env.kind == "rural" and rng.random() < 0.3,
                blobs=rng.uniform((-0.55, -0.45, 0.45), (0.55, 0.5, 0.7), (k, 3)).T * r)


def _person_style(rng, crossing) -> dict:
    """Height (children sometimes), clothes, skin, hair and gait."""
    return dict(H=rng.uniform(1.1, 1.35) if rng.random() > 0.1 else rng.uniform(0.75, 0.95),
                top=_col(rng, CLOTHES_RGB), legs=_col(rng, CLOTHES_RGB[:4] + CLOTHES_RGB[6:7]),
                skin=_col(rng, SKIN_RGB, 6), hair=_col(rng, ((25, 20, 18), (80, 55, 35), (160, 130, 80))),
                stride=rng.uniform(0.08, 0.2) if crossing else rng.uniform(0.0, 0.06), side=crossing)


# ---------------------------------------------------------------- object drawing
def _draw_building(cv, sg, xb, z0, z1, st):
    """Facade along the road from z0 to z1 at lateral sg*xb, then its face towards the camera at z0."""
    x, d0 = sg * xb, 1 / z0
    _along(cv, x, z0, z1, 0, st["H"], _facade(cv, st, st["shade"][0]))
    _patch(cv, (cv.u(x, d0), d0, xb), (cv.u(sg * (xb + st["depth"]), d0), d0, xb + st["depth"]), 0, st["H"],
           _facade(cv, st, st["shade"][1]))


def _facade(cv, st, shade):
    """Wall with a window grid; windows fade to their mean where the grid period is under ~3 px."""
    def shader(s, y, d, zone):
        ds = _step(s)
        w = _sat(st["ww"] / (3 * ds) - 0.5) * _sat(st["floor"] * d * cv.size / 3 - 0.5)
        fx, fy = _frac(s / st["ww"]), _frac(y / st["floor"])
        win = (np.abs(fx - 0.5) < st["fx"] / 2) & (np.abs(fy - 0.55) < st["fy"] / 2)
        if st["shop"]:
            win = np.where(y < st["floor"], (np.abs(fx - 0.5) < 0.42) & (y > 0.25) & (y < st["floor"] * 0.85), win)
        top = st["H"] - (0.7 if st["roof"] is not None else 0.25)
        win &= y < top - 0.1
        a = (win * w + st["fx"] * st["fy"] * (1 - w) * (y < top - 0.1))[..., None]
        wall = st["wall"] * (shade * (1 + 0.05 * cv.noise[zone] + 0.06 * cv.low[zone]))[..., None]
        glass = st["glass"] * (1 + 0.25 * _frac(s * 0.37)[None, :, None])
        rgb = wall * (1 - a) + glass * a
        rgb = _paint(rgb, y >= top, st["wall"] * 0.7 * shade if st["roof"] is None else st["roof"] * shade)
        glow = None
        if st["lit"]:
            cell = np.floor(s / st["ww"]) * 12.99 + np.floor(y / st["floor"]) * 78.23
            lit = win & (_frac(np.sin(cell) * 43758.5) < st["lit"])  # hashed per window
            rgb, glow = _paint(rgb, lit, LAMP_RGB), lit * 1.0
        return None, BUILDING, rgb, glow
    return shader


def _draw_barrier(cv, x, z0, z1, st):
    """Wall (blocks), hedge (ragged leafy top) or fence: 0 bars, 1 mesh, 2 slats, 3 guard rail."""
    kind, rgb, H = st["kind"], st["rgb"], st["H"]

    def shader(s, y, d, zone):
        n = cv.noise[zone]
        ds = _step(s)
        if kind == "hedge":
            solid = y < H * (1 - 0.1 * np.abs(n))
            return solid, VEGETATION, rgb * (0.8 + 0.22 * n + 0.15 * y / H)[..., None], None
        if kind == "wall":
            joint = (_frac(y / 0.3) < 0.12) & (d * cv.size * 0.3 > 3)
            shade = 1 + 0.05 * n - 0.12 * joint + 0.15 * (y > H - 0.08)
            return None, WALL, rgb * shade[..., None], None
        style = st["style"]
        if style == 3:  # guard rail: a band and posts
            solid = (np.abs(y - 0.45) < 0.09) | ((_frac(s / 2.0) < 0.06) | (ds > 0.5))[None, :] & (y < 0.45)
            return solid, FENCE, rgb * (1 + 0.1 * n + 0.2 * (y > 0.45))[..., None], None
        rail = (y > H - 0.08) | (np.abs(y - 0.15) < 0.04)
        bars = (_frac(s / 0.25) < 0.35) & (ds < 0.12)
        post = _frac(s / 2.5) < 0.06
        if style == 0:  # bars: background shows between them (mesh look where bars are sub-pixel)
            far = (ds >= 0.12)[None, :] & ~rail  # bars under a pixel: see-through blend
            col = rgb * (1 + 0.08 * n)[..., None]
            col = np.where(far[..., None], 0.5 * (col + cv.img[zone]), col)
            return rail | (bars | post | (ds >= 0.12))[None, :], FENCE, col, None
        if style == 1:  # chain-link mesh: whole area is fence, half-transparent
            behind = cv.img[zone]
            net = 0.45 + 0.2 * ((_frac((s[None, :] + y) / 0.12) < 0.3) & (d[None, :] * cv.size * 0.12 > 2))
            col = np.where((rail | post[None, :])[..., None], rgb, behind * (1 - net[..., None]) + rgb * net[..., None])
            return None, FENCE, col, None
        gaps = (_frac(s / 0.18) < 0.12) & (ds < 0.06)
        return None, FENCE, rgb * (1 + 0.08 * n - 0.3 * gaps[None, :])[..., None], None
    _along(cv, x, z0, z1, 0, H, shader)


def _draw_tree(cv, x, z, st):
    """Trunk plus a lumpy (or conical) crown with leafy noise."""
    d, r, th = 1 / z, st["R"], st["th"]
    hw = st["tw"] / 2
    _billboard(cv, x, d, hw, 0, th + 0.3 * r, lambda s, y, dd, zone: (
        None, VEGETATION, st["bark"] * (0.7 + 0.3 * (1 - (s / hw) ** 2) + 0.06 * cv.noise[zone])[..., None], None), 1.0)
    yc = th + 0.8 * r
    bx, by, br = st["blobs"]

    def crown(s, y, dd, zone):
        n = cv.noise[zone]
        if st["conifer"]:
            f = 1 - np.abs(s)[None, :] / np.maximum(0.5 * (yc + 1.15 * r - y), 1e-3)
        else:
            f = np.max(1 - ((s[None, None, :] - bx[:, None, None]) ** 2
                            + (y[None] - yc - by[:, None, None]) ** 2) / br[:, None, None] ** 2, axis=0)
        solid = (f + 0.18 * n > 0.12) if r * dd.max() * cv.size > 2.5 else None
        shade = 0.6 + 0.4 * _sat(f) + 0.15 * n + 0.12 * (y - yc) / r
        return solid, VEGETATION, st["leaf"] * shade[..., None], None
    _billboard(cv, x, d, 1.25 * r, yc - 1.15 * r, yc + 1.15 * r, crown, 2.0)


def _pole_shader(cv, rgb, hw):
    """Shader: cylinder-shaded pole of half-width hw."""
    return lambda s, y, d, zone: (
        None, POLE, rgb * (0.75 + 0.35 * (1 - (s / hw) ** 2) + 0.05 * cv.noise[zone])[..., None], None)


def _draw_lamp(cv, sg, x, z, st):
    """Street lamp: pole, arm over the road and a lamp head that glows at night."""
    d, H, xe = 1 / z, st["H"], x - sg * st["arm"]
    _billboard(cv, x, d, 0.05, 0, H, _pole_shader(cv, st["rgb"], 0.05), 1.0)
    u0, u1 = cv.u(x, d), cv.u(xe, d)
    _patch(cv, (u0, d, 0.0), (u1, d, 1.0), H - 0.1, H, _flat(st["rgb"], POLE, cv))
    def head(s, y, dd, zone):
        bulb = y < H - 0.14
        return None, POLE, _paint(np.broadcast_to(st["rgb"], y.shape + (3,)), bulb, LAMP_RGB), bulb * 1.0
    _billboard(cv, xe, d, 0.28, H - 0.22, H - 0.02, head, 1.0)


def _draw_signal(cv, x, z, st):
    """Traffic-light pole with a box on top, or a mast arm with boxes hanging over the lanes."""
    d, H = 1 / z, st["H"]
    _billboard(cv, x, d, 0.06, 0, H, _pole_shader(cv, st["rgb"], 0.06), 1.0)
    boxes = [(x, H - 0.1)] if st["arm"] is None else [(lx, H - 0.95) for lx in st["arm"]]
    if st["arm"] is not None:
        xe = min(st["arm"]) - 0.3
        _patch(cv, (cv.u(x, d), d, 0.0), (cv.u(xe, d), d, 1.0), H - 0.12, H, _flat(st["rgb"], POLE, cv))

    def box(s, y, dd, zone):
        y0 = y - yb
        rgb = np.broadcast_to(np.float32(34) + 6 * cv.noise[zone][..., None], y.shape + (3,))
        if st["back"]:
            return None, LIGHT, rgb, None
        disc = np.hypot(s[None, :], y0 - 0.75 * (0.82 - 0.32 * st["lit"])) < 0.12
        return None, LIGHT, _paint(rgb, disc, SIGNAL_RGB[st["lit"]]), disc * 1.0
    for bx, yb in boxes:
        _billboard(cv, bx, d, 0.17, yb, yb + 0.75, box, 1.5)


def _draw_sign(cv, x, z, st):
    """Sign on a post: red-rimmed circle, blue disc, triangle, rectangle, diamond, stop, or its back."""
    d, r, yc, shape = 1 / z, st["R"], st["y"], st["shape"]
    _billboard(cv, x, d, 0.045, 0, yc, _pole_shader(cv, st["pole"], 0.045), 1.0)

    def face(s, y, dd, zone):
        ax, ay = np.abs(s)[None, :] / r, (y - yc) / r
        rr = np.hypot(ax, ay)
        tiny = r * dd.max() * cv.size < 1.5
        white, red = np.float32((235, 235, 232)), np.float32((200, 30, 32))
        if shape in ("circle", "blue", "stop", "back"):
            inside, inner = rr < 1, rr < 0.7
        elif shape == "tri":
            inside, inner = (ay > -0.6) & (ax < 0.6 * (1 - ay)), (ay > -0.35) & (ax < 0.6 * (0.6 - ay))
        elif shape == "diamond":
            inside, inner = ax + np.abs(ay) < 1, ax + np.abs(ay) < 0.8
        else:
            inside, inner = (ax < 1) & (np.abs(ay) < 0.7), (ax < 0.88) & (np.abs(ay) < 0.58)
        outer, core = dict(circle=(red, white), blue=((30, 80, 170), (30, 80, 170)), tri=(red, white),
                           diamond=((20, 20, 20), (235, 190, 30)), stop=(red, red), back=((130, 130, 132),) * 2,
                           rect=(white, (30, 120, 70) if st["green"] else (30, 70, 160)))[shape]
        rgb = _paint(np.broadcast_to(np.float32(outer), y.shape + (3,)), inner & ~tiny, core)
        if shape in ("blue", "stop", "rect"):
            rgb = _paint(rgb, inner & (np.abs(ay) < 0.12) & (ax < 0.5) & ~tiny, white)
        return None if tiny else inside, SIGN, rgb * (1 + 0.04 * cv.noise[zone])[..., None], None
    _billboard(cv, x, d, r, yc - r, yc + r, face, 2.0)


def _shadow(cv, x, d0, d1, w):
    """Darken the ground under a vehicle footprint."""
    S = cv.size
    i0, i1 = int((cv.h + d1) * S), min(int((cv.h + d0 * 1.03) * S) + 1, S)
    j0, j1 = max(int(cv.u(x - 0.55 * w, d0) * S), 0), min(int(cv.u(x + 0.55 * w, d0) * S) + 1, S)
    if i1 > i0 and j1 > j0:
        zone = (slice(i0, i1), slice(j0, j1))
        sel = cv.depth[zone] <= d0 * 1.03
        cv.img[zone][sel] *= 0.55


def _draw_vehicle(cv, x, z, st):
    """Box vehicle: visible side (when off-centre) then the near end (rear, or front when oncoming)."""
    w, length = st["W"], st["L"]
    d0, d1 = 1 / z, 1 / (z + length)
    _shadow(cv, x, d0, d1, w)
    cls = dict(car=CAR, truck=TRUCK, bus=BUS, tram=TRAIN)[st["kind"]]
    end, side = _vehicle_shaders(cv, st, cls)
    if abs(x) > w / 2:
        xs = x - np.sign(x) * w / 2
        _patch(cv, (cv.u(xs, d0), d0, 0.0), (cv.u(xs, d1), d1, length), 0, st["H"], side)
    _patch(cv, (cv.u(x - w / 2, d0), d0, -w / 2), (cv.u(x + w / 2, d0), d0, w / 2), 0, st["H"], end)
    if st["kind"] == "tram":  # pantograph
        _billboard(cv, x, d0 * 0.9, 0.5, st["H"], st["H"] + 0.5, lambda s, y, dd, zone: (
            (np.abs(np.abs(s)[None, :] - (st["H"] + 0.5 - y)) < 0.06) | (y > st["H"] + 0.43),
            TRAIN, np.full(y.shape + (3,), 40, np.float32), None), 1.0)


def _vehicle_shaders(cv, st, cls):
    """(end, side) shaders of a car, truck, bus or tram; metric coordinates on each face."""
    kind, H, W, L, front = st["kind"], st["H"], st["W"], st["L"], st["front"]
    belt, body, glass, dark = st["belt"] * H, st["rgb"], st["glass"], np.float32((24, 24, 26))
    lamp_rgb = HEAD_RGB if front else TAIL_RGB

    def end(s, y, d, zone):
        xr = np.abs(s)[None, :] / (W / 2)
        rgb = body * (1 + 0.05 * cv.noise[zone] - 0.18 * xr ** 6)[..., None]
        if kind == "car":
            cab = (y >= belt) & (xr < 0.9 - 0.25 * (y - belt) / (H - belt))
            solid = ((y >= 0.14) & (y < belt)) | cab | ((y < 0.32) & (xr > 0.58) & (xr < 0.96))
            rear = cab & (xr < 0.76 - 0.25 * (y - belt) / (H - belt)) & (y > belt + 0.06) & (y < H - 0.06)
            rgb = _paint(rgb, rear, glass)
            rgb = _paint(rgb, (y < 0.26), body * 0.45)
            lamp = (np.abs(y - 0.72 * belt) < 0.07) & (xr > 0.64) & (xr < 0.94)
            rgb = _paint(rgb, (xr < 0.18) & (np.abs(y - 0.36) < 0.05), (220, 220, 210))
        elif kind == "truck" and not front:
            solid = (y >= 0.55) | ((y >= 0.3) & (xr < 0.92)) | ((y < 0.45) & (xr > 0.5))
            rgb = _paint(rgb, y < 0.55, (60, 60, 62))
            rgb = _paint(rgb, (y >= 0.55) & (xr < 0.03 + 0.5 / (W * d * cv.size)), body * 0.7)
            lamp = (np.abs(y - 0.5) < 0.05) & (xr > 0.7)
        elif kind == "truck":
            hc = st["Hc"]
            solid = (y >= 0.3) & ((y < hc) | (xr < 0.95))
            rgb = _paint(rgb, y < hc, st["cab"] * (1 + 0.05 * cv.noise[zone])[..., None])
            rgb = _paint(rgb, (y > hc - 0.75) & (y < hc - 0.1) & (xr < 0.86), glass)
            rgb = _paint(rgb, (y > 0.45) & (y < 0.85) & (xr < 0.5), dark)
            lamp = (np.abs(y - 0.6) < 0.07) & (xr > 0.68) & (xr < 0.92)
        else:  # bus / tram
            solid = (y >= 0.15) & ~((xr > 0.9) & (y > H - 0.12))
            lo = 0.85 if front else 1.35
            rgb = _paint(rgb, (y > lo) & (y < H - 0.35) & (xr < 0.88), glass)
            rgb = _paint(rgb, (y >= H - 0.32) & (y < H - 0.1) & (xr < 0.7), (40, 30, 20) if front else body * 0.8)
            rgb = _paint(rgb, y < 0.3, body * 0.5)
            lamp = (np.abs(y - 0.45) < 0.08) & (xr > 0.72) & (xr < 0.95)
        tyre_top = 0.14 if kind == "car" else 0.4 if kind == "truck" else 0.3
        rgb = _paint(rgb, (y < tyre_top) & (xr > 0.58), dark)
        return solid, cls, _paint(rgb, lamp & solid, lamp_rgb), lamp * 1.0

    def side(s, y, d, zone):
        q = (s if front else L - s)[None, :]  # distance from the vehicle front
        rgb = body * (0.82 + 0.05 * cv.noise[zone])[..., None]
        axles = dict(car=(0.7, L - 0.7), truck=(1.3, L - 2.1, L - 1.2), bus=(2.0, L - 2.4), tram=(2.0, L - 2.0))[kind]
        r = 0.3 if kind == "car" else 0.36
        wd = np.min([np.hypot(q - a, y - r) for a in axles], axis=0)
        if kind == "car":
            cab = (y >= belt) & (q > 0.95 + 1.1 * (y - belt)) & (q < L - 0.35 - 0.6 * (y - belt))
            solid = ((y >= 0.16) & (y < belt)) | cab
            win = cab & (y > belt + 0.05) & (y < H - 0.07) & (q > 1.05 + 1.1 * (y - belt)) \
                & (q < L - 0.5 - 0.6 * (y - belt)) & (np.abs(q - 0.55 * L) > 0.07)
        elif kind == "truck":
            hc = st["Hc"]
            solid = ((y >= 0.55) & (q > 2.3)) | ((y >= 0.3) & (y < hc) & (q < 2.2)) | ((np.abs(y - 0.45) < 0.1))
            rgb = _paint(rgb, q < 2.2, st["cab"] * 0.85)
            win = (q > 0.3) & (q < 1.4) & (y > hc - 0.7) & (y < hc - 0.15)
        else:
            solid = y >= 0.15
            door = (q > 0.4) & (q < 1.3) & (y > 0.3)
            win = ((y > 1.05) & (_frac(q / 1.3) > 0.1) | door) & (y < H - 0.32)
            rgb = _paint(rgb, (y > 0.8) & (y < 0.95), body * 0.6 + 40)
            if kind == "tram":
                solid &= np.abs(_frac(q / (L / 3) + 0.5) - 0.5) * (L / 3) > 0.08
        rgb = _paint(rgb, win, glass)
        wheel = wd < r
        rgb = _paint(_paint(rgb, wheel, dark), wd < 0.45 * r, (130, 130, 135))
        return (solid & (q > 0.02) & (q < L - 0.02)) | wheel, cls, rgb, None
    return end, side


def _draw_train(cv, z, st):
    """Train crossing the view on a level track: carriages with a row of windows."""
    d = 1 / z

    def shader(s, y, dd, zone):
        q = s[None, :] + st["off"]
        gap = np.abs(_frac(q / st["car"] + 0.5) - 0.5) * st["car"] < 0.15
        rgb = st["rgb"] * (1 + 0.05 * cv.noise[zone])[..., None]
        rgb = _paint(rgb, (y > 1.3) & (y < 2.0) & (_frac(q / 1.6) > 0.2), (50, 60, 72))
        rgb = _paint(rgb, (y > 1.0) & (y < 1.15), st["rgb"] * 0.5)
        return ~gap & ~((y < 0.45) & (_frac(q / 4) > 0.5)), TRAIN, _paint(rgb, y < 0.45, (40, 40, 42)), None
    _patch(cv, (cv.u(-60, d), d, -60.0), (cv.u(60, d), d, 60.0), 0.1, 2.7, shader)


def _person_shape(s, y, st, seated):
    """Masks (head, hair, torso+arms, legs) of a stylised person in metric coords (s lateral, y up)."""
    H = st["H"]
    x, yn = s[None, :] / H, y / H
    if seated:  # on a cycle, facing +x (mirrored by the caller)
        hip, sh, hd = (-0.08, 0.5), (0.04, 0.84), (0.08, 0.95)
        torso = _seg(x, yn, hip, sh) < 0.085
        arms = _seg(x, yn, sh, (0.24, 0.62)) < 0.035
        legs = (_seg(x, yn, hip, (0.1, 0.44)) < 0.05) | (_seg(x, yn, (0.1, 0.44), (0.03, 0.2)) < 0.04)
        head = np.hypot(x - hd[0], yn - hd[1]) < 0.075
        return head, head & (yn > hd[1]), torso | arms, legs
    hw = 0.09 if st["side"] else 0.13
    head = np.hypot(x, yn - 0.91) < 0.075
    torso = (yn >= 0.47) & (yn < 0.84) & (np.abs(x) < hw - 0.03 * (0.84 - yn) / 0.37)
    arms = (yn >= 0.5) & (yn < 0.82) & (np.abs(np.abs(x) - hw - 0.025) < 0.03) if not st["side"] else torso
    legs = (yn < 0.5) & (np.abs(np.abs(x) - 0.045 - st["stride"] * (0.5 - yn) / 0.5) < 0.045)
    return head, head & (yn > 0.93), torso | arms, legs


def _person_rgb(cv, zone, st, masks):
    head, hair, top, legs = masks
    rgb = np.empty(head.shape + (3,), np.float32)
    rgb[:] = st["legs"]
    rgb = _paint(_paint(_paint(rgb, top, st["top"]), head, st["skin"]), hair, st["hair"])
    return head | top | legs, rgb * (1 + 0.06 * cv.noise[zone])[..., None]


def _draw_person(cv, x, z, st):
    def shader(s, y, d, zone):
        masks = _person_shape(s, y, st, False)
        solid, rgb = _person_rgb(cv, zone, st, masks)
        tiny = st["H"] * d.max() * cv.size < 5
        return (np.abs(s)[None, :] < 0.15 * st["H"]) | masks[0] if tiny else solid, PERSON, rgb, None
    _billboard(cv, x, 1 / z, 0.22 * st["H"], 0, st["H"], shader, 1.2)


def _draw_cycle(cv, x, z, st):
    """Bicycle or motorcycle in side view squeezed by |f| (small when seen from behind), maybe ridden.

    The rider is drawn first so the (thin) bicycle stays visible in front of the legs.
    """
    d, f, moto = 1 / z, st["f"], st["moto"]
    r, wb = (0.3, 0.55) if moto else (0.25, 0.4)
    if st["rider"] is not None:
        rd = dict(st["rider"], H=1.45)

        def rider(s, y, dd, zone):
            solid, rgb = _person_rgb(cv, zone, rd, _person_shape(s / f, y - (0.06 if moto else 0.0), rd, True))
            return solid, RIDER, rgb, None
        _billboard(cv, x, d, 0.45 * abs(f) + 0.1, 0.25, 1.55, rider, 1.5)

    def bike(s, y, dd, zone):
        xq = s[None, :] / f
        t = max(0.045, 0.6 / (dd.max() * cv.size)) / abs(f)  # strokes >= ~0.6 px across
        dw = np.minimum(np.hypot(xq - wb, y - r), np.hypot(xq + wb, y - r))
        rgb = np.broadcast_to(np.float32(30), y.shape + (3,))
        if moto:
            body = (((xq - 0.05) / 0.5) ** 2 + ((y - 0.62) / 0.2) ** 2 < 1) | (_seg(xq, y, (wb, r), (0.4, 0.95)) < t)
            solid = (dw < r) | body
            rgb = _paint(_paint(rgb, body, st["rgb"]), dw < 0.4 * r, (140, 140, 145))
        else:
            pts = ((-wb, r), (0.0, 0.28), (-0.08, 0.62), (0.28, 0.64), (wb, r))
            bars = ((0, 1), (1, 2), (2, 3), (3, 1), (3, 4), (0, 2))
            frame = np.min([_seg(xq, y, pts[i], pts[j]) for i, j in bars], axis=0)
            solid = (np.abs(dw - 0.9 * r) < t) | (frame < t) | (_seg(xq, y, (0.28, 0.64), (0.3, 0.75)) < t)
            rgb = _paint(rgb, frame < t, st["rgb"])
        return solid, MOTORCYCLE if moto else BICYCLE, rgb * (1 + 0.05 * cv.noise[zone])[..., None], None
    _billboard(cv, x, d, (wb + r) * abs(f), 0, 1.0, bike, 2.0)


# ---------------------------------------------------------------- background layers
def _draw_sky(cv, rng, env):
    zen, hor, cloud = (OVERCAST_RGB if env.weather in ("overcast", "rain", "fog") and env.time == "day"
                       else SKY_RGB[env.time])
    env.horizon_rgb = np.float32(hor)
    ih, S = cv.ih, cv.size
    t = (cv.c[:ih] / env.h)[:, None, None] ** 1.6
    rgb = np.float32(zen) + (np.float32(hor) - np.float32(zen)) * t
    thr = dict(clear=1.2, cloudy=0.1, overcast=-0.6, rain=-0.8, fog=0.0)[env.weather]
    cover = np.clip((_smooth_noise(rng, S, 3, 5)[:ih] + 0.3 * cv.low[:ih] - thr) * 1.5, 0, 1)[..., None]
    cv.img[:ih] = rgb + (np.float32(cloud) - rgb) * cover * (1 - 0.5 * t)
    cv.glow[:ih] = 1.0
    if env.time == "night":  # a few lights in the sky (stars, distant towers)
        k = int(rng.integers(2, 8))
        cv.img[rng.integers(0, max(ih - 1, 1), k), rng.integers(0, S, k)] = 200


def _draw_ground(cv, env):
    """Road, lane marks, crossing, kerb, sidewalk and field classes from each pixel's ground coordinates."""
    ih, S = cv.ih, cv.size
    d = (cv.c[ih:] - env.h)[:, None]
    z = 1 / d
    x = (cv.c[None, :] - cv.u(0.0, d)) / d
    left, right = env.road
    cls = np.full(x.shape, ROAD, np.uint8)
    for sg, edge, sw, field in ((-1, left, env.sw[0], env.field[0]), (1, right, env.sw[1], env.field[1])):
        out = sg * (x - edge)
        cls[out > 0] = SIDEWALK
        cls[out > sw] = field
    cross = env.cross
    if cross is not None:
        cls[np.broadcast_to((z > cross[0]) & (z < cross[1]), x.shape)] = ROAD
    n, lo = cv.noise[ih:], cv.low[ih:]
    road = env.asphalt * (1 + 0.05 * n + 0.07 * lo)[..., None]
    dash = np.where(6.0 * d * d * S > 3, _frac(z / 6.0) < 0.4, 0.4)
    for x0, width, dashed, colour in env.marks:
        hw = 0.5 * width * d * S
        a = _sat(hw + 0.5 - np.abs(x - x0) * d * S) * np.minimum(1, 2 * hw) * (dash if dashed else 1)
        road += (np.float32(colour) - road) * a[..., None]
    if cross is not None and cross[2]:
        zebra = np.where(0.8 * d * S > 3, _frac(x / 0.8) < 0.5, 0.5) * ((z > cross[0] - 2.2) & (z < cross[0] - 0.4))
        road += (np.float32((222, 222, 212)) - road) * (zebra * (x > left) * (x < right))[..., None]
    if env.tram:
        for xr in (env.lanes[-1][0] - 0.45, env.lanes[-1][0] + 0.45):
            road = _paint(road, np.abs(x - xr) * d * S < 0.5, (120, 120, 126))
    tile = (_frac(x / 0.6) < 0.1) | (_frac(z / 0.6) < 0.1)
    pave = env.pave * (1 + 0.05 * n + 0.05 * lo - 0.12 * tile * _sat(0.6 * d * d * S / 3 - 0.3)
                       + 0.15 * ((np.abs(x - left) < 0.12) | (np.abs(x - right) < 0.12)))[..., None]
    field = np.where((x < 0)[..., None], env.field_rgb[0], env.field_rgb[1])
    amp = np.where(x < 0, env.field_amp[0], env.field_amp[1])
    field = field * (1 + amp * n + 0.1 * lo)[..., None]
    rgb = np.where((cls == ROAD)[..., None], road, np.where((cls == SIDEWALK)[..., None], pave, field))
    cv.img[ih:], cv.mask[ih:], cv.depth[ih:] = rgb, cls, np.broadcast_to(d, x.shape)
    if env.time == "night":  # ego headlight beam
        cv.glow[ih:] = 0.7 * np.exp(-(x / 1.5) ** 2 - z / 10)


def _draw_far_band(cv, rng, env):
    """Distant skyline blocks and/or treeline hugging the horizon (drawn behind everything else)."""
    ih, S, m = cv.ih, cv.size, env.m
    v = cv.c[:ih, None]
    for cls, p, dep in ((BUILDING, m["p_skyline"], 0.002), (VEGETATION, m["p_treeline"], 0.003)):
        if rng.random() >= p:
            continue
        if cls == BUILDING:
            widths = rng.uniform(0.02, 0.09, 30)
            idx = np.searchsorted(np.cumsum(widths), cv.c)
            height = rng.uniform(0.01, 0.09, 31)[idx]
            tone = rng.uniform(0.75, 1.1, 31)[idx]
            colour = _col(rng, WALL_RGB[2:4] + GLASS_RGB[1:2], 8)
        else:
            height = np.abs(0.015 + 0.02 * rng.uniform(0.3, 1.5) * (1 + _smooth_noise(rng, S, 1, 9)[0]))
            tone, colour = 1.0, _col(rng, FOLIAGE_RGB, 8) * 0.8
        sel = (v >= env.h - height) & (cv.depth[:ih] < dep)
        amp = 0.2 if cls == VEGETATION else 0.05
        rgb = colour * (tone * (1 + amp * cv.noise[:ih]))[..., None]
        rgb = rgb * 0.6 + env.horizon_rgb * 0.4  # aerial perspective
        cv.img[:ih][sel], cv.mask[:ih][sel], cv.depth[:ih][sel], cv.glow[:ih][sel] = rgb[sel], cls, dep, 0.0
        if env.time == "night" and cls == BUILDING:
            lit = sel & (cv.noise[:ih] > 1.6)
            cv.img[:ih][lit], cv.glow[:ih][lit] = LAMP_RGB, 1.0


def _draw_hood(cv, rng):
    """Ego-car bonnet along the bottom edge: glossy dark paint, labelled IGNORE (255)."""
    S, top = cv.size, 1 - rng.uniform(0.03, 0.07)
    edge = top + 0.6 * (1 - top) * ((cv.c - 0.5) / 0.5) ** 2
    hood = cv.c[:, None] > edge[None, :]
    shine = np.clip(1 - (cv.c[:, None] - edge[None, :]) * S / 3, 0, 1)[..., None]
    paint = _col(rng, CAR_RGB[2:5] + CAR_RGB[7:9], 6) * 0.6
    cv.img = np.where(hood[..., None], paint + (cv.img * 0.6 - paint) * shine * 0.7, cv.img)
    cv.mask[hood], cv.depth[hood], cv.glow[hood] = IGNORE, 1.0, 0.0


def _finish(cv, rng, env):
    """Haze/fog, lighting, exposure, white balance, optics blur and sensor noise (image only)."""
    img, S = cv.img, cv.size
    fog = env.weather == "fog"
    dens = rng.uniform(0.04, 0.09) if fog else rng.uniform(0.004, 0.015)
    w = np.where(cv.depth > 0, 1 - np.exp(-dens / np.maximum(cv.depth, 1e-4)), 0.85 * fog)
    fog_rgb = env.horizon_rgb if not fog else np.float32((190, 192, 196)) * (0.25 if env.time == "night" else 1)
    img = img + (fog_rgb - img) * w[..., None]
    ambient = dict(day=1.0, dusk=0.7, night=rng.uniform(0.25, 0.4))[env.time]
    ambient = ambient * (np.float32((1.08, 0.9, 0.78)) if env.time == "dusk" else 1.0)
    if env.weather in ("rain", "overcast"):
        img = img * (0.78 if env.weather == "rain" else 0.92)
        img = img * 0.7 + img.mean(-1, keepdims=True) * 0.3
    img = img * (ambient + (1 - ambient) * cv.glow[..., None])
    if env.time != "day" and cv.glow[cv.ih:].max() > 0.9:
        img += ndimage.gaussian_filter(img * (cv.glow[..., None] > 0.9), (1.2, 1.2, 0)) * 0.8
    if env.weather == "rain":  # streaks
        k = S // 4
        ys, xs = rng.integers(0, S - 4, k), rng.integers(0, S, k)
        for o in range(3):
            img[ys + o, xs] += 25
    img *= np.exp(rng.normal(0, 0.12)) * np.exp(rng.normal(0, 0.04, 3)).astype(np.float32)
    img = ndimage.gaussian_filter(img, (rng.uniform(0.3, 0.7),) * 2 + (0,))
    img += rng.normal(0, 5.0 if env.time == "night" else 2.5, img.shape).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- public API
def render_scene(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """One scene: image uint8 (size, size, 3) RGB and mask uint8 (size, size) of train ids."""
    env = _sample_env(rng)
    env.asphalt = np.float32(rng.uniform(55, 105)) * np.exp(rng.normal(0, 0.03, 3)).astype(np.float32)
    env.pave = _col(rng, PAVE_RGB, 8)
    env.field_rgb = [_col(rng, {TERRAIN: TERRAIN_RGB, VEGETATION: FOLIAGE_RGB}.get(c, PAVE_RGB)) for c in env.field]
    env.field_amp = [{TERRAIN: 0.14, VEGETATION: 0.28}.get(c, 0.05) for c in env.field]
    items = _plan(rng, env)
    cv = _Canvas(rng, size, env)
    _draw_sky(cv, rng, env)
    _draw_ground(cv, env)
    _draw_far_band(cv, rng, env)
    for _, fn, args in sorted(items, key=lambda it: it[0]):
        fn(cv, *args)
    if rng.random() < 0.25:
        _draw_hood(cv, rng)
    return _finish(cv, rng, env), cv.mask


def render_scenes(n: int, size: int = 64, seed: int = 0, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """n scenes as (images (n, size, size, 3) uint8, masks (n, size, size) uint8).

    Scene i uses ``np.random.default_rng([seed, i])``: the same seed gives the same data and a
    prefix of a larger run equals a smaller run.
    """
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.empty((n, size, size), np.uint8)
    for i in tqdm(range(n), desc=f"render {size}px scenes", disable=not progress, mininterval=1.0):
        images[i], masks[i] = render_scene(np.random.default_rng([seed, i]), size)
    return images, masks


def write_dataset(out: str | Path, *, n: int = 2000, size: int = 64, seed: int = 0, val_fraction: float = 0.125,
                  overwrite: bool = False, progress: bool = True) -> Path:
    """Render ``n`` scenes and write them to ``out`` in the official BDD100K layout.

    The last ``round(n * val_fraction)`` scenes form the val split. The folder appears only
    when complete, so an interrupted run leaves nothing behind.
    """
    if n < 1 or not 0 <= val_fraction < 1:
        raise ValueError(f"need n >= 1 and 0 <= val_fraction < 1, got n={n}, val_fraction={val_fraction}")
    images, masks = render_scenes(n, size, seed, progress=progress)
    names = [f"synth-s{seed}-{i:06d}" for i in range(n)]
    n_train = n - round(n * val_fraction)
    splits = {"train": (images[:n_train], masks[:n_train], names[:n_train])}
    if n_train < n:
        splits["val"] = (images[n_train:], masks[n_train:], names[n_train:])
    return write_bdd100k(out, splits, overwrite=overwrite)
