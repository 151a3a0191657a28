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
Time of day, weather and scene type are each scene's attributes (:func:`scene_attributes`),
written with the dataset as ``attributes.csv``.

Rendering is two steps: ``plan_scene`` makes every random draw into a ``Scene``, ``draw_scene``
paints it deterministically. Modules, in dependency order:

    tables       class ids, scene-type mixes, colour tables (and picking from them)
    camera       camera geometry, the canvas, vertical patches and pixel helpers
    environment  scene type, camera, road layout, lighting, ground colours
    styles       random looks of the upright objects
    placement    where the upright objects go
    plan         the Scene: all of the above plus the image-side draws
    objects      drawing the upright objects
    layers       drawing a Scene: sky, ground, far band, objects, bonnet, finish
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ...attributes import encode
from ...config import check_setting
from ...files import check_output
from ...frame import Size, frame, label, pixels
from ...limits import check_memory
from ..formats import write_bdd100k
from .layers import draw_scene
from .plan import Scene, plan_scene

__all__ = ["Scene", "draw_scene", "plan_scene", "render_instances", "render_scene", "render_scenes", "scene_attributes",
           "write_dataset"]


def render_scene(rng: np.random.Generator, size: Size = 64) -> tuple[np.ndarray, np.ndarray]:
    """One scene: image uint8 (H, W, 3) RGB and mask uint8 (H, W) of train ids (``size``: a side or [H, W])."""
    return draw_scene(plan_scene(rng, size))[:2]


def scene_attributes(scene: Scene) -> dict[str, str]:
    """The attributes of a scene in the renderer's words (time, weather, scene type): ``encode`` maps them."""
    return {"time": scene.env.time, "weather": scene.env.weather, "scene": scene.env.kind}


def render_scenes(n: int, size: Size = 64, seed: int = 0, progress: bool = False,
                  workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """n scenes as (images (n, H, W, 3) uint8, masks (n, H, W) uint8); ``size`` a side or [H, W] (instance ids:
    :func:`render_instances`).

    Scene i uses ``np.random.default_rng([seed, i])``: the same seed gives the same data and a
    prefix of a larger run equals a smaller run, whatever the number of ``workers`` (processes;
    default: one per core, up to 16, for runs large enough to pay for starting them).
    """
    return _render(n, size, seed, progress, workers)[:2]


def render_instances(n: int, size: Size = 64, seed: int = 0, progress: bool = False,
                     workers: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`render_scenes` with each scene's instance ids: (images, masks, instances (n, H, W) uint16)."""
    images, masks, _, instances = _render(n, size, seed, progress, workers)
    return images, masks, instances


def _render(n: int, size: Size, seed: int, progress: bool, workers: int | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`render_scenes`, the scenes' attribute codes (n, 3) uint8 and their instance ids (n, H, W) uint16."""
    size = check_setting("size", size)
    images = np.empty((n, *frame(size), 3), np.uint8)
    masks = np.empty((n, *frame(size)), np.uint8)
    instances = np.empty((n, *frame(size)), np.uint16)
    codes = np.empty((n, 3), np.uint8)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = min(16, cores) if workers is None else max(1, workers)
    if n * pixels(size) < 2_000_000:  # ~3 s of rendering: not worth the processes (quick profile: 2000 at 32 px)
        workers = 1
    chunks = [range(s, min(n, s + 64)) for s in range(0, n, 64)]
    bar = tqdm(total=n, desc=f"render {label(size)}px scenes", disable=not progress, mininterval=1.0)
    if workers == 1:
        done = map(_render_chunk, [(seed, c, size) for c in chunks])
    else:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        done = pool.map(_render_chunk, [(seed, c, size) for c in chunks])
    try:
        for c, (chunk_images, chunk_masks, chunk_codes, chunk_instances) in zip(chunks, done):
            images[c.start:c.stop], masks[c.start:c.stop], codes[c.start:c.stop] = chunk_images, chunk_masks, chunk_codes
            instances[c.start:c.stop] = chunk_instances
            bar.update(len(c))
    finally:
        bar.close()
        if workers > 1:
            pool.shutdown(cancel_futures=True)
    return images, masks, codes, instances


def _render_chunk(job: tuple[int, range, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    seed, chunk, size = job
    scenes = [plan_scene(np.random.default_rng([seed, i]), size) for i in chunk]
    pairs = [draw_scene(scene) for scene in scenes]
    return (np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]),
            encode([scene_attributes(scene) for scene in scenes], "synthetic scene"), np.stack([p[2] for p in pairs]))


def write_dataset(out: str | Path, *, n: int = 2000, size: Size = 64, seed: int = 0, val_fraction: float = 0.125,
                  overwrite: bool = False, progress: bool = True) -> Path:
    """Render ``n`` scenes and write them to ``out`` in the official BDD100K layout.

    The last ``round(n * val_fraction)`` scenes form the val split; ``attributes.csv`` holds
    each scene's time of day, weather and scene type; BDD100K bitmasks (``labels/ins_seg/bitmasks``)
    each object's instance id. The folder appears only when complete, so an interrupted run leaves
    nothing behind; an existing one is replaced only with ``overwrite`` and only if semsegdiff wrote it.
    """
    n, size, seed, val_fraction = (check_setting(k, v) for k, v in (
        ("n_synthetic", n), ("size", size), ("seed", seed), ("val_fraction", val_fraction)))
    check_output(out, overwrite=overwrite)  # before the rendering, not after
    check_memory(n * pixels(size) * 4, f"n_synthetic {n} scenes at size {label(size)}")  # images and masks, in memory
    images, masks, codes, instances = _render(n, size, seed, progress)
    names = [f"synth-s{seed}-{i:06d}" for i in range(n)]
    n_train = n - round(n * val_fraction)
    splits = {"train": (images[:n_train], masks[:n_train], names[:n_train])}
    attributes, ids = {"train": codes[:n_train]}, {"train": instances[:n_train]}
    if n_train < n:
        splits["val"] = (images[n_train:], masks[n_train:], names[n_train:])
        attributes["val"], ids["val"] = codes[n_train:], instances[n_train:]
    return write_bdd100k(out, splits, attributes=attributes, instances=ids, overwrite=overwrite)
