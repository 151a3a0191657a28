"""The setting of a scene: scene type, camera, road layout, lighting and ground colours."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .camera import Camera
from .tables import (CENTRE_LINE_RGB, FOLIAGE_RGB, MARK_RGB, MIX, PAVE_RGB, SCENE_P, SCENE_TYPES, TERRAIN,
                     TERRAIN_RGB, TIME_P, TIMES, VEGETATION, WEATHER_P, WEATHERS, log_uniform, pick_colour)


class CrossStreet(NamedTuple):
    """Cross street between depths near and far, with a zebra crossing before it or not."""

    near: float
    far: float
    zebra: bool


class LaneMark(NamedTuple):
    """Painted line at lateral x: width, dashed or solid, colour."""

    x: float
    width: float
    dashed: bool
    colour: tuple


@dataclass
class Environment:
    """Scene type, camera, road layout and lighting; per-side lists are (left, right)."""

    kind: str  # one of SCENE_TYPES
    mix: dict  # MIX[kind]
    camera: Camera
    time: str
    weather: str
    lanes: list  # (lateral centre, oncoming) per lane, left to right; the ego lane is at 0
    n_oncoming: int  # oncoming lanes, on the left
    road: tuple  # lateral x of the left and right kerbs
    parking_x: list  # lateral x of parked cars
    parked: list  # whether that side has a parking lane
    sidewalk: list  # sidewalk widths (0: none)
    field: list  # class beyond the sidewalk
    cross: CrossStreet | None  # intersection with traffic lights
    tram: bool  # tram tracks in the rightmost lane
    sun: int  # side lit by the sun (-1 left, 1 right)
    marks: list  # LaneMark per painted line
    asphalt: np.ndarray  # road colour
    pave: np.ndarray  # sidewalk colour
    field_rgb: list  # field colours

    @property
    def field_amp(self) -> list:
        """Texture amplitude of each field."""
        return [{TERRAIN: 0.14, VEGETATION: 0.28}.get(c, 0.05) for c in self.field]

    def clear_of_cross(self, z0: float, z1: float) -> bool:
        """True when depths z0..z1 do not overlap the cross street."""
        c = self.cross
        return c is None or z1 < c.near - 0.3 or z0 > c.far + 0.3


def plan_environment(rng: np.random.Generator, aspect: float = 1.0) -> Environment:
    """Draw the scene type, camera (horizon, vanishing point, bend), lanes, kerbs, intersection, lighting.

    ``aspect`` (width / height) widens the view: the vanishing point keeps its place in the centre
    square, and the image shows more to either side.
    """
    kind = SCENE_TYPES[rng.choice(4, p=SCENE_P)]
    mix = MIX[kind]
    horizon, vanish_x = rng.uniform(0.38, 0.56), 0.5 + rng.normal(0, 0.05)
    bend = rng.uniform(-0.2, 0.2) if rng.random() < 0.3 else 0.0
    time = TIMES[rng.choice(3, p=TIME_P)]
    weather = WEATHERS[rng.choice(5, p=WEATHER_P)]
    n_lanes = int(rng.integers(mix["lanes"][0], mix["lanes"][1] + 1))
    lane_width = rng.uniform(1.2, 1.45)
    n_oncoming = n_lanes // 2 if rng.random() < mix["two_way"] else 0
    ego = int(rng.integers(n_oncoming, n_lanes))
    lanes = [((k - ego) * lane_width, k < n_oncoming) for k in range(n_lanes)]
    parked = [rng.random() < mix["parking"] for _ in range(2)]
    left, right = -(ego + 0.5) * lane_width, (n_lanes - ego - 0.5) * lane_width  # outer lane edges
    parking_x = [left - 0.55, right + 0.55]
    road = (left - 1.1 * parked[0], right + 1.1 * parked[1])
    p_sidewalk, lo, hi = mix["sidewalk"]
    sidewalk = [rng.uniform(lo, hi) if rng.random() < p_sidewalk else 0.0 for _ in range(2)]
    classes, probs = zip(*mix["field"])
    field = [classes[rng.choice(len(classes), p=probs)] for _ in range(2)]
    cross = None
    if rng.random() < mix["p_lights"]:
        near = log_uniform(rng, 7, 30)
        cross = CrossStreet(near, near + rng.uniform(3.5, 6.5), rng.random() < 0.75)
    tram = rng.random() < mix["p_tram"]
    sun = 1 if rng.random() < 0.5 else -1
    marks = []
    for k in range(1, n_lanes):
        boundary = lanes[k][0] - lane_width / 2
        if k == n_oncoming:  # double centre line
            marks += [LaneMark(boundary - 0.09, 0.09, False, CENTRE_LINE_RGB),
                      LaneMark(boundary + 0.09, 0.09, False, CENTRE_LINE_RGB)]
        else:
            marks.append(LaneMark(boundary, 0.1, True, MARK_RGB))
    if rng.random() < 0.6:  # edge lines
        marks += [LaneMark(road[0] + 0.2, 0.1, False, MARK_RGB), LaneMark(road[1] - 0.2, 0.1, False, MARK_RGB)]
    asphalt = np.float32(rng.uniform(55, 105)) * np.exp(rng.normal(0, 0.03, 3)).astype(np.float32)
    pave = pick_colour(rng, PAVE_RGB, 8)
    field_rgb = [pick_colour(rng, {TERRAIN: TERRAIN_RGB, VEGETATION: FOLIAGE_RGB}.get(c, PAVE_RGB)) for c in field]
    camera = Camera(horizon, vanish_x + (aspect - 1) / 2, bend, aspect)
    return Environment(kind, mix, camera, time, weather, lanes, n_oncoming, road,
                       parking_x, parked, sidewalk, field, cross, tram, sun, marks, asphalt, pave, field_rgb)
