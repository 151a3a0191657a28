"""Tuning tables: class ids, scene types and their probabilities, per-type object mixes, colours.

Frequencies were tuned on 2000 scenes towards BDD100K class statistics. In a mix, ``p_*`` is a
probability (per road side for side features), ``n_*`` a Poisson mean per scene and a pair
``(lo, hi)`` a range; sizes are in camera-height units.
"""
from __future__ import annotations

import numpy as np

from ...labels import NUM_CLASSES

(ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY,
 PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE) = range(NUM_CLASSES)  # labels.py order

SCENE_TYPES = ("urban", "suburban", "highway", "rural")
SCENE_P = (0.42, 0.28, 0.15, 0.15)
TIMES, TIME_P = ("day", "dusk", "night"), (0.62, 0.13, 0.25)
WEATHERS, WEATHER_P = ("clear", "cloudy", "overcast", "rain", "fog"), (0.45, 0.22, 0.16, 0.09, 0.08)

# lanes: (min, max) count; two_way: p of oncoming lanes; parking: p of a parking lane per side;
# sidewalk: (p, min, max width); field: (class, p) beyond the sidewalk; setback, building_height,
# tree_gap: ranges; p_building_gap: p of a gap after each building.
MIX = {
    "urban": dict(lanes=(2, 3), two_way=0.75, parking=0.7, sidewalk=(0.95, 0.8, 1.8),
                  field=((SIDEWALK, 0.92), (TERRAIN, 0.08)), p_build=0.93, setback=(0.0, 0.4),
                  building_height=(4.0, 15.0), p_building_gap=0.2, p_trees=0.35, tree_gap=(5, 11),
                  p_hedge=0.03, p_wall=0.16, p_fence=0.14, p_lamps=0.4, n_cars=6.5, n_parked=3.5,
                  n_trucks=0.22, n_bus=0.25, p_tram=0.03, p_train=0.0, n_people=1.6, p_cross=0.7,
                  p_lights=0.8, n_signs=1.4, p_bike=0.11, p_moto=0.06, p_skyline=0.9, p_treeline=0.3),
    "suburban": dict(lanes=(2, 2), two_way=0.95, parking=0.3, sidewalk=(0.6, 0.4, 0.8),
                     field=((TERRAIN, 0.4), (VEGETATION, 0.4), (SIDEWALK, 0.2)), p_build=0.8,
                     setback=(1.0, 3.5), building_height=(2.2, 4.0), p_building_gap=0.6, p_trees=0.85,
                     tree_gap=(3, 8), p_hedge=0.25, p_wall=0.15, p_fence=0.25, p_lamps=0.3, n_cars=4.5,
                     n_parked=2.0, n_trucks=0.22, n_bus=0.08, p_tram=0.0, p_train=0.015, n_people=0.5,
                     p_cross=0.3, p_lights=0.35, n_signs=1.0, p_bike=0.09, p_moto=0.04, p_skyline=0.2,
                     p_treeline=0.8),
    "highway": dict(lanes=(3, 4), two_way=0.0, parking=0.0, sidewalk=(0.0, 0.0, 0.0),
                    field=((TERRAIN, 0.55), (VEGETATION, 0.45)), p_build=0.1, setback=(4.0, 8.0),
                    building_height=(3.0, 8.0), p_building_gap=0.7, p_trees=0.65, tree_gap=(2, 6),
                    p_hedge=0.1, p_wall=0.35, p_fence=0.35, p_lamps=0.25, n_cars=7.0, n_parked=0.0,
                    n_trucks=0.8, n_bus=0.08, p_tram=0.0, p_train=0.0, n_people=0.05, p_cross=0.0,
                    p_lights=0.0, n_signs=1.5, p_bike=0.0, p_moto=0.05, p_skyline=0.25, p_treeline=0.7),
    "rural": dict(lanes=(2, 2), two_way=1.0, parking=0.0, sidewalk=(0.05, 0.4, 0.7),
                  field=((TERRAIN, 0.7), (VEGETATION, 0.3)), p_build=0.25, setback=(2.0, 6.0),
                  building_height=(2.2, 4.5), p_building_gap=0.85, p_trees=0.8, tree_gap=(2, 8),
                  p_hedge=0.2, p_wall=0.12, p_fence=0.3, p_lamps=0.12, n_cars=2.0, n_parked=0.0,
                  n_trucks=0.35, n_bus=0.04, p_tram=0.0, p_train=0.08, n_people=0.3, p_cross=0.0,
                  p_lights=0.1, n_signs=1.0, p_bike=0.03, p_moto=0.03, p_skyline=0.0, p_treeline=0.95),
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
HAIR_RGB = ((25, 20, 18), (80, 55, 35), (160, 130, 80))
BARK_RGB = ((80, 64, 50), (100, 92, 82))
POLE_RGB = ((122, 124, 127), (86, 89, 93), (45, 55, 48), (105, 90, 70))
SKY_RGB = {"day": ((62, 112, 192), (178, 204, 232), (246, 246, 250)),  # zenith, horizon, cloud
           "dusk": ((72, 70, 128), (252, 150, 92), (240, 162, 150)),
           "night": ((3, 5, 14), (26, 26, 40), (34, 34, 44))}
OVERCAST_RGB = ((140, 146, 154), (196, 198, 203), (212, 214, 217))
MARK_RGB, CENTRE_LINE_RGB = (222, 222, 212), (220, 180, 50)  # white lane marks, yellow centre line
TAIL_RGB, HEAD_RGB, LAMP_RGB = (235, 30, 25), (255, 248, 222), (255, 226, 160)
SIGNAL_RGB = ((235, 40, 35), (245, 172, 30), (40, 232, 122))  # red, amber, green
SIGN_SHAPES = ("circle", "blue", "tri", "rect", "diamond", "stop", "back")
SIGN_P = (0.24, 0.14, 0.16, 0.2, 0.1, 0.06, 0.1)


# ---------------------------------------------------------------- drawing from the tables
def pick_colour(rng: np.random.Generator, table, jitter: float = 10.0) -> np.ndarray:
    """Random entry of a colour table with per-channel jitter."""
    return np.asarray(table[rng.integers(len(table))], np.float32) + rng.normal(0, jitter, 3).astype(np.float32)


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """Log-uniform in [lo, hi] (hi itself, with no draw, when hi <= lo)."""
    return lo * (hi / lo) ** rng.random() if hi > lo else hi
