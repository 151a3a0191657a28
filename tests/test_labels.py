import numpy as np
import pytest

from semsegdiff.labels import (CLASS_NAMES, IGNORE, LABELS, NUM_CLASSES, PALETTE, THINGS, cityscapes_lut, class_id,
                               colors_to_ids, ids_to_colors)


def test_class_table():
    assert NUM_CLASSES == 19 and CLASS_NAMES[0] == "road" and CLASS_NAMES[18] == "bicycle"
    assert [label.id for label in LABELS] == list(range(19))
    assert PALETTE.shape == (19, 3) and len({tuple(c) for c in PALETTE}) == 19
    assert tuple(PALETTE[class_id("car")]) == (0, 0, 142)  # official Cityscapes colour
    assert [CLASS_NAMES[i] for i in THINGS] == ["person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"]


@pytest.mark.parametrize("name, expected", [("road", 0), ("background", 0), ("Traffic Light", 6),
                                            ("traffic_sign", 7), ("motorbike", 17), (" SKY ", 10)])
def test_name_lookup(name, expected):
    assert class_id(name) == expected


def test_unknown_name_lists_closest():
    with pytest.raises(KeyError, match="unknown class name 'vegetaton'; closest: 'vegetation'"):
        class_id("vegetaton")


def test_cityscapes_lut():
    lut = cityscapes_lut()
    assert lut[7] == 0 and lut[26] == 13 and lut[33] == 18 and lut[0] == IGNORE and lut[34] == IGNORE


def test_colour_round_trip_and_unknown():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, NUM_CLASSES, (16, 16)).astype(np.uint8)
    rgb = ids_to_colors(ids)
    back, unknown = colors_to_ids(rgb, {i: tuple(int(c) for c in PALETTE[i]) for i in range(NUM_CLASSES)})
    assert not unknown.any() and np.array_equal(back, ids)
    rgb[3, 4] = (1, 1, 1)
    back, unknown = colors_to_ids(rgb, {i: tuple(int(c) for c in PALETTE[i]) for i in range(NUM_CLASSES)})
    assert unknown.sum() == 1 and unknown[3, 4] and back[3, 4] == IGNORE
