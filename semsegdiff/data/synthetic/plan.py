"""Scene planning: every random draw of a scene, made in one fixed order and kept in a Scene.

plan_scene draws the environment (environment.py), the upright objects with their styles
(placement.py, styles.py), then the image-side draws (noise textures, clouds, stars, far band,
bonnet, haze, exposure, blur, sensor noise). Drawing a Scene (layers.draw_scene) uses no
randomness. The order of the draws *is* the dataset: changing it changes every scene, and
tests/test_synthetic.py pins it with golden hashes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...frame import Size, frame
from .camera import noise_lattice
from .environment import Environment, plan_environment
from .placement import Placed, plan_objects
from .tables import CAR_RGB, FOLIAGE_RGB, GLASS_RGB, WALL_RGB, pick_colour


@dataclass
class Skyline:
    """Distant blocks along the horizon: block widths, heights and tones, one colour."""

    widths: np.ndarray
    heights: np.ndarray
    tones: np.ndarray
    colour: np.ndarray


@dataclass
class Treeline:
    """Distant treeline: height amplitude, a noise lattice for its profile, colour."""

    amplitude: float
    lattice: np.ndarray
    colour: np.ndarray


@dataclass
class Hood:
    """Ego-car bonnet: its top edge (normalised row at the image centre) and paint colour."""

    top: float
    paint: np.ndarray


@dataclass
class Finish:
    """Image-only effects: haze density, night ambient light, rain streaks, exposure, white balance,
    optics blur and sensor noise."""

    haze: float
    night_ambient: float  # drawn whatever the time of day
    rain: tuple | None  # (rows, columns) of the streaks
    exposure: float
    white_balance: np.ndarray
    blur: float
    sensor_noise: np.ndarray


@dataclass
class Scene:
    """Every random draw of one scene."""

    size: Size  # a side, or [height, width] (semsegdiff.frame)
    env: Environment
    objects: list[Placed]  # in planning order (drawn far to near)
    pixel_noise: np.ndarray  # (height, width) standard normal texture
    low_lattice: np.ndarray  # lattice of the smooth large-scale texture
    cloud_lattice: np.ndarray
    stars: tuple | None  # (rows, columns) of lights in the night sky
    skyline: Skyline | None
    treeline: Treeline | None
    hood: Hood | None
    finish: Finish


def plan_scene(rng: np.random.Generator, size: Size) -> Scene:
    """Draw everything about one scene of ``size`` (a side, or [height, width]) pixels."""
    h, w = frame(size)
    aspect = w / h  # wider frames: more of the same world to the sides (lattices and blocks keep their scale)
    env = plan_environment(rng, aspect)
    objects = plan_objects(rng, env)
    pixel_noise = rng.standard_normal((h, w)).astype(np.float32)
    low_lattice = noise_lattice(rng, 6, round(6 * aspect))
    cloud_lattice = noise_lattice(rng, 3, round(5 * aspect))
    stars = None
    if env.time == "night":  # a few lights in the sky (stars, distant towers)
        k, horizon_row = int(rng.integers(2, 8)), env.camera.horizon_row(h)
        k = round(k * aspect)
        stars = (rng.integers(0, max(horizon_row - 1, 1), k), rng.integers(0, w, k))
    skyline = treeline = hood = None
    if rng.random() < env.mix["p_skyline"]:
        blocks = math.ceil(30 * aspect)
        skyline = Skyline(widths=rng.uniform(0.02, 0.09, blocks), heights=rng.uniform(0.01, 0.09, blocks + 1),
                          tones=rng.uniform(0.75, 1.1, blocks + 1),
                          colour=pick_colour(rng, WALL_RGB[2:4] + GLASS_RGB[1:2], 8))
    if rng.random() < env.mix["p_treeline"]:
        treeline = Treeline(amplitude=rng.uniform(0.3, 1.5), lattice=noise_lattice(rng, 1, round(9 * aspect)),
                            colour=pick_colour(rng, FOLIAGE_RGB, 8))
    if rng.random() < 0.25:
        hood = Hood(top=1 - rng.uniform(0.03, 0.07), paint=pick_colour(rng, CAR_RGB[2:5] + CAR_RGB[7:9], 6))
    finish = plan_finish(rng, env, h, w)
    return Scene(size, env, objects, pixel_noise, low_lattice, cloud_lattice, stars, skyline, treeline, hood, finish)


def plan_finish(rng: np.random.Generator, env: Environment, h: int, w: int) -> Finish:
    """Draw haze, night ambient light, rain streaks, exposure, white balance, blur and sensor noise."""
    haze = rng.uniform(0.04, 0.09) if env.weather == "fog" else rng.uniform(0.004, 0.015)
    night_ambient = rng.uniform(0.25, 0.4)
    rain = None
    if env.weather == "rain":
        k = round((h // 4) * w / h)  # as many streaks per column as a square frame's
        rain = (rng.integers(0, h - 4, k), rng.integers(0, w, k))
    exposure, white_balance = rng.normal(0, 0.12), rng.normal(0, 0.04, 3)
    blur = rng.uniform(0.3, 0.7)
    sensor_noise = rng.normal(0, 5.0 if env.time == "night" else 2.5, (h, w, 3)).astype(np.float32)
    return Finish(haze, night_ambient, rain, exposure, white_balance, blur, sensor_noise)
