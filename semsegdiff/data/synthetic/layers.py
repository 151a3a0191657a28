"""Drawing a planned Scene: sky, ground, far band, the upright objects far to near, bonnet, finish.

No randomness here: everything random was drawn by plan.plan_scene.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from ...labels import IGNORE, THINGS
from ..instances import compact
from .camera import Canvas, fractional_part, paint, saturate, smooth_noise
from .environment import Environment
from .objects import draw_object
from .plan import Finish, Hood, Scene
from .tables import BUILDING, LAMP_RGB, MARK_RGB, OVERCAST_RGB, ROAD, SIDEWALK, SKY_RGB, VEGETATION


def draw_scene(scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render a planned scene: image uint8 (H, W, 3) RGB, mask uint8 (H, W) of train ids and instance ids uint16
    (H, W): each object's pixels of a thing class (a cyclist: its rider and its bicycle) one instance, 0 elsewhere."""
    env, (h, w) = scene.env, scene.pixel_noise.shape
    canvas = Canvas(h, w, env.camera, scene.pixel_noise, smooth_noise(scene.low_lattice, h, w))
    draw_sky(canvas, scene)
    draw_ground(canvas, env)
    draw_far_band(canvas, scene)
    for k, placed in enumerate(sorted(scene.objects, key=lambda placed: placed.inv_depth), start=1):
        canvas.object = k
        draw_object(canvas, placed)
    canvas.object = 0
    if scene.hood is not None:
        draw_hood(canvas, scene.hood)
    return finish_image(canvas, env, scene.finish), canvas.mask, instances_of(canvas.objects, canvas.mask)


def instances_of(objects: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Instance ids (uint16, 1..K in drawing order) of the thing-class pixels of each object, 0 elsewhere."""
    key = np.where(np.isin(mask, THINGS) & (objects > 0), objects.astype(np.int64) * 256 + mask, 0)
    return compact(key)


def sky_colours(env: Environment) -> tuple:
    """(zenith, horizon, cloud) colours for the time of day and weather."""
    return OVERCAST_RGB if env.weather in ("overcast", "rain", "fog") and env.time == "day" else SKY_RGB[env.time]


def horizon_colour(env: Environment) -> np.ndarray:
    """Sky colour at the horizon (also the colour of haze)."""
    return np.float32(sky_colours(env)[1])


def draw_sky(canvas: Canvas, scene: Scene) -> None:
    """Gradient from zenith to horizon with clouds (by weather) and, at night, a few lights."""
    env, horizon_row = scene.env, canvas.horizon_row
    zenith, horizon, cloud = sky_colours(env)
    t = (canvas.rows[:horizon_row] / env.camera.horizon)[:, None, None] ** 1.6
    rgb = np.float32(zenith) + (np.float32(horizon) - np.float32(zenith)) * t
    threshold = dict(clear=1.2, cloudy=0.1, overcast=-0.6, rain=-0.8, fog=0.0)[env.weather]
    clouds = smooth_noise(scene.cloud_lattice, canvas.size, canvas.width)[:horizon_row]
    clouds = clouds + 0.3 * canvas.low_noise[:horizon_row]
    cover = np.clip((clouds - threshold) * 1.5, 0, 1)[..., None]
    canvas.image[:horizon_row] = rgb + (np.float32(cloud) - rgb) * cover * (1 - 0.5 * t)
    canvas.glow[:horizon_row] = 1.0
    if scene.stars is not None:
        canvas.image[scene.stars] = 200


def draw_ground(canvas: Canvas, env: Environment) -> None:
    """Road, lane marks, crossing, kerb, sidewalk and field classes from each pixel's ground coordinates."""
    horizon_row, size = canvas.horizon_row, canvas.size
    inv_depth = (canvas.rows[horizon_row:] - env.camera.horizon)[:, None]  # per row
    z = 1 / inv_depth
    x = (canvas.cols[None, :] - canvas.column(0.0, inv_depth)) / inv_depth  # lateral offset
    left, right = env.road
    cls = np.full(x.shape, ROAD, np.uint8)
    for side, edge, sidewalk, field in ((-1, left, env.sidewalk[0], env.field[0]),
                                        (1, right, env.sidewalk[1], env.field[1])):
        out = side * (x - edge)  # distance beyond the kerb
        cls[out > 0] = SIDEWALK
        cls[out > sidewalk] = field
    cross = env.cross
    if cross is not None:
        cls[np.broadcast_to((z > cross.near) & (z < cross.far), x.shape)] = ROAD
    n, low = canvas.noise[horizon_row:], canvas.low_noise[horizon_row:]
    road = env.asphalt * (1 + 0.05 * n + 0.07 * low)[..., None]
    dash = np.where(6.0 * inv_depth * inv_depth * size > 3, fractional_part(z / 6.0) < 0.4, 0.4)  # mean if blurred
    for x0, width, dashed, colour in env.marks:
        half_px = 0.5 * width * inv_depth * size
        cover = saturate(half_px + 0.5 - np.abs(x - x0) * inv_depth * size) * np.minimum(1, 2 * half_px)
        a = cover * (dash if dashed else 1)
        road += (np.float32(colour) - road) * a[..., None]
    if cross is not None and cross.zebra:
        zebra = (np.where(0.8 * inv_depth * size > 3, fractional_part(x / 0.8) < 0.5, 0.5)
                 * ((z > cross.near - 2.2) & (z < cross.near - 0.4)))
        road += (np.float32(MARK_RGB) - road) * (zebra * (x > left) * (x < right))[..., None]
    if env.tram:
        for x_rail in (env.lanes[-1][0] - 0.45, env.lanes[-1][0] + 0.45):
            road = paint(road, np.abs(x - x_rail) * inv_depth * size < 0.5, (120, 120, 126))
    tile = (fractional_part(x / 0.6) < 0.1) | (fractional_part(z / 0.6) < 0.1)
    kerb = (np.abs(x - left) < 0.12) | (np.abs(x - right) < 0.12)
    pave = env.pave * (1 + 0.05 * n + 0.05 * low - 0.12 * tile * saturate(0.6 * inv_depth * inv_depth * size / 3 - 0.3)
                       + 0.15 * kerb)[..., None]
    field = np.where((x < 0)[..., None], env.field_rgb[0], env.field_rgb[1])
    amp = np.where(x < 0, env.field_amp[0], env.field_amp[1])
    field = field * (1 + amp * n + 0.1 * low)[..., None]
    rgb = np.where((cls == ROAD)[..., None], road, np.where((cls == SIDEWALK)[..., None], pave, field))
    canvas.image[horizon_row:], canvas.mask[horizon_row:] = rgb, cls
    canvas.inv_depth[horizon_row:] = np.broadcast_to(inv_depth, x.shape)
    if env.time == "night":  # ego headlight beam
        canvas.glow[horizon_row:] = 0.7 * np.exp(-(x / 1.5) ** 2 - z / 10)


def draw_far_band(canvas: Canvas, scene: Scene) -> None:
    """Distant skyline blocks and/or treeline hugging the horizon (drawn behind everything else)."""
    if scene.skyline is not None:
        sky = scene.skyline
        block = np.minimum(np.searchsorted(np.cumsum(sky.widths), canvas.cols), len(sky.heights) - 1)
        _paint_band(canvas, scene.env, BUILDING, sky.heights[block], sky.tones[block], sky.colour, 0.002)
    if scene.treeline is not None:
        trees = scene.treeline
        profile = smooth_noise(trees.lattice, canvas.size, canvas.width)[0]
        height = np.abs(0.015 + 0.02 * trees.amplitude * (1 + profile))
        _paint_band(canvas, scene.env, VEGETATION, height, 1.0, trees.colour * 0.8, 0.003)


def _paint_band(canvas: Canvas, env: Environment, cls: int, height, tone, colour, inv_depth: float) -> None:
    """Paint a band of the given height per column above the horizon where nothing nearer is."""
    horizon_row = canvas.horizon_row
    v = canvas.rows[:horizon_row, None]
    sel = (v >= env.camera.horizon - height) & (canvas.inv_depth[:horizon_row] < inv_depth)
    amp = 0.2 if cls == VEGETATION else 0.05
    rgb = colour * (tone * (1 + amp * canvas.noise[:horizon_row]))[..., None]
    rgb = rgb * 0.6 + horizon_colour(env) * 0.4  # aerial perspective
    image, mask = canvas.image[:horizon_row], canvas.mask[:horizon_row]
    image[sel], mask[sel] = rgb[sel], cls
    canvas.inv_depth[:horizon_row][sel], canvas.glow[:horizon_row][sel] = inv_depth, 0.0
    if env.time == "night" and cls == BUILDING:
        lit = sel & (canvas.noise[:horizon_row] > 1.6)
        image[lit], canvas.glow[:horizon_row][lit] = LAMP_RGB, 1.0


def draw_hood(canvas: Canvas, hood: Hood) -> None:
    """Ego-car bonnet along the bottom edge: glossy dark paint, labelled IGNORE (255)."""
    size, top, rows = canvas.size, hood.top, canvas.rows
    edge = top + 0.6 * (1 - top) * ((canvas.cols - canvas.camera.aspect / 2) / 0.5) ** 2  # per column
    inside = rows[:, None] > edge[None, :]
    shine = np.clip(1 - (rows[:, None] - edge[None, :]) * size / 3, 0, 1)[..., None]
    paint_rgb = hood.paint * 0.6
    canvas.image = np.where(inside[..., None], paint_rgb + (canvas.image * 0.6 - paint_rgb) * shine * 0.7, canvas.image)
    canvas.mask[inside], canvas.inv_depth[inside], canvas.glow[inside] = IGNORE, 1.0, 0.0


def finish_image(canvas: Canvas, env: Environment, finish: Finish) -> np.ndarray:
    """Haze/fog, lighting, exposure, white balance, optics blur and sensor noise (image only) -> uint8."""
    image = canvas.image
    fog = env.weather == "fog"
    w = np.where(canvas.inv_depth > 0, 1 - np.exp(-finish.haze / np.maximum(canvas.inv_depth, 1e-4)), 0.85 * fog)
    fog_rgb = horizon_colour(env) if not fog else np.float32((190, 192, 196)) * (0.25 if env.time == "night" else 1)
    image = image + (fog_rgb - image) * w[..., None]
    ambient = dict(day=1.0, dusk=0.7, night=finish.night_ambient)[env.time]
    ambient = ambient * (np.float32((1.08, 0.9, 0.78)) if env.time == "dusk" else 1.0)
    if env.weather in ("rain", "overcast"):
        image = image * (0.78 if env.weather == "rain" else 0.92)
        image = image * 0.7 + image.mean(-1, keepdims=True) * 0.3
    image = image * (ambient + (1 - ambient) * canvas.glow[..., None])
    if env.time != "day" and canvas.glow[canvas.horizon_row:].max() > 0.9:  # bloom around lights
        image += ndimage.gaussian_filter(image * (canvas.glow[..., None] > 0.9), (1.2, 1.2, 0)) * 0.8
    if finish.rain is not None:  # streaks
        rows, cols = finish.rain
        for o in range(3):
            image[rows + o, cols] += 25
    image *= np.exp(finish.exposure) * np.exp(finish.white_balance).astype(np.float32)
    image = ndimage.gaussian_filter(image, (finish.blur,) * 2 + (0,))
    image += finish.sensor_noise
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)
