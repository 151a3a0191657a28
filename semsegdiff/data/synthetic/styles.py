"""Random looks of the upright objects: sizes, colours and details, one dict per object.

Every entry of a dict literal is drawn in source order, including the entries the object's kind
does not use (e.g. all vehicle lengths): the order of the draws fixes the dataset.
"""
from __future__ import annotations

import numpy as np

from .environment import Environment
from .tables import (AUTUMN_RGB, BARK_RGB, BUS_RGB, CAR_RGB, CLOTHES_RGB, FOLIAGE_RGB, GLASS_RGB, HAIR_RGB,
                     ROOF_RGB, SKIN_RGB, TRAIN_RGB, TRUCK_RGB, WALL_RGB, pick_colour)


def building_style(rng: np.random.Generator, env: Environment, side: int) -> dict:
    """Wall/glass colours, window grid, roof (houses), lit windows at night, face shading."""
    house = env.kind != "urban"
    glassy = not house and rng.random() < 0.15
    style = dict(height=rng.uniform(*env.mix["building_height"]),
                 wall=pick_colour(rng, GLASS_RGB if glassy else WALL_RGB, 14),
                 glass=pick_colour(rng, GLASS_RGB, 8) * (0.9 if glassy else 1.0),
                 floor_height=rng.uniform(1.8, 2.4),
                 window_pitch=rng.uniform(2.4, 3.6) if house else rng.uniform(1.4, 2.6),
                 window_width=0.85 if glassy else rng.uniform(0.3, 0.6),  # fractions of the pitch / floor
                 window_height=0.8 if glassy else rng.uniform(0.4, 0.6),
                 shop=not house and rng.random() < 0.5, roof=pick_colour(rng, ROOF_RGB) if house else None,
                 lit_fraction=rng.uniform(0.1, 0.5) if env.time == "night" else 0.0,
                 end_width=rng.uniform(4, 10))  # of the face towards the camera
    lit_side = 1.0 if env.weather in ("overcast", "rain", "fog") else (1.05 if side == env.sun else 0.72)
    style["shade"] = (lit_side, 0.88)  # (facade along the road, face towards the camera)
    if glassy:
        style["wall"], style["glass"] = pick_colour(rng, ((70, 72, 76), (40, 42, 46))), style["wall"] * 1.3
    return style


def vehicle_style(rng: np.random.Generator, kind: str, oncoming: bool) -> dict:
    """Size (width, height, length), body/cab/glass colours and facing of a car, truck, bus or tram."""
    car = kind == "car"
    height = dict(car=rng.uniform(0.95, 1.25), truck=rng.uniform(2.2, 2.8), bus=2.3, tram=2.5)[kind]
    table = dict(car=CAR_RGB, truck=TRUCK_RGB, bus=BUS_RGB, tram=TRAIN_RGB)[kind]
    return dict(kind=kind, front=oncoming, height=height, width=rng.uniform(1.05, 1.25) if car else 1.6,
                length=dict(car=rng.uniform(3.0, 3.6), truck=rng.uniform(6, 11), bus=rng.uniform(8.5, 11),
                            tram=rng.uniform(14, 20))[kind],
                belt=rng.uniform(0.5, 0.6),  # belt line, fraction of the height
                body=pick_colour(rng, table), cab_rgb=pick_colour(rng, TRUCK_RGB),
                glass=pick_colour(rng, GLASS_RGB, 6) * 0.7, cab_height=rng.uniform(1.7, 2.0))


def tree_style(rng: np.random.Generator, env: Environment) -> dict:
    """Trunk, crown radius, foliage colour (autumn sometimes) and crown blobs (x, y, radius rows)."""
    radius = rng.uniform(1.0, 2.4) * (1.3 if env.kind == "rural" else 1.0)
    k = int(rng.integers(3, 6))
    leaf = pick_colour(rng, AUTUMN_RGB if rng.random() < 0.12 else FOLIAGE_RGB, 12)
    return dict(radius=radius, trunk_height=rng.uniform(1.0, 2.6), trunk_width=rng.uniform(0.15, 0.3), leaf=leaf,
                bark=pick_colour(rng, BARK_RGB), conifer=env.kind == "rural" and rng.random() < 0.3,
                blobs=rng.uniform((-0.55, -0.45, 0.45), (0.55, 0.5, 0.7), (k, 3)).T * radius)


def person_style(rng: np.random.Generator, crossing: bool) -> dict:
    """Height (children sometimes), clothes, skin, hair and gait; people crossing are seen side-on."""
    return dict(height=rng.uniform(1.1, 1.35) if rng.random() > 0.1 else rng.uniform(0.75, 0.95),
                top=pick_colour(rng, CLOTHES_RGB), legs=pick_colour(rng, CLOTHES_RGB[:4] + CLOTHES_RGB[6:7]),
                skin=pick_colour(rng, SKIN_RGB, 6), hair=pick_colour(rng, HAIR_RGB),
                stride=rng.uniform(0.08, 0.2) if crossing else rng.uniform(0.0, 0.06), side_view=crossing)
