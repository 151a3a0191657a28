"""Mask editing (semsegdiff.masks): properties on random and synthetic masks, auto-insert rates, user errors."""
from __future__ import annotations

import collections
import functools
import json
import re
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage
from torchvision.io import decode_jpeg, encode_jpeg

from semsegdiff import masks, placement, shapes
from semsegdiff.data.synthetic import plan_scene, render_scenes
from semsegdiff.errors import DataError, SettingError
from semsegdiff.labels import IGNORE, NUM_CLASSES, class_id, ids_to_colors

from conftest import FIXTURE

IDS = list(range(NUM_CLASSES)) + [IGNORE]
FAST = settings(max_examples=25, deadline=None)
SKY, ROAD, SIDEWALK = class_id("sky"), class_id("road"), class_id("sidewalk")


@functools.cache
def scenes(size: int = 48) -> np.ndarray:
    """A few synthetic scene masks, rendered once."""
    return render_scenes(12, size, seed=11)[1]


sides = st.integers(8, 48)
noise_masks = st.tuples(sides, sides).flatmap(lambda hw: hnp.arrays(np.uint8, hw, elements=st.sampled_from(IDS)))
blocky_masks = st.builds(lambda small, h, w: masks.resize(small, (h, w)),
                         hnp.arrays(np.uint8, st.tuples(st.integers(1, 6), st.integers(1, 6)),
                                    elements=st.sampled_from(IDS)), sides, sides)
scene_masks = st.integers(0, 11).map(lambda i: scenes()[i])
any_masks = st.one_of(noise_masks, blocky_masks, scene_masks)
classes = st.one_of(st.sampled_from(IDS), st.sampled_from(["car", "road", "pedestrian", "bike", "ignore"]))


def edited(fn, mask, *args, **kwargs) -> np.ndarray:
    """Call an editing function and check what all of them promise: a new valid mask, the input untouched."""
    before = mask.copy()
    out = fn(mask, *args, **kwargs)
    np.testing.assert_array_equal(mask, before)
    assert out is not mask and not np.shares_memory(out, mask)
    assert out.dtype == np.uint8 and out.shape == mask.shape and np.isin(out, IDS).all()
    return out


def inside_mask(data, mask, floats=False):
    h, w = mask.shape
    pick = (lambda n: st.floats(0, n - 1)) if floats else (lambda n: st.integers(0, n - 1))
    return data.draw(st.tuples(pick(h), pick(w)))


# ---------------------------------------------------------------- painting
@FAST
@given(any_masks, classes, classes, st.data())
def test_replace_changes_only_src_inside_where(mask, src, dst, data):
    where = data.draw(st.none() | hnp.arrays(bool, mask.shape))
    out = edited(masks.replace, mask, src, dst, where=where)
    hit = (mask == shapes.class_of(src)) & (True if where is None else where)
    np.testing.assert_array_equal(out, np.where(hit, shapes.class_of(dst), mask))


@FAST
@given(any_masks, classes, st.data())
def test_rectangle_paints_its_box_corners_included(mask, cls, data):
    (r0, c0), (r1, c1) = inside_mask(data, mask), inside_mask(data, mask)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inside the mask: no clipping warning
        out = edited(masks.rectangle, mask, cls, (r0, c0), (r1, c1))
    box = np.zeros(mask.shape, bool)
    box[min(r0, r1):max(r0, r1) + 1, min(c0, c1):max(c0, c1) + 1] = True
    np.testing.assert_array_equal(out, np.where(box, shapes.class_of(cls), mask))


@FAST
@given(any_masks, classes, st.sampled_from(["ellipse", "polygon", "stroke"]), st.data())
def test_shapes_change_only_their_bounding_box(mask, cls, kind, data):
    points = np.array([inside_mask(data, mask, floats=True) for _ in range(data.draw(st.integers(3, 5)))])
    size = data.draw(st.floats(0, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a brush or ellipse may reach outside: tested below
        if kind == "ellipse":
            out, lo, hi = edited(masks.ellipse, mask, cls, points[0], size), points[0] - size, points[0] + size
        elif kind == "polygon":
            out, lo, hi = edited(masks.polygon, mask, cls, points), points.min(0), points.max(0)
        else:
            out, lo, hi = edited(masks.stroke, mask, cls, points, size), points.min(0) - size, points.max(0) + size
    rows, cols = np.indices(mask.shape)
    box = (rows >= lo[0] - 0.5) & (rows <= hi[0] + 0.5) & (cols >= lo[1] - 0.5) & (cols <= hi[1] + 0.5)
    np.testing.assert_array_equal(out[~box], mask[~box])
    painted = out != mask
    assert (out[painted] == shapes.class_of(cls)).all()
    r, c = np.rint(points[0]).astype(int)  # the pixel under a point of the shape is always painted
    assert out[r, c] == shapes.class_of(cls)


@FAST
@given(any_masks, classes, st.data())
def test_fill_recolours_exactly_the_4_connected_region(mask, cls, data):
    r, c = inside_mask(data, mask)
    out = edited(masks.fill, mask, cls, (r, c))
    regions, _ = ndimage.label(mask == mask[r, c])
    region = regions == regions[r, c]
    np.testing.assert_array_equal(out, np.where(region, shapes.class_of(cls), mask))


# ---------------------------------------------------------------- inserting objects
@FAST
@given(scene_masks, st.sampled_from(list(masks.SILHOUETTES)), st.data())
def test_insert_at_a_point_draws_its_silhouette_above_the_foot(mask, obj, data):
    part_classes = {class_id(p[0]) for p in masks.SILHOUETTES[obj].parts}
    mask = masks.remove(mask, np.isin(mask, list(part_classes)))  # so that every drawn pixel shows as changed
    hz = masks.horizon(mask)
    road = np.argwhere((mask == ROAD) & (np.arange(mask.shape[0])[:, None] > hz))
    r, c = road[data.draw(st.integers(0, len(road) - 1))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it may reach outside the mask
        out = edited(masks.insert, mask, obj, (r, c))
    height = masks.SILHOUETTES[obj].height * (r - hz)
    drawn = out != mask
    rows, cols = np.nonzero(drawn.any(axis=1))[0], np.nonzero(drawn.any(axis=0))[0]
    assert rows.max() <= r and rows.min() >= r - height - 1  # stands on its foot row, the default height
    assert cols.min() <= c <= cols.max()
    assert set(np.unique(out[drawn]).tolist()) <= part_classes


def test_insert_auto_is_seeded_and_uses_place():
    mask = scenes()[0]
    a = masks.insert(mask, "person", "auto", seed=3)
    np.testing.assert_array_equal(a, masks.insert(mask, "person", "auto", seed=3))
    np.testing.assert_array_equal(a, masks.insert(mask, "person", masks.place(mask, "person", seed=3)))
    later = masks.insert(a, "car", "auto", seed=4)
    assert (later == class_id("car")).sum() > (a == class_id("car")).sum()
    assert abs(masks.horizon(later) - masks.horizon(mask)) <= 1  # what stands on the road keeps the perspective


SCENES_SEED = 0  # 200 synthetic 64 px scenes: the horizon and placement rates are measured on them


@pytest.fixture(scope="module")
def scenes200() -> np.ndarray:
    return render_scenes(200, 64, seed=SCENES_SEED)[1]


def test_horizon_matches_the_synthetic_camera(scenes200):
    truth = np.array([plan_scene(np.random.default_rng([SCENES_SEED, i]), 64).env.camera.horizon_row(64)
                      for i in range(200)])
    error = np.array([masks.horizon(m) for m in scenes200]) - truth
    assert np.abs(error).mean() <= 1.5 and np.percentile(np.abs(error), 95) <= 3, np.abs(error).mean()


ENRICH = ("bicycle", "motorcycle", "bus", "train", "person")  # the rare classes of the enrichment runs, and people


def placements(scene_masks, objects) -> dict[str, dict]:
    """Measure ``place`` and ``insert`` at its spot (what ``insert(..., "auto")`` does; seed i in scene i) over
    the scenes that show road, per object.

    Returns {object: {"tries", "placed", "why": Counter of refusals (numbers as N), and per placement:
    "rows" (foot row), "heights" (rows drawn), "expected" (H * (row - horizon)), "on_ground", "below" (foot
    below the horizon), "sky_below" / "sky_above" (covers sky below / at or above the horizon row),
    "ignore" (covers ignore), "front" (covers a thing whose lowest pixel in that column is at or below its
    foot row - DEPTH_ROWS), "behind" (the largest share it hides of a thing MIN_HEIGHT or taller) and "shift"
    (how far it moves the horizon estimated from the mask)}}.
    """
    keys = ("rows", "heights", "expected", "on_ground", "below", "sky_below", "sky_above", "ignore", "front", "behind",
            "shift")
    stats = {obj: dict(tries=0, placed=0, why=collections.Counter(), **{k: [] for k in keys}) for obj in objects}
    for i, mask in enumerate(scene_masks):
        if not (mask == ROAD).any():
            continue
        hz, least = masks.horizon(mask), max(4, placement.MIN_HEIGHT * mask.shape[0])
        above = np.arange(mask.shape[0])[:, None] <= hz
        things, _, lowest = placement._things(mask)
        sizes = np.bincount(things.ravel())
        tall = np.array([False] + [s[0].stop - s[0].start >= least for s in ndimage.find_objects(things)])
        for obj in objects:
            s = stats[obj]
            s["tries"] += 1
            try:
                foot = masks.place(mask, obj, seed=i)
            except SettingError as e:
                s["why"][re.sub(r"\d+", "N", str(e).split(": ", 1)[1])] += 1
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # it fits in the mask: no clipping
                out = masks.insert(mask, obj, foot)
            drawn = out != mask
            rows = np.nonzero(drawn.any(axis=1))[0]
            s["placed"] += 1
            for k, v in zip(keys, (foot[0], rows.max() - rows.min() + 1,
                                   masks.SILHOUETTES[placement._object(obj)].height * (foot[0] - hz),
                                   mask[foot] in ((ROAD, SIDEWALK) if obj == "person" else (ROAD,)), foot[0] > hz,
                                   (drawn & ~above & (mask == SKY)).any(), (drawn & above & (mask == SKY)).any(),
                                   (drawn & (mask == IGNORE)).any(), (drawn & (lowest >= foot[0] - placement.DEPTH_ROWS)).any(),
                                   (np.bincount(things[drawn], minlength=len(sizes)) / sizes)[tall].max(initial=0),
                                   abs(masks.horizon(out) - hz))):
                s[k].append(v)
    return stats


RATES = {"person": 0.95, "bicycle": 0.95, "motorcycle": 0.95, "car": 0.95, "bus": 0.8, "truck": 0.8}  # "rider": bicycle


def test_auto_insert_rates_and_rules_on_200_synthetic_scenes(scenes200):
    """insert(..., "auto") on 200 synthetic 64 px scenes (seed 0): placement rates per object over the scenes with
    road, and its rules: foot on its ground below the horizon, height by the perspective, nothing in front and no
    ignore covered, at most half of a thing behind. Sky is covered only at or above the horizon row, as objects
    taller than the camera height (vehicles, people close by) do; never below it."""
    stats = placements(scenes200, RATES)
    for obj, s in stats.items():
        assert s["placed"] / s["tries"] >= RATES[obj], (obj, s["placed"], s["tries"], s["why"])
        assert all(s["on_ground"]) and all(s["below"]), obj
        assert not any(s["sky_below"] + s["ignore"] + s["front"]) and max(s["behind"]) <= 0.5, obj
        assert np.mean(np.abs(np.subtract(s["heights"], s["expected"])) <= 2) >= 0.95, obj  # the perspective
        assert np.corrcoef(s["rows"], s["heights"])[0, 1] > 0.5, obj  # smaller towards the horizon
        assert np.mean(np.array(s["shift"]) <= 1) >= 0.95, obj  # and consistent with it
    assert any(stats["bus"]["sky_above"])  # tall vehicles do hide the sky
    rows = np.concatenate([s["rows"] for s in stats.values()])  # all objects, heights in camera heights
    heights = np.concatenate([np.array(s["heights"]) / masks.SILHOUETTES[obj].height for obj, s in stats.items()])
    assert np.corrcoef(rows, heights)[0, 1] > 0.5


def street(road=(24, 0, 64), sky=24, car=None, ignore=0) -> np.ndarray:
    """A 64x64 mask of building with sky above row ``sky``, road (first row, first col, end col) and a car box
    (rows, cols slices) or ignore rows on top."""
    m = np.full((64, 64), class_id("building"), np.uint8)
    m[:sky] = SKY
    m[road[0]:, road[1]:road[2]] = ROAD
    if car is not None:
        m[car] = class_id("car")
    m[:ignore] = IGNORE
    return m


@pytest.mark.parametrize("mask, obj, words", [
    (street(road=(64, 0, 64)), "car", "it has no road"),
    (street(road=(20, 0, 64))[:21], "car", "none of its road lies below the horizon (row 20)"),
    (street(road=(62, 0, 64)), "car", "reaches down to row 63 only, where a car is 1.1 px tall; automatic placement "
                                      "needs 5.1 px (MIN_HEIGHT) or height="),
    (street()[:, :3], "bus", "it would leave the 64x3 mask wherever it stands"),
    (street(road=(20, 31, 33)), "bus", "no road below the horizon (row 20) wide enough for a bus: the widest road row "
                                       "for its size is 2 px (row 23), a bus there needs 4 px of its 5 px base"),
    (street(ignore=24), "bus", "would cover ignore, sky below the horizon or an object in front of it"),
    (street(road=(24, 20, 44), car=np.s_[26:32, 24:40]), "bus", "would hide more than half of an object (5 px or "
                                                                "taller) behind it"),
])
def test_no_spot_says_why(mask, obj, words):
    with pytest.raises(SettingError, match=f"^no plausible spot for a {obj} in this mask: ") as e:
        masks.insert(mask, obj, "auto", seed=0)
    assert words in str(e.value) and str(e.value).endswith("; pass at=(row, col) to place it yourself"), e.value


def test_insert_auto_on_real_bdd_masks(sample_pairs):
    _, real, _ = sample_pairs
    stats = placements(real, ENRICH)
    for obj, s in stats.items():
        assert s["placed"] == s["tries"] or obj in ("bus", "train"), (obj, s["why"])
        assert all(s["on_ground"]) and not any(s["sky_below"] + s["ignore"] + s["front"]), obj
        assert max(s["shift"]) <= 2, obj


# ---------------------------------------------------------------- removing and moving
@FAST
@given(any_masks, classes)
def test_remove_fills_from_neighbours_never_ignore(mask, cls):
    cid = shapes.class_of(cls)
    if (mask == cid).any() and not ((mask != cid) & (mask != IGNORE)).any():
        with pytest.raises(SettingError, match="whole mask"):
            masks.remove(mask, cls)
        return
    out = edited(masks.remove, mask, cls)
    assert not (out == cid).any()
    np.testing.assert_array_equal(out[mask != cid], mask[mask != cid])
    assert not ((out == IGNORE) & (mask != IGNORE)).any()


@FAST
@given(any_masks, st.data())
def test_remove_region_changes_only_the_region(mask, data):
    region = data.draw(hnp.arrays(bool, mask.shape))
    if not (~region & (mask != IGNORE)).any():
        return
    out = edited(masks.remove, mask, region)
    np.testing.assert_array_equal(out[~region], mask[~region])
    assert not ((out == IGNORE) & region).any()


@FAST
@given(any_masks)
def test_flip_twice_is_identity(mask):
    once = edited(masks.flip, mask)
    np.testing.assert_array_equal(once, mask[:, ::-1])
    np.testing.assert_array_equal(masks.flip(once), mask)


@FAST
@given(any_masks, classes, st.integers(-10, 10), st.integers(-10, 10))
def test_translate_moves_the_class(mask, cls, dy, dx):
    cid = shapes.class_of(cls)
    rr, cc = np.nonzero(mask == cid)
    rr, cc = rr + dy, cc + dx
    inside = (rr >= 0) & (rr < mask.shape[0]) & (cc >= 0) & (cc < mask.shape[1])
    if len(rr) and (not ((mask != cid) & (mask != IGNORE)).any() or not inside.any()):
        with pytest.raises(SettingError):
            masks.translate(mask, cls, dy, dx)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pixels moved out of the mask
        out = edited(masks.translate, mask, cls, dy, dx)
    moved = np.zeros(mask.shape, bool)
    moved[rr[inside], cc[inside]] = True
    np.testing.assert_array_equal(out == cid, moved)  # exactly the moved pixels
    assert not ((out == IGNORE) & (mask != IGNORE) & ~moved).any()
    if dy == dx == 0:
        np.testing.assert_array_equal(out, mask)


@FAST
@given(any_masks, classes, st.integers(0, 4))
def test_grow_and_shrink(mask, cls, n):
    cid = shapes.class_of(cls)
    grown = edited(masks.grow, mask, cls, n)
    assert ((grown == cid) >= (mask == cid)).all()
    far = ndimage.distance_transform_edt(mask != cid) > n
    np.testing.assert_array_equal(grown[far], mask[far])
    if not ((mask != cid) & (mask != IGNORE)).any() and (mask == cid).any() and not (mask == cid).all():
        return  # nothing to fill from
    shrunk = edited(masks.shrink, mask, cls, n)
    assert ((shrunk == cid) <= (mask == cid)).all()
    np.testing.assert_array_equal(shrunk[mask != cid], mask[mask != cid])
    assert not ((shrunk == IGNORE) & (mask != IGNORE)).any()
    if n == 0:
        np.testing.assert_array_equal(grown, mask)
        np.testing.assert_array_equal(shrunk, mask)


@FAST
@given(any_masks, st.integers(1, 4), sides)
def test_resize_nearest(mask, k, side):
    np.testing.assert_array_equal(masks.resize(mask, mask.shape), mask)
    big = masks.resize(mask, (mask.shape[0] * k, mask.shape[1] * k))
    np.testing.assert_array_equal(big, np.repeat(np.repeat(mask, k, 0), k, 1))
    np.testing.assert_array_equal(masks.resize(big, mask.shape), mask)
    assert masks.resize(mask, side).shape == (side, side)


# ---------------------------------------------------------------- sketches, drawings, files
@FAST
@given(any_masks, st.integers(1, 3))
def test_from_ascii_round_trip(mask, k):
    char = {shapes.class_of(name): ch for ch, name in masks.DEFAULT_LEGEND.items()}
    text = "\n".join("".join(char[v] for v in row) for row in mask.tolist())
    np.testing.assert_array_equal(masks.from_ascii(text), mask)
    np.testing.assert_array_equal(masks.from_ascii("\n  " + text.replace("\n", "\n  ") + "\n", size=(
        mask.shape[0] * k, mask.shape[1] * k)), masks.resize(mask, (mask.shape[0] * k, mask.shape[1] * k)))


def test_from_ascii_sketch():
    sketch = masks.from_ascii("""
        ssssssss
        bbsssvvv
        rrrrrrww
        rrcrrrww
    """, size=64)
    assert sketch.shape == (64, 64) and sketch[0, 0] == SKY and sketch[-1, 20] == class_id("car")
    assert masks.from_ascii("ab\nba", legend={"a": "road", "b": 8}).tolist() == [[0, 8], [8, 0]]


@pytest.fixture(scope="module")
def png_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("masks_png")


@FAST
@given(any_masks, st.booleans())
def test_png_round_trip(png_dir, mask, colour):
    path = masks.write(png_dir / "m.png", mask, colour=colour)
    np.testing.assert_array_equal(masks.read(path), mask)
    assert [p.name for p in png_dir.iterdir()] == ["m.png"]  # atomic: no temporary left


@FAST
@given(any_masks)
def test_snap_exact_colours(mask):
    out, report = masks.snap(ids_to_colors(mask))
    np.testing.assert_array_equal(out, mask)
    assert report.far == 0 and report.worst_distance == 0


def test_snap_jpeg_of_a_colour_mask(sample_pairs):
    """Real masks drawn at 256 px and saved as JPEG (4:2:0: colour at half resolution), snapped back."""
    for mask in sample_pairs[1]:
        mask = masks.resize(mask, 256)
        rgb = torch.from_numpy(ids_to_colors(mask)).permute(2, 0, 1).contiguous()
        jpeg = decode_jpeg(encode_jpeg(rgb, quality=90)).permute(1, 2, 0).numpy()
        out, report = masks.snap(jpeg)
        assert (out == mask).mean() >= 0.99, report
        assert "pixels" in str(report) and 0 < report.far < 0.05 * report.pixels


def test_snap_with_a_colormap_json(sample_pairs):
    from torchvision.io import read_image

    _, real, names = sample_pairs
    colormap = json.loads((FIXTURE / "colormap.json").read_text())
    rgb = read_image(str(FIXTURE / "masks" / f"{names[0]}.png")).permute(1, 2, 0).numpy()
    out, report = masks.snap(rgb, palette=colormap)
    np.testing.assert_array_equal(out, real[0])
    assert report.far == 0


@FAST
@given(any_masks, classes, st.data())
def test_diff_counts_and_overlay(mask, cls, data):
    other = masks.rectangle(mask, cls, inside_mask(data, mask), inside_mask(data, mask))
    table, overlay = masks.diff(mask, other)
    changed = mask != other
    assert table["pixels"].sum() == changed.sum() and table["pixels"].is_monotonic_decreasing
    assert overlay.shape == (*mask.shape, 3) and overlay.dtype == np.uint8
    np.testing.assert_array_equal(overlay[changed], ids_to_colors(other)[changed])
    assert (table["to"] == ("ignore" if shapes.class_of(cls) == IGNORE else shapes.class_name(shapes.class_of(cls)))).all()


def test_render_legend_lists_the_classes_present(sample_pairs):
    mask = sample_pairs[1][0]
    fig = masks.render(mask, title="real")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == [shapes.class_name(c) for c in np.unique(mask)]
    plt.close(fig)


# ---------------------------------------------------------------- user errors
def test_unknown_class_names_name_the_closest():
    mask = scenes()[0]
    with pytest.raises(SettingError, match="closest: 'bicycle'"):
        masks.replace(mask, "bycicle", "car")
    with pytest.raises(SettingError, match="no silhouette for 'sky'"):
        masks.insert(mask, "sky", (40, 20))
    with pytest.raises(SettingError, match="id 0..18"):
        masks.fill(mask, 19, (0, 0))


def test_shapes_partly_outside_are_clipped_with_a_warning():
    mask = np.zeros((16, 16), np.uint8)
    with pytest.warns(UserWarning, match="clipped"):
        out = masks.rectangle(mask, "car", (-5, -5), (3, 3))
    assert (out[:4, :4] == class_id("car")).all() and (out == class_id("car")).sum() == 16
    with pytest.warns(UserWarning, match="clipped"):
        masks.stroke(mask, "pole", [(8, 8), (8, 40)], radius=1)
    with pytest.warns(UserWarning, match="clipped"):
        masks.insert(mask, "bus", (15, 15), height=30)


@pytest.mark.parametrize("paint", [
    lambda m: masks.rectangle(m, "car", (20, 20), (30, 30)),
    lambda m: masks.ellipse(m, "car", (-10, 5), 3),
    lambda m: masks.polygon(m, "car", [(-9, 0), (-9, 9), (-3, 4)]),
    lambda m: masks.stroke(m, "car", [(0, 40), (15, 40)], 2),
    lambda m: masks.fill(m, "car", (16, 0)),
    lambda m: masks.insert(m, "car", (3, 99), height=5),
])
def test_shapes_and_points_entirely_outside_are_errors(paint):
    with pytest.raises(SettingError, match="outside the 16x16 mask"):
        paint(np.zeros((16, 16), np.uint8))


def test_ascii_errors_name_the_character_line_and_column():
    with pytest.raises(SettingError, match=r"character 'x' at line 2, column 3"):
        masks.from_ascii("rrrr\nrrxr")
    with pytest.raises(SettingError, match="line 2 has 3 characters but line 1 has 4"):
        masks.from_ascii("rrrr\nrrr")


@pytest.mark.parametrize("bad, match", [
    (np.zeros((4, 4)), "float64 array"),
    (np.zeros((4, 4, 3), np.uint8), "an RGB colour mask"),
    ([[0, 1], [1, 0]], "got list"),
    (np.zeros(4, np.uint8), "2-D uint8"),
    (np.pad(np.full((1, 1), 19, np.uint8), ((2, 1), (3, 0))), r"class id 19 at pixel \(x=3, y=2\)"),
])
def test_masks_that_are_not_2d_uint8_train_ids(bad, match):
    with pytest.raises(DataError, match=match):
        masks.flip(bad)


def test_no_plausible_spot_and_other_setting_errors(tmp_path):
    sky = np.full((32, 32), SKY, np.uint8)
    with pytest.raises(SettingError, match="no plausible spot for a car in this mask: it has no road"):
        masks.insert(sky, "car", "auto", seed=0)
    with pytest.raises(SettingError, match="without road or sidewalk; pass height="):
        masks.insert(sky, "car", (20, 10))
    road = masks.from_ascii("ss\nrr", size=32)
    with pytest.raises(SettingError, match="not below the horizon"):
        masks.insert(road, "person", (10, 10))
    with pytest.raises(SettingError, match="whole mask"):
        masks.remove(road, np.ones((32, 32), bool))
    with pytest.raises(SettingError, match="use a .png name"):
        masks.write(tmp_path / "m.jpg", road)
    for call in (lambda: masks.stroke(road, "car", [(1, 1)], radius=-1), lambda: masks.resize(road, 0),
                 lambda: masks.grow(road, "road", 1.5), lambda: masks.polygon(road, "car", [(1, 1), (2, 2)]),
                 lambda: masks.insert(road, "car", "somewhere"), lambda: masks.replace(road, 0, 1, where=road)):
        with pytest.raises(SettingError):
            call()


# ---------------------------------------------------------------- misuse of the Python API
ROAD32 = masks.from_ascii("ss\nrr", size=32)  # sky above row 16, road below: horizon at row 16
NAN, INF, HUGE = float("nan"), float("inf"), 1e300
EMPTY = np.zeros((0, 5), np.uint8)


def refused(call, error=SettingError) -> str:
    """Run a call that must fail with ``error`` and no warning on the way (no numpy cast, no clipping); its message."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(error) as e:
            call()
    message = str(e.value)
    assert "\n" not in message and not isinstance(e.value.__context__, (FloatingPointError, OverflowError))
    return message


MISUSE = [  # call, error, words the one-line message must contain: the argument and what is allowed
    (lambda: masks.rectangle(ROAD32, "car", (NAN, 1), (3, 3)), SettingError, ["top_left", "finite numbers"]),
    (lambda: masks.rectangle(ROAD32, "car", (1, 1), (3, HUGE)), SettingError, ["bottom_right", "1,000,000"]),
    (lambda: masks.rectangle(ROAD32, "car", (-HUGE, 1), (3, 3)), SettingError, ["top_left", "-1,000,000"]),
    (lambda: masks.ellipse(ROAD32, "car", (INF, 3), 2), SettingError, ["center", "finite numbers"]),
    (lambda: masks.ellipse(ROAD32, "car", (3, 3), NAN), SettingError, ["radii", ">= 0"]),
    (lambda: masks.ellipse(ROAD32, "car", (3, 3), (2, HUGE)), SettingError, ["radii", "<= 1,000,000"]),
    (lambda: masks.ellipse(ROAD32, "car", (3, 3), (-1, 2)), SettingError, ["radii", ">= 0"]),
    (lambda: masks.ellipse(ROAD32, "car", (3, 3), (1, 2, 3)), SettingError, ["radii", "(row radius, col radius)"]),
    (lambda: masks.polygon(ROAD32, "car", [(0, 0), (HUGE, 0), (5, 5)]), SettingError, ["points", "finite"]),
    (lambda: masks.stroke(ROAD32, "car", [(0, 0), (-INF, 3)]), SettingError, ["points", "finite"]),
    (lambda: masks.stroke(ROAD32, "car", [(0, 0)], INF), SettingError, ["radius", ">= 0"]),
    (lambda: masks.stroke(ROAD32, "car", [(0, 0)], -1), SettingError, ["radius", ">= 0"]),
    (lambda: masks.stroke(ROAD32, "car", [(0, 0)], HUGE), SettingError, ["radius", "<= 1,000,000"]),
    (lambda: masks.fill(ROAD32, "car", (NAN, 0)), SettingError, ["fill: at", "finite"]),
    (lambda: masks.fill(ROAD32, "car", (HUGE, 0)), SettingError, ["fill: at", "finite"]),
    (lambda: masks.fill(ROAD32, "car", ("3", 0)), SettingError, ["fill: at", "numbers"]),
    (lambda: masks.insert(ROAD32, "car", (INF, 3)), SettingError, ["insert: at", "finite"]),
    (lambda: masks.insert(ROAD32, "car", (0, -HUGE)), SettingError, ["insert: at", "finite"]),
    (lambda: masks.insert(ROAD32, "car", (30, 10), height=NAN), SettingError, ["height", ">= 1"]),
    (lambda: masks.insert(ROAD32, "car", (30, 10), height=HUGE), SettingError, ["height", "<= 1,000,000"]),
    (lambda: masks.insert(ROAD32, "car", (30, 10), height=-3), SettingError, ["height", ">= 1"]),
    (lambda: masks.place(ROAD32, "car", height=INF), SettingError, ["height", ">= 1"]),
    (lambda: masks.grow(ROAD32, "road", NAN), SettingError, ["pixels", "whole number >= 0"]),
    (lambda: masks.grow(ROAD32, "road", -1), SettingError, ["pixels", "whole number >= 0"]),
    (lambda: masks.shrink(ROAD32, "road", 1.5), SettingError, ["pixels", "whole number >= 0"]),
    (lambda: masks.shrink(ROAD32, "road", 10 ** 400), SettingError, ["pixels", "<= 1,000,000"]),
    (lambda: masks.translate(ROAD32, "road", 1.5, 0), SettingError, ["dy", "whole number"]),
    (lambda: masks.translate(ROAD32, "road", 0, NAN), SettingError, ["dx", "whole number"]),
    (lambda: masks.translate(ROAD32, "road", 10 ** 30, 0), SettingError, ["dy", "-1,000,000 to 1,000,000"]),
    (lambda: masks.changed_region(ROAD32, ROAD32, INF), SettingError, ["grow", "whole number"]),
    (lambda: masks.insert(ROAD32, "car", "auto", seed=-1), SettingError, ["seed", ">= 0", "Generator"]),
    (lambda: masks.insert(ROAD32, "car", "auto", seed=2.0), SettingError, ["seed", "whole number"]),
    (lambda: masks.insert(ROAD32, "car", "auto", seed=True), SettingError, ["seed", "whole number"]),
    (lambda: masks.insert(ROAD32, "car", (30, 10), seed="0"), SettingError, ["seed", "whole number"]),
    (lambda: masks.place(ROAD32, "bus", seed=np.int64(-5)), SettingError, ["seed", ">= 0"]),
    (lambda: masks.from_ascii(b"rr\nss"), SettingError, ["from_ascii: text", "str", "bytes"]),
    (lambda: masks.from_ascii(None), SettingError, ["from_ascii: text", "str", "NoneType"]),
    (lambda: masks.from_ascii(["rr", "ss"]), SettingError, ["from_ascii: text", "str", "list"]),
    (lambda: masks.snap(ids_to_colors(ROAD32), tol=-1), SettingError, ["snap: tol", ">= 0"]),
    (lambda: masks.snap(ids_to_colors(ROAD32), tol=NAN), SettingError, ["snap: tol", ">= 0"]),
    (lambda: masks.snap(np.zeros((0, 4, 3), np.uint8)), DataError, ["snap", "non-empty RGB(A)"]),
    (lambda: masks.diff(ROAD32, EMPTY), DataError, ["b:", "non-empty", "empty 0x5"]),
    (lambda: masks.changed_region(EMPTY, ROAD32), DataError, ["a:", "non-empty", "empty 0x5"]),
] + [(lambda fn=fn, shape=shape: fn(np.zeros(shape, np.uint8)), DataError,
      ["mask:", "non-empty", f"empty {shape[0]}x{shape[1]}"])
     for fn in (masks.flip, masks.horizon, lambda m: masks.fill(m, "car", (0, 0)), lambda m: masks.resize(m, 4),
                lambda m: masks.insert(m, "car", "auto", seed=0), lambda m: masks.rectangle(m, "car", (0, 0), (1, 1)),
                lambda m: masks.replace(m, "road", "car"), masks.render)
     for shape in ((0, 0), (0, 7), (7, 0))]


@pytest.mark.parametrize("call, error, words", MISUSE, ids=[f"{i}-{row[2][0]}" for i, row in enumerate(MISUSE)])
def test_misuse_is_one_error_naming_the_argument(call, error, words):
    message = refused(call, error)
    assert all(w in message for w in words), message


bad_reals = st.one_of(st.sampled_from([NAN, INF, -INF]), st.floats(1e6 + 1, 1e308), st.floats(-1e308, -1e6 - 1))
POINT_ARGS = {  # argument named in the error: a call with the bad number v in it
    "top_left": lambda v: masks.rectangle(ROAD32, "car", (v, 1), (3, 3)),
    "bottom_right": lambda v: masks.rectangle(ROAD32, "car", (1, 1), (3, v)),
    "center": lambda v: masks.ellipse(ROAD32, "car", (3, v), 2),
    "radii": lambda v: masks.ellipse(ROAD32, "car", (3, 3), (v, 2)),
    "points": lambda v: masks.polygon(ROAD32, "car", [(0, 0), (v, 0), (5, 5)]),
    "radius": lambda v: masks.stroke(ROAD32, "car", [(0, 0), (3, 3)], v),
    "fill: at": lambda v: masks.fill(ROAD32, "car", (1, v)),
    "insert: at (or 'auto')": lambda v: masks.insert(ROAD32, "person", (v, 4)),
    "height": lambda v: masks.insert(ROAD32, "person", (20, 4), height=v),
}


@FAST
@given(st.sampled_from(sorted(POINT_ARGS)), bad_reals)
def test_non_finite_or_huge_numbers_are_refused(argument, v):
    before = ROAD32.copy()
    assert refused(lambda: POINT_ARGS[argument](v)).startswith(f"{argument} must be")
    np.testing.assert_array_equal(ROAD32, before)


WHOLE_ARGS = {
    "pixels": lambda v: masks.grow(ROAD32, "road", v), "dy": lambda v: masks.translate(ROAD32, "road", v, 0),
    "dx": lambda v: masks.translate(ROAD32, "road", 0, v), "grow": lambda v: masks.changed_region(ROAD32, ROAD32, v),
    "seed": lambda v: masks.place(ROAD32, "person", seed=v),
}


@FAST
@given(st.sampled_from(sorted(WHOLE_ARGS)), st.one_of(
    bad_reals, st.floats(-1e6, 1e6).filter(lambda v: v != int(v)), st.booleans(), st.just(None), st.text(max_size=2),
    st.integers(10 ** 6 + 1, 10 ** 40), st.integers(-10 ** 40, -10 ** 6 - 1)))
def test_whole_numbers_and_seeds_refuse_anything_else(argument, v):
    if argument == "seed" and (v is None or isinstance(v, int) and not isinstance(v, bool) and v >= 0):
        return  # None (fresh entropy) and any int >= 0 are seeds
    assert refused(lambda: WHOLE_ARGS[argument](v)).startswith(f"{argument} must be")


def test_seeds_ints_and_generators():
    assert masks.place(ROAD32, "person", seed=np.uint8(3)) == masks.place(ROAD32, "person", seed=3)
    assert masks.place(ROAD32, "person", seed=np.random.default_rng(3)) == masks.place(ROAD32, "person", seed=3)
    assert masks.place(ROAD32, "person", seed=10 ** 30) == masks.place(ROAD32, "person", seed=10 ** 30)


def test_snap_honours_alpha_and_read_refuses_jpeg(tmp_path):
    rgba = np.concatenate([ids_to_colors(ROAD32), np.full((32, 32, 1), 255, np.uint8)], axis=2)
    rgba[:4, :, 3] = 0  # transparent: ignore, whatever the colour
    rgba[:4, :, :3] = (255, 255, 255)
    rgba[4:8, :, 3] = 1  # any other alpha: opaque
    out, report = masks.snap(rgba)
    assert (out[:4] == IGNORE).all() and (out[4:] == ROAD32[4:]).all() and report.far == 0
    jpeg = encode_jpeg(torch.from_numpy(ids_to_colors(ROAD32)).permute(2, 0, 1).contiguous()).numpy().tobytes()
    for name in ("m.jpg", "disguised.png"):  # by its bytes, not its name
        (tmp_path / name).write_bytes(jpeg)
        message = refused(lambda: masks.read(tmp_path / name), DataError)
        assert message.startswith(str(tmp_path / name)) and "bytes are JPEG" in message and "PNG" in message
