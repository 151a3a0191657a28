"""Mask edits that keep instances: two cars inserted side by side are two cars.

An instance map is a ``uint16`` array (H, W) beside its mask: 0 where there is no object instance,
one id per object (:mod:`semsegdiff.data.instances` reads and writes the BDD100K and Cityscapes
files). The functions here edit a (mask, instances) pair the way :mod:`semsegdiff.masks` edits a mask,
returning NEW arrays, and give every new object its own id:

- :func:`insert`: ``masks.insert`` (the same silhouettes, perspective and automatic placement); each
  thing class of the object is a new instance (a cyclist: its rider and its bicycle), and the pixels
  it covers leave the instances they were part of;
- :func:`move`: one instance moved by (dy, dx), its hole filled from the nearest other pixels (their
  classes and instances);
- :func:`paint`: a region painted with a class as one new instance (a thing class) or none;
- :func:`check`: the checks a map read from disk passes (its mask's size, one class per id, no ignore).

Example::

    m, ids = masks.read("scene.png"), np.zeros((h, w), np.uint16)
    m, ids = instances.insert(m, ids, "car", (100, 40))
    m, ids = instances.insert(m, ids, "car", (100, 60))  # touching the first: still two instances
    model.generate(m[None], instances=ids[None])
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

from .data.instances import check_instances
from .errors import DataError, SettingError
from .labels import IGNORE, THINGS
from .placement import drawn
from .shapes import as_region, check_mask, class_name, class_of, number


def check(mask, instances) -> tuple[np.ndarray, np.ndarray]:
    """(mask, instances) checked: uint8 train ids and a whole-number map of its shape, one class per id, none on
    ignore (DataError naming a pixel); the map returned as uint16."""
    mask = check_mask(mask)
    ids = np.asarray(instances)
    if ids.shape != mask.shape:
        raise DataError(f"instances: the map's shape is {ids.shape} but its mask's is {mask.shape} (H, W)")
    if ids.dtype.kind not in "ui":
        raise DataError(f"instances: expected whole-number ids 0..65535, got dtype {ids.dtype}")
    if ids.min() < 0 or ids.max() > 65535:
        raise DataError(f"instances: ids must be 0..65535, got {int(ids.min())}..{int(ids.max())}")
    return mask, check_instances(ids.astype(np.uint16), mask, "instances")


def next_id(instances: np.ndarray) -> int:
    """The smallest id above every id in the map."""
    return int(np.asarray(instances).max(initial=0)) + 1


def _number(mask: np.ndarray, ids: np.ndarray, region: np.ndarray) -> np.ndarray:
    """ids with each thing class inside ``region`` a new instance and its other classes none."""
    out, new = ids.copy(), next_id(ids)
    out[region] = 0
    for cls in np.unique(mask[region]):
        if cls in THINGS:
            out[region & (mask == cls)] = new
            new += 1
    if new > 65536:
        raise SettingError("instances: 65535 instances in one map is the most a uint16 map holds")
    return out


def renumber(mask, instances, region) -> np.ndarray:
    """The instance ids of ``mask`` whose pixels in ``region`` changed (a paste, an edit made elsewhere): each thing
    class inside ``region`` a new instance, ignore pixels none."""
    ids = np.where(np.asarray(mask) == IGNORE, 0, np.asarray(instances)).astype(np.uint16)
    return _number(np.asarray(mask), ids, np.asarray(region, bool))


def insert(mask, instances, cls, at, height: float | None = None, *, seed=None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`semsegdiff.masks.insert` on (mask, instances): the object's thing classes get new ids."""
    mask, ids = check(mask, instances)
    out, covered = drawn(mask, cls, at, height, seed=seed)
    return out, _number(out, ids, covered)


def paint(mask, instances, region, cls) -> tuple[np.ndarray, np.ndarray]:
    """Paint a boolean ``region`` with ``cls``: one new instance if it is a thing class, none otherwise."""
    mask, ids = check(mask, instances)
    region, cls = as_region(region, mask.shape, "paint: region"), class_of(cls)
    out = mask.copy()
    out[region] = cls
    return out, _number(out, ids, region) if cls != IGNORE else np.where(region, 0, ids).astype(np.uint16)


def move(mask, instances, instance: int, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    """Move one instance by (dy, dx) in front of what is there; the vacated pixels take the class and instance of
    the nearest other pixel (never ignore). Pixels moved outside the mask are dropped with a warning."""
    mask, ids = check(mask, instances)
    k = int(number(instance, "instance", 1, whole=True))
    dy, dx = (int(number(v, name, None, whole=True)) for v, name in ((dy, "dy"), (dx, "dx")))
    own = ids == k
    if not own.any():
        present = np.unique(ids[ids > 0])
        raise SettingError(f"move: no instance {k} in this map (it has {', '.join(map(str, present[:20])) or 'none'})")
    cls = int(mask[own][0])
    source = ~own & (mask != IGNORE)
    if not source.any():
        raise SettingError(f"move: instance {k} ({class_name(cls)}) covers the whole mask: nothing fills its hole")
    _, (ir, ic) = ndimage.distance_transform_edt(~source, return_indices=True)
    out, out_ids = mask.copy(), ids.copy()
    out[own], out_ids[own] = mask[ir[own], ic[own]], ids[ir[own], ic[own]]
    rr, cc = np.nonzero(own)
    rr, cc = rr + dy, cc + dx
    inside = (rr >= 0) & (rr < mask.shape[0]) & (cc >= 0) & (cc < mask.shape[1])
    if not inside.any():
        raise SettingError(f"move: moving instance {k} by (dy={dy}, dx={dx}) takes all of it outside the "
                           f"{mask.shape[0]}x{mask.shape[1]} mask")
    if not inside.all():
        warnings.warn(f"move: {int((~inside).sum())} of {len(rr)} pixels of instance {k} moved outside the mask and "
                      "were dropped", stacklevel=2)
    out[rr[inside], cc[inside]], out_ids[rr[inside], cc[inside]] = cls, k
    return out, out_ids
