"""Where the upright objects go: roadside features, traffic, people, cycles, trains, lights and signs."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .environment import Environment
from .styles import building_style, person_style, tree_style, vehicle_style
from .tables import (BARRIER_RGB, CAR_RGB, CLOTHES_RGB, FENCE_RGB, FOLIAGE_RGB, POLE_RGB, SIGN_P, SIGN_SHAPES,
                     TRAIN_RGB, log_uniform, pick_colour)


@dataclass
class Placed:
    """An upright object: kind (a key of objects.DRAW), lateral x, depth z (to z_end along the road), style."""

    kind: str
    x: float
    z: float
    style: dict
    z_end: float | None = None

    @property
    def inv_depth(self) -> float:
        return 1.0 / self.z


def plan_objects(rng: np.random.Generator, env: Environment) -> list[Placed]:
    """All upright objects of a scene, in planning order (the renderer draws them far to near)."""
    objects = plan_roadside(rng, env, -1) + plan_roadside(rng, env, 1)
    objects += plan_vehicles(rng, env)
    objects += plan_people_and_cycles(rng, env)
    if rng.random() < env.mix["p_train"]:
        z = log_uniform(rng, 14, 40)
        objects.append(Placed("train", 0.0, z, dict(rgb=pick_colour(rng, TRAIN_RGB), carriage=rng.uniform(9, 14),
                                                     offset=rng.uniform(0, 10))))
    return objects + plan_lights_and_signs(rng, env)


def plan_roadside(rng: np.random.Generator, env: Environment, side: int) -> list[Placed]:
    """Buildings, barriers, trees and lamp posts along one side of the road (side -1 left, +1 right)."""
    objects, mix, camera = [], env.mix, env.camera
    edge, sidewalk = abs(env.road[side > 0]), env.sidewalk[side > 0]
    base = edge + sidewalk
    if rng.random() < mix["p_build"]:
        x0 = base + rng.uniform(*mix["setback"])
        z = max(1.0, camera.nearest_depth(x0) * rng.uniform(0.4, 1.0))
        while z < 60:
            length = rng.uniform(3.0, 12.0) * max(1.0, z / 15)
            if not env.clear_of_cross(z, z + length):
                z = env.cross.far + 0.4
                continue
            x = x0 + rng.uniform(0, 0.8) * (rng.random() < 0.4)
            objects.append(Placed("building", side * x, z, building_style(rng, env, side), z_end=z + length))
            z += length + (rng.uniform(1.0, 6.0) if rng.random() < mix["p_building_gap"] else 0.0)
    for kind in ("wall", "fence", "hedge"):
        if rng.random() < mix["p_" + kind]:
            x = base + (rng.uniform(0.05, 0.4) if sidewalk or env.kind != "highway" else 0.3)
            z0 = max(1.5, camera.nearest_depth(x) * rng.uniform(0.5, 1.5))
            z1 = z0 + rng.uniform(8, 45)
            if env.cross is not None and z0 < env.cross.near < z1:
                z1 = env.cross.near - 0.3
            pattern = int(rng.integers(4)) if kind == "fence" else 0  # fences: bars, mesh, slats, guard rail
            table = dict(hedge=FOLIAGE_RGB, wall=BARRIER_RGB, fence=FENCE_RGB[pattern:pattern + 1])[kind]
            style = dict(kind=kind, height=rng.uniform(0.5, 1.5) if kind != "fence" else rng.uniform(0.7, 1.6),
                         rgb=pick_colour(rng, table), pattern=pattern)
            if env.kind == "highway":
                style.update(height=0.65 if kind == "wall" else 0.55, pattern=3 if kind == "fence" else 0,
                             rgb=style["rgb"] if kind != "fence" else pick_colour(rng, FENCE_RGB[3:]))
            objects.append(Placed("barrier", side * x, z0, style, z_end=z1))
    if rng.random() < mix["p_trees"]:
        street = env.kind == "urban" and sidewalk > 0.5  # a row of street trees on the sidewalk
        z = camera.nearest_depth(base + 1) * rng.uniform(0.4, 1.2)
        while z < 50:
            x = edge + sidewalk * 0.5 if street else base + rng.uniform(0.4, 3.0)
            if env.clear_of_cross(z, z):
                objects.append(Placed("tree", side * x, z, tree_style(rng, env)))
            z += rng.uniform(*mix["tree_gap"]) * max(1.0, z / 12)  # sparser far away (treeline fills in)
    if rng.random() < mix["p_lamps"]:
        x = edge + (0.25 if sidewalk or env.kind != "highway" else 0.5)
        z = camera.nearest_depth(x) * rng.uniform(0.5, 1.3)
        rgb, height, gap = pick_colour(rng, POLE_RGB), rng.uniform(5.0, 7.0), rng.uniform(12, 22)
        while z < 45:
            if env.clear_of_cross(z, z):
                objects.append(Placed("lamp", side * x, z, dict(height=height, rgb=rgb, arm=rng.uniform(0.8, 1.8))))
            z += gap
    return objects


def plan_vehicles(rng: np.random.Generator, env: Environment) -> list[Placed]:
    """Trams, buses, trucks and cars in the lanes (no overlaps within a lane), then parked cars."""
    objects, mix = [], env.mix
    occupied = {k: [] for k in range(len(env.lanes))}  # (z, z + length) per lane
    kinds = (["tram"] * env.tram + ["bus"] * rng.poisson(mix["n_bus"]) + ["truck"] * rng.poisson(mix["n_trucks"])
             + ["car"] * rng.poisson(mix["n_cars"]))
    for kind in kinds:
        for _ in range(4):  # tries
            k = int(rng.integers(len(env.lanes))) if kind != "tram" else len(env.lanes) - 1
            x, oncoming = env.lanes[k]
            style = vehicle_style(rng, kind, oncoming)
            z = log_uniform(rng, 3.2 + 1.8 * (x == 0) if kind == "car" else 5.0, 35.0 if kind == "car" else 30.0)
            if all(z + style["length"] + 1 < a or z > b + 1 for a, b in occupied[k]):
                occupied[k].append((z, z + style["length"]))
                objects.append(Placed("vehicle", x + rng.normal(0, 0.1), z, style))
                break
    for side, x, parked in zip((-1, 1), env.parking_x, env.parked):
        z = env.camera.nearest_depth(x) * rng.uniform(0.4, 1.0)
        for _ in range(rng.poisson(mix["n_parked"]) if parked else 0):
            style = vehicle_style(rng, "car", side < 0 and env.n_oncoming > 0)
            z += rng.uniform(0.3, 6.0)
            if env.clear_of_cross(z, z + style["length"]):
                objects.append(Placed("vehicle", x, z, style))
            z += style["length"]
    return objects


def plan_people_and_cycles(rng: np.random.Generator, env: Environment) -> list[Placed]:
    """Pedestrians on the sidewalks or the zebra crossing, then a bicycle and a motorcycle, maybe ridden."""
    objects, mix, camera, road = [], env.mix, env.camera, env.road
    sides = [side for side in (-1, 1) if env.sidewalk[side > 0] > 0] or [1]
    for _ in range(rng.poisson(mix["n_people"])):
        crossing = env.cross is not None and env.cross.zebra and rng.random() < 0.3
        if crossing:
            z = env.cross.near - 1.2 + rng.normal(0, 0.25)
            x = rng.uniform(road[0] + 0.3, road[1] - 0.3)
        else:
            side = sides[rng.integers(len(sides))]
            x = side * (abs(road[side > 0]) + rng.uniform(0.2, max(env.sidewalk[side > 0], 0.5) - 0.1))
            z = log_uniform(rng, max(2.5, 0.8 * camera.nearest_depth(x)), 40)
        objects.append(Placed("person", x, z, person_style(rng, crossing)))
    for moto in (False, True):
        if rng.random() < mix["p_moto" if moto else "p_bike"]:
            ridden = moto or rng.random() < 0.25
            if ridden:  # in the rightmost lane
                x = env.lanes[-1][0] + (rng.uniform(-0.3, 0.3) if moto else 0.55)
            else:  # parked at the kerb
                x = road[1] + min(0.3, env.sidewalk[1] * 0.5)
            z = log_uniform(rng, max(3.0, 0.8 * camera.nearest_depth(x)), 30)
            squeeze = rng.uniform(0.4, 0.8) if ridden else rng.uniform(0.5, 1.0)
            style = dict(moto=moto, rider=person_style(rng, False) if ridden else None,
                         facing=squeeze * rng.choice((-1, 1)),  # side-view scale, sign = direction
                         rgb=pick_colour(rng, CAR_RGB if moto else CLOTHES_RGB))
            objects.append(Placed("cycle", x, z, style))
    return objects


def plan_lights_and_signs(rng: np.random.Generator, env: Environment) -> list[Placed]:
    """Traffic lights at the intersection (post, or mast arm over the lanes), then signs on posts."""
    objects, road = [], env.road
    if env.cross is not None:
        z = env.cross.near - 0.4
        for side in (-1, 1):
            x = road[side > 0] + side * 0.3
            style = dict(height=rng.uniform(3.2, 4.0), rgb=pick_colour(rng, POLE_RGB[:3]),
                         lit_lamp=int(rng.integers(3)),  # red, amber, green
                         arm_lanes=None, back=side < 0 and rng.random() < 0.5)  # back: seen from behind
            if side > 0 and rng.random() < 0.6:
                style["height"] = rng.uniform(4.5, 5.5)
                style["arm_lanes"] = [lane_x for lane_x, oncoming in env.lanes if not oncoming][-2:]
            objects.append(Placed("signal", x, z, style))
    for _ in range(rng.poisson(env.mix["n_signs"])):
        side = 1 if rng.random() < 0.75 else -1
        x = road[side > 0] + side * rng.uniform(0.25, 0.8)
        z = log_uniform(rng, max(3.0, 0.9 * env.camera.nearest_depth(x)), 35)
        shape = SIGN_SHAPES[rng.choice(7, p=SIGN_P)]
        big = env.kind == "highway" and shape == "rect"  # overhead-style direction sign
        style = dict(shape=shape, radius=rng.uniform(1.0, 1.6) if big else rng.uniform(0.25, 0.4),
                     centre_height=rng.uniform(3.5, 4.5) if big else rng.uniform(1.6, 2.6),
                     pole_rgb=pick_colour(rng, POLE_RGB[:2]), green=rng.random() < 0.7)
        objects.append(Placed("sign", x, z, style))
    return objects
