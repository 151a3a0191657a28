"""Drawing the upright objects, each from its Placed record (no randomness here).

Every object is one or more vertical patches (camera.draw_patch) with a shader in metric
coordinates: s along the patch, y up from the ground, so windows, wheels and fence bars
foreshorten correctly. Details fade to their mean where they would be under a pixel or so.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .camera import (Canvas, column_size, draw_along_road, draw_billboard, draw_patch, flat_shader,
                     fractional_part, paint, saturate, segment_distance)
from .placement import Placed
from .tables import (BICYCLE, BUILDING, BUS, CAR, FENCE, HEAD_RGB, LAMP_RGB, LIGHT, MOTORCYCLE, PERSON, POLE, RIDER,
                     SIGN, SIGNAL_RGB, TAIL_RGB, TRAIN, TRUCK, VEGETATION, WALL)


def draw_object(canvas: Canvas, placed: Placed) -> None:
    """Draw one planned object (buildings and barriers run from placed.z to placed.z_end)."""
    if placed.z_end is not None:
        DRAW[placed.kind](canvas, placed.x, placed.z, placed.z_end, placed.style)
    else:
        DRAW[placed.kind](canvas, placed.x, placed.z, placed.style)


def pole_shader(canvas: Canvas, rgb, half_width: float) -> Callable:
    """Shader: cylinder-shaded pole."""
    return lambda s, y, inv_depth, zone: (
        None, POLE, rgb * (0.75 + 0.35 * (1 - (s / half_width) ** 2) + 0.05 * canvas.noise[zone])[..., None], None)


# ---------------------------------------------------------------- buildings, barriers, vegetation
def draw_building(canvas: Canvas, x: float, z0: float, z1: float, style: dict) -> None:
    """Facade along the road from z0 to z1 at lateral x, then its face towards the camera at z0."""
    side, setback, inv_z = (1 if x > 0 else -1), abs(x), 1 / z0
    height, far = style["height"], setback + style["end_width"]
    draw_along_road(canvas, x, z0, z1, 0, height, facade_shader(canvas, style, style["shade"][0]))
    draw_patch(canvas, (canvas.column(x, inv_z), inv_z, setback), (canvas.column(side * far, inv_z), inv_z, far),
               0, height, facade_shader(canvas, style, style["shade"][1]))


def facade_shader(canvas: Canvas, style: dict, shade: float) -> Callable:
    """Wall with a window grid; windows fade to their mean where the grid period is under ~3 px."""
    pitch, floor = style["window_pitch"], style["floor_height"]
    win_w, win_h = style["window_width"], style["window_height"]

    def shader(s, y, inv_depth, zone):
        ds = column_size(s)
        w = saturate(pitch / (3 * ds) - 0.5) * saturate(floor * inv_depth * canvas.size / 3 - 0.5)
        fx, fy = fractional_part(s / pitch), fractional_part(y / floor)
        win = (np.abs(fx - 0.5) < win_w / 2) & (np.abs(fy - 0.55) < win_h / 2)
        if style["shop"]:
            win = np.where(y < floor, (np.abs(fx - 0.5) < 0.42) & (y > 0.25) & (y < floor * 0.85), win)
        top = style["height"] - (0.7 if style["roof"] is not None else 0.25)
        win &= y < top - 0.1
        a = (win * w + win_w * win_h * (1 - w) * (y < top - 0.1))[..., None]
        wall = style["wall"] * (shade * (1 + 0.05 * canvas.noise[zone] + 0.06 * canvas.low_noise[zone]))[..., None]
        glass = style["glass"] * (1 + 0.25 * fractional_part(s * 0.37)[None, :, None])
        rgb = wall * (1 - a) + glass * a
        rgb = paint(rgb, y >= top, style["wall"] * 0.7 * shade if style["roof"] is None else style["roof"] * shade)
        glow = None
        if style["lit_fraction"]:
            cell = np.floor(s / pitch) * 12.99 + np.floor(y / floor) * 78.23
            lit = win & (fractional_part(np.sin(cell) * 43758.5) < style["lit_fraction"])  # hashed per window
            rgb, glow = paint(rgb, lit, LAMP_RGB), lit * 1.0
        return None, BUILDING, rgb, glow
    return shader


def draw_barrier(canvas: Canvas, x: float, z0: float, z1: float, style: dict) -> None:
    """Wall (blocks), hedge (ragged leafy top) or fence: pattern 0 bars, 1 mesh, 2 slats, 3 guard rail."""
    kind, rgb, height = style["kind"], style["rgb"], style["height"]

    def shader(s, y, inv_depth, zone):
        n = canvas.noise[zone]
        ds = column_size(s)
        if kind == "hedge":
            solid = y < height * (1 - 0.1 * np.abs(n))
            return solid, VEGETATION, rgb * (0.8 + 0.22 * n + 0.15 * y / height)[..., None], None
        if kind == "wall":
            joint = (fractional_part(y / 0.3) < 0.12) & (inv_depth * canvas.size * 0.3 > 3)
            shade = 1 + 0.05 * n - 0.12 * joint + 0.15 * (y > height - 0.08)
            return None, WALL, rgb * shade[..., None], None
        pattern = style["pattern"]
        if pattern == 3:  # guard rail: a band and posts
            solid = (np.abs(y - 0.45) < 0.09) | ((fractional_part(s / 2.0) < 0.06) | (ds > 0.5))[None, :] & (y < 0.45)
            return solid, FENCE, rgb * (1 + 0.1 * n + 0.2 * (y > 0.45))[..., None], None
        rail = (y > height - 0.08) | (np.abs(y - 0.15) < 0.04)
        bars = (fractional_part(s / 0.25) < 0.35) & (ds < 0.12)
        post = fractional_part(s / 2.5) < 0.06
        if pattern == 0:  # bars: background shows between them (mesh look where bars are sub-pixel)
            far = (ds >= 0.12)[None, :] & ~rail  # bars under a pixel: see-through blend
            colour = rgb * (1 + 0.08 * n)[..., None]
            colour = np.where(far[..., None], 0.5 * (colour + canvas.image[zone]), colour)
            return rail | (bars | post | (ds >= 0.12))[None, :], FENCE, colour, None
        if pattern == 1:  # chain-link mesh: whole area is fence, half-transparent
            behind = canvas.image[zone]
            net = 0.45 + 0.2 * ((fractional_part((s[None, :] + y) / 0.12) < 0.3)
                                & (inv_depth[None, :] * canvas.size * 0.12 > 2))
            colour = np.where((rail | post[None, :])[..., None], rgb,
                              behind * (1 - net[..., None]) + rgb * net[..., None])
            return None, FENCE, colour, None
        gaps = (fractional_part(s / 0.18) < 0.12) & (ds < 0.06)  # slats
        return None, FENCE, rgb * (1 + 0.08 * n - 0.3 * gaps[None, :])[..., None], None
    draw_along_road(canvas, x, z0, z1, 0, height, shader)


def draw_tree(canvas: Canvas, x: float, z: float, style: dict) -> None:
    """Trunk plus a lumpy (or conical) crown with leafy noise."""
    inv_z, radius, trunk_height = 1 / z, style["radius"], style["trunk_height"]
    half_width = style["trunk_width"] / 2
    draw_billboard(canvas, x, inv_z, half_width, 0, trunk_height + 0.3 * radius, lambda s, y, inv_depth, zone: (
        None, VEGETATION,
        style["bark"] * (0.7 + 0.3 * (1 - (s / half_width) ** 2) + 0.06 * canvas.noise[zone])[..., None], None), 1.0)
    yc = trunk_height + 0.8 * radius  # crown centre
    bx, by, br = style["blobs"]

    def crown(s, y, inv_depth, zone):
        n = canvas.noise[zone]
        if style["conifer"]:
            f = 1 - np.abs(s)[None, :] / np.maximum(0.5 * (yc + 1.15 * radius - y), 1e-3)
        else:
            f = np.max(1 - ((s[None, None, :] - bx[:, None, None]) ** 2
                            + (y[None] - yc - by[:, None, None]) ** 2) / br[:, None, None] ** 2, axis=0)
        solid = (f + 0.18 * n > 0.12) if radius * inv_depth.max() * canvas.size > 2.5 else None
        shade = 0.6 + 0.4 * saturate(f) + 0.15 * n + 0.12 * (y - yc) / radius
        return solid, VEGETATION, style["leaf"] * shade[..., None], None
    draw_billboard(canvas, x, inv_z, 1.25 * radius, yc - 1.15 * radius, yc + 1.15 * radius, crown, 2.0)


# ---------------------------------------------------------------- poles, lights, signs
def draw_lamp(canvas: Canvas, x: float, z: float, style: dict) -> None:
    """Street lamp: pole, arm over the road and a lamp head that glows at night."""
    side = 1 if x > 0 else -1
    inv_z, height, x_head = 1 / z, style["height"], x - side * style["arm"]
    draw_billboard(canvas, x, inv_z, 0.05, 0, height, pole_shader(canvas, style["rgb"], 0.05), 1.0)
    u0, u1 = canvas.column(x, inv_z), canvas.column(x_head, inv_z)
    draw_patch(canvas, (u0, inv_z, 0.0), (u1, inv_z, 1.0), height - 0.1, height,
               flat_shader(style["rgb"], POLE, canvas))

    def head(s, y, inv_depth, zone):
        bulb = y < height - 0.14
        return None, POLE, paint(np.broadcast_to(style["rgb"], y.shape + (3,)), bulb, LAMP_RGB), bulb * 1.0
    draw_billboard(canvas, x_head, inv_z, 0.28, height - 0.22, height - 0.02, head, 1.0)


def draw_signal(canvas: Canvas, x: float, z: float, style: dict) -> None:
    """Traffic-light pole with a box on top, or a mast arm with boxes hanging over the lanes."""
    inv_z, height, arm_lanes = 1 / z, style["height"], style["arm_lanes"]
    draw_billboard(canvas, x, inv_z, 0.06, 0, height, pole_shader(canvas, style["rgb"], 0.06), 1.0)
    boxes = [(x, height - 0.1)] if arm_lanes is None else [(lane_x, height - 0.95) for lane_x in arm_lanes]
    if arm_lanes is not None:
        x_end = min(arm_lanes) - 0.3
        draw_patch(canvas, (canvas.column(x, inv_z), inv_z, 0.0), (canvas.column(x_end, inv_z), inv_z, 1.0),
                   height - 0.12, height, flat_shader(style["rgb"], POLE, canvas))

    def box(s, y, inv_depth, zone):
        y0 = y - y_box
        rgb = np.broadcast_to(np.float32(34) + 6 * canvas.noise[zone][..., None], y.shape + (3,))
        if style["back"]:
            return None, LIGHT, rgb, None
        disc = np.hypot(s[None, :], y0 - 0.75 * (0.82 - 0.32 * style["lit_lamp"])) < 0.12
        return None, LIGHT, paint(rgb, disc, SIGNAL_RGB[style["lit_lamp"]]), disc * 1.0
    for x_box, y_box in boxes:
        draw_billboard(canvas, x_box, inv_z, 0.17, y_box, y_box + 0.75, box, 1.5)


def draw_sign(canvas: Canvas, x: float, z: float, style: dict) -> None:
    """Sign on a post: red-rimmed circle, blue disc, triangle, rectangle, diamond, stop, or its back."""
    inv_z, radius, yc, shape = 1 / z, style["radius"], style["centre_height"], style["shape"]
    draw_billboard(canvas, x, inv_z, 0.045, 0, yc, pole_shader(canvas, style["pole_rgb"], 0.045), 1.0)

    def face(s, y, inv_depth, zone):
        ax, ay = np.abs(s)[None, :] / radius, (y - yc) / radius
        rr = np.hypot(ax, ay)
        tiny = radius * inv_depth.max() * canvas.size < 1.5
        white, red = np.float32((235, 235, 232)), np.float32((200, 30, 32))
        if shape in ("circle", "blue", "stop", "back"):
            inside, inner = rr < 1, rr < 0.7
        elif shape == "tri":
            inside, inner = (ay > -0.6) & (ax < 0.6 * (1 - ay)), (ay > -0.35) & (ax < 0.6 * (0.6 - ay))
        elif shape == "diamond":
            inside, inner = ax + np.abs(ay) < 1, ax + np.abs(ay) < 0.8
        else:
            inside, inner = (ax < 1) & (np.abs(ay) < 0.7), (ax < 0.88) & (np.abs(ay) < 0.58)
        outer, core = dict(circle=(red, white), blue=((30, 80, 170), (30, 80, 170)), tri=(red, white),
                           diamond=((20, 20, 20), (235, 190, 30)), stop=(red, red), back=((130, 130, 132),) * 2,
                           rect=(white, (30, 120, 70) if style["green"] else (30, 70, 160)))[shape]
        rgb = paint(np.broadcast_to(np.float32(outer), y.shape + (3,)), inner & ~tiny, core)
        if shape in ("blue", "stop", "rect"):
            rgb = paint(rgb, inner & (np.abs(ay) < 0.12) & (ax < 0.5) & ~tiny, white)
        return None if tiny else inside, SIGN, rgb * (1 + 0.04 * canvas.noise[zone])[..., None], None
    draw_billboard(canvas, x, inv_z, radius, yc - radius, yc + radius, face, 2.0)


# ---------------------------------------------------------------- vehicles
def draw_shadow(canvas: Canvas, x: float, d0: float, d1: float, width: float) -> None:
    """Darken the ground under a vehicle footprint between inverse depths d0 (near) and d1 (far)."""
    size, horizon = canvas.size, canvas.camera.horizon
    i0, i1 = int((horizon + d1) * size), min(int((horizon + d0 * 1.03) * size) + 1, size)
    j0 = max(int(canvas.column(x - 0.55 * width, d0) * size), 0)
    j1 = min(int(canvas.column(x + 0.55 * width, d0) * size) + 1, canvas.width)
    if i1 > i0 and j1 > j0:
        zone = (slice(i0, i1), slice(j0, j1))
        sel = canvas.inv_depth[zone] <= d0 * 1.03
        canvas.image[zone][sel] *= 0.55


def draw_vehicle(canvas: Canvas, x: float, z: float, style: dict) -> None:
    """Box vehicle: visible side (when off-centre) then the near end (rear, or front when oncoming)."""
    width, length, height = style["width"], style["length"], style["height"]
    d0, d1 = 1 / z, 1 / (z + length)
    draw_shadow(canvas, x, d0, d1, width)
    cls = dict(car=CAR, truck=TRUCK, bus=BUS, tram=TRAIN)[style["kind"]]
    end, side = vehicle_shaders(canvas, style, cls)
    if abs(x) > width / 2:
        xs = x - np.sign(x) * width / 2
        draw_patch(canvas, (canvas.column(xs, d0), d0, 0.0), (canvas.column(xs, d1), d1, length), 0, height, side)
    draw_patch(canvas, (canvas.column(x - width / 2, d0), d0, -width / 2),
               (canvas.column(x + width / 2, d0), d0, width / 2), 0, height, end)
    if style["kind"] == "tram":  # pantograph
        draw_billboard(canvas, x, d0 * 0.9, 0.5, height, height + 0.5, lambda s, y, inv_depth, zone: (
            (np.abs(np.abs(s)[None, :] - (height + 0.5 - y)) < 0.06) | (y > height + 0.43),
            TRAIN, np.full(y.shape + (3,), 40, np.float32), None), 1.0)


def vehicle_shaders(canvas: Canvas, style: dict, cls: int) -> tuple[Callable, Callable]:
    """(end, side) shaders of a car, truck, bus or tram; metric coordinates on each face."""
    kind, front = style["kind"], style["front"]
    H, W, L = style["height"], style["width"], style["length"]  # metric height, width, length
    belt, body, glass, dark = style["belt"] * H, style["body"], style["glass"], np.float32((24, 24, 26))
    lamp_rgb = HEAD_RGB if front else TAIL_RGB

    def end(s, y, inv_depth, zone):
        xr = np.abs(s)[None, :] / (W / 2)  # 0 at the centre, 1 at the sides
        rgb = body * (1 + 0.05 * canvas.noise[zone] - 0.18 * xr ** 6)[..., None]
        if kind == "car":
            cab = (y >= belt) & (xr < 0.9 - 0.25 * (y - belt) / (H - belt))
            solid = ((y >= 0.14) & (y < belt)) | cab | ((y < 0.32) & (xr > 0.58) & (xr < 0.96))
            rear = cab & (xr < 0.76 - 0.25 * (y - belt) / (H - belt)) & (y > belt + 0.06) & (y < H - 0.06)
            rgb = paint(rgb, rear, glass)
            rgb = paint(rgb, (y < 0.26), body * 0.45)
            lamp = (np.abs(y - 0.72 * belt) < 0.07) & (xr > 0.64) & (xr < 0.94)
            rgb = paint(rgb, (xr < 0.18) & (np.abs(y - 0.36) < 0.05), (220, 220, 210))
        elif kind == "truck" and not front:
            solid = (y >= 0.55) | ((y >= 0.3) & (xr < 0.92)) | ((y < 0.45) & (xr > 0.5))
            rgb = paint(rgb, y < 0.55, (60, 60, 62))
            rgb = paint(rgb, (y >= 0.55) & (xr < 0.03 + 0.5 / (W * inv_depth * canvas.size)), body * 0.7)
            lamp = (np.abs(y - 0.5) < 0.05) & (xr > 0.7)
        elif kind == "truck":
            cab_height = style["cab_height"]
            solid = (y >= 0.3) & ((y < cab_height) | (xr < 0.95))
            rgb = paint(rgb, y < cab_height, style["cab_rgb"] * (1 + 0.05 * canvas.noise[zone])[..., None])
            rgb = paint(rgb, (y > cab_height - 0.75) & (y < cab_height - 0.1) & (xr < 0.86), glass)
            rgb = paint(rgb, (y > 0.45) & (y < 0.85) & (xr < 0.5), dark)
            lamp = (np.abs(y - 0.6) < 0.07) & (xr > 0.68) & (xr < 0.92)
        else:  # bus / tram
            solid = (y >= 0.15) & ~((xr > 0.9) & (y > H - 0.12))
            lo = 0.85 if front else 1.35
            rgb = paint(rgb, (y > lo) & (y < H - 0.35) & (xr < 0.88), glass)
            rgb = paint(rgb, (y >= H - 0.32) & (y < H - 0.1) & (xr < 0.7), (40, 30, 20) if front else body * 0.8)
            rgb = paint(rgb, y < 0.3, body * 0.5)
            lamp = (np.abs(y - 0.45) < 0.08) & (xr > 0.72) & (xr < 0.95)
        tyre_top = 0.14 if kind == "car" else 0.4 if kind == "truck" else 0.3
        rgb = paint(rgb, (y < tyre_top) & (xr > 0.58), dark)
        return solid, cls, paint(rgb, lamp & solid, lamp_rgb), lamp * 1.0

    def side(s, y, inv_depth, zone):
        q = (s if front else L - s)[None, :]  # distance from the vehicle front
        rgb = body * (0.82 + 0.05 * canvas.noise[zone])[..., None]
        axles = dict(car=(0.7, L - 0.7), truck=(1.3, L - 2.1, L - 1.2), bus=(2.0, L - 2.4), tram=(2.0, L - 2.0))[kind]
        r = 0.3 if kind == "car" else 0.36  # wheel radius
        wheel_distance = np.min([np.hypot(q - a, y - r) for a in axles], axis=0)
        if kind == "car":
            cab = (y >= belt) & (q > 0.95 + 1.1 * (y - belt)) & (q < L - 0.35 - 0.6 * (y - belt))
            solid = ((y >= 0.16) & (y < belt)) | cab
            win = cab & (y > belt + 0.05) & (y < H - 0.07) & (q > 1.05 + 1.1 * (y - belt)) \
                & (q < L - 0.5 - 0.6 * (y - belt)) & (np.abs(q - 0.55 * L) > 0.07)
        elif kind == "truck":
            cab_height = style["cab_height"]
            solid = ((y >= 0.55) & (q > 2.3)) | ((y >= 0.3) & (y < cab_height) & (q < 2.2)) | ((np.abs(y - 0.45) < 0.1))
            rgb = paint(rgb, q < 2.2, style["cab_rgb"] * 0.85)
            win = (q > 0.3) & (q < 1.4) & (y > cab_height - 0.7) & (y < cab_height - 0.15)
        else:
            solid = y >= 0.15
            door = (q > 0.4) & (q < 1.3) & (y > 0.3)
            win = ((y > 1.05) & (fractional_part(q / 1.3) > 0.1) | door) & (y < H - 0.32)
            rgb = paint(rgb, (y > 0.8) & (y < 0.95), body * 0.6 + 40)
            if kind == "tram":
                solid &= np.abs(fractional_part(q / (L / 3) + 0.5) - 0.5) * (L / 3) > 0.08
        rgb = paint(rgb, win, glass)
        wheel = wheel_distance < r
        rgb = paint(paint(rgb, wheel, dark), wheel_distance < 0.45 * r, (130, 130, 135))
        return (solid & (q > 0.02) & (q < L - 0.02)) | wheel, cls, rgb, None
    return end, side


def draw_train(canvas: Canvas, x: float, z: float, style: dict) -> None:
    """Train crossing the view on a level track at depth z (x unused): carriages with a row of windows."""
    inv_z, carriage = 1 / z, style["carriage"]

    def shader(s, y, inv_depth, zone):
        q = s[None, :] + style["offset"]
        gap = np.abs(fractional_part(q / carriage + 0.5) - 0.5) * carriage < 0.15
        rgb = style["rgb"] * (1 + 0.05 * canvas.noise[zone])[..., None]
        rgb = paint(rgb, (y > 1.3) & (y < 2.0) & (fractional_part(q / 1.6) > 0.2), (50, 60, 72))
        rgb = paint(rgb, (y > 1.0) & (y < 1.15), style["rgb"] * 0.5)
        bogie_gap = (y < 0.45) & (fractional_part(q / 4) > 0.5)
        return ~gap & ~bogie_gap, TRAIN, paint(rgb, y < 0.45, (40, 40, 42)), None
    draw_patch(canvas, (canvas.column(-60, inv_z), inv_z, -60.0), (canvas.column(60, inv_z), inv_z, 60.0),
               0.1, 2.7, shader)


# ---------------------------------------------------------------- people and cycles
def person_shape(s, y, style: dict, seated: bool) -> tuple:
    """Masks (head, hair, torso+arms, legs) of a stylised person in metric coords (s lateral, y up)."""
    x, yn = s[None, :] / style["height"], y / style["height"]
    if seated:  # on a cycle, facing +x (mirrored by the caller)
        hip, shoulder, head_centre = (-0.08, 0.5), (0.04, 0.84), (0.08, 0.95)
        torso = segment_distance(x, yn, hip, shoulder) < 0.085
        arms = segment_distance(x, yn, shoulder, (0.24, 0.62)) < 0.035
        knee = (0.1, 0.44)
        legs = (segment_distance(x, yn, hip, knee) < 0.05) | (segment_distance(x, yn, knee, (0.03, 0.2)) < 0.04)
        head = np.hypot(x - head_centre[0], yn - head_centre[1]) < 0.075
        return head, head & (yn > head_centre[1]), torso | arms, legs
    half_width = 0.09 if style["side_view"] else 0.13
    head = np.hypot(x, yn - 0.91) < 0.075
    torso = (yn >= 0.47) & (yn < 0.84) & (np.abs(x) < half_width - 0.03 * (0.84 - yn) / 0.37)
    arms = ((yn >= 0.5) & (yn < 0.82) & (np.abs(np.abs(x) - half_width - 0.025) < 0.03) if not style["side_view"]
            else torso)
    legs = (yn < 0.5) & (np.abs(np.abs(x) - 0.045 - style["stride"] * (0.5 - yn) / 0.5) < 0.045)
    return head, head & (yn > 0.93), torso | arms, legs


def person_colours(canvas: Canvas, zone, style: dict, masks: tuple) -> tuple:
    """(solid mask, rgb) of a person from its shape masks."""
    head, hair, top, legs = masks
    rgb = np.empty(head.shape + (3,), np.float32)
    rgb[:] = style["legs"]
    rgb = paint(paint(paint(rgb, top, style["top"]), head, style["skin"]), hair, style["hair"])
    return head | top | legs, rgb * (1 + 0.06 * canvas.noise[zone])[..., None]


def draw_person(canvas: Canvas, x: float, z: float, style: dict) -> None:
    """Pedestrian; a tiny one (under ~5 px tall) is a solid stick with a head."""
    def shader(s, y, inv_depth, zone):
        masks = person_shape(s, y, style, False)
        solid, rgb = person_colours(canvas, zone, style, masks)
        tiny = style["height"] * inv_depth.max() * canvas.size < 5
        return (np.abs(s)[None, :] < 0.15 * style["height"]) | masks[0] if tiny else solid, PERSON, rgb, None
    draw_billboard(canvas, x, 1 / z, 0.22 * style["height"], 0, style["height"], shader, 1.2)


def draw_cycle(canvas: Canvas, x: float, z: float, style: dict) -> None:
    """Bicycle or motorcycle in side view squeezed by |facing| (small when seen from behind), maybe ridden.

    The rider is drawn first so the (thin) bicycle stays visible in front of the legs.
    """
    inv_z, facing, moto = 1 / z, style["facing"], style["moto"]
    r, wheelbase = (0.3, 0.55) if moto else (0.25, 0.4)  # wheel radius, half the wheelbase
    if style["rider"] is not None:
        rider_style = dict(style["rider"], height=1.45)

        def rider(s, y, inv_depth, zone):
            masks = person_shape(s / facing, y - (0.06 if moto else 0.0), rider_style, True)
            solid, rgb = person_colours(canvas, zone, rider_style, masks)
            return solid, RIDER, rgb, None
        draw_billboard(canvas, x, inv_z, 0.45 * abs(facing) + 0.1, 0.25, 1.55, rider, 1.5)

    def bike(s, y, inv_depth, zone):
        xq = s[None, :] / facing
        t = max(0.045, 0.6 / (inv_depth.max() * canvas.size)) / abs(facing)  # strokes >= ~0.6 px across
        wheel_distance = np.minimum(np.hypot(xq - wheelbase, y - r), np.hypot(xq + wheelbase, y - r))
        rgb = np.broadcast_to(np.float32(30), y.shape + (3,))
        if moto:
            body = ((((xq - 0.05) / 0.5) ** 2 + ((y - 0.62) / 0.2) ** 2 < 1)
                    | (segment_distance(xq, y, (wheelbase, r), (0.4, 0.95)) < t))
            solid = (wheel_distance < r) | body
            rgb = paint(paint(rgb, body, style["rgb"]), wheel_distance < 0.4 * r, (140, 140, 145))
        else:
            points = ((-wheelbase, r), (0.0, 0.28), (-0.08, 0.62), (0.28, 0.64), (wheelbase, r))
            bars = ((0, 1), (1, 2), (2, 3), (3, 1), (3, 4), (0, 2))
            frame = np.min([segment_distance(xq, y, points[i], points[j]) for i, j in bars], axis=0)
            solid = ((np.abs(wheel_distance - 0.9 * r) < t) | (frame < t)
                     | (segment_distance(xq, y, (0.28, 0.64), (0.3, 0.75)) < t))
            rgb = paint(rgb, frame < t, style["rgb"])
        return solid, MOTORCYCLE if moto else BICYCLE, rgb * (1 + 0.05 * canvas.noise[zone])[..., None], None
    draw_billboard(canvas, x, inv_z, (wheelbase + r) * abs(facing), 0, 1.0, bike, 2.0)


DRAW = dict(building=draw_building, barrier=draw_barrier, tree=draw_tree, lamp=draw_lamp, signal=draw_signal,
            sign=draw_sign, vehicle=draw_vehicle, train=draw_train, person=draw_person, cycle=draw_cycle)
