"""The painter without a browser: its state logic, and the widget driven through its event handlers."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from semsegdiff import masks
from semsegdiff.errors import DataError, SettingError
from semsegdiff.labels import IGNORE, class_id
from semsegdiff.widgets import Painter, PainterState

ROAD, CAR, SKY = class_id("road"), class_id("car"), class_id("sky")


def disc(shape, centre, radius) -> np.ndarray:
    """Pixels whose centre lies within radius + 0.5 of centre: what a one-point stroke covers."""
    rr, cc = np.mgrid[:shape[0], :shape[1]]
    return np.hypot(rr - centre[0], cc - centre[1]) <= radius + 0.5


# ---------------------------------------------------------------- state
def test_blank_masks_and_checked_input():
    assert (PainterState(size=8).mask == ROAD).all() and PainterState(size=8).mask.shape == (8, 8)
    assert (PainterState(size=(4, 6), start="ignore").mask == IGNORE).all()
    assert PainterState().mask.shape == (32, 32)
    with pytest.raises(SettingError, match="mask or a size"):
        PainterState(np.zeros((4, 4), np.uint8), size=4)
    with pytest.raises(SettingError, match="size"):
        PainterState(size=0)
    with pytest.raises(DataError):
        PainterState(np.full((4, 4), 40, np.uint8))
    with pytest.raises(SettingError, match="tool"):
        PainterState(tool="spray")
    with pytest.raises(SettingError, match="closest"):
        PainterState(cls="carr")


def test_stroke_paints_the_brush_along_the_path():
    s = PainterState(size=32, cls="car", radius=2)
    s.press(10, 5)
    s.drag(10, 20)
    s.release()
    expected = masks.stroke(np.zeros((32, 32), np.uint8), CAR, [(10, 5), (10, 20)], 2)
    assert (s.mask == expected).all()
    painted = s.mask == CAR
    assert painted[8:13, 5:21].all() and not painted[:8].any() and not painted[13:].any()  # rows 10 +- 2 only
    assert painted.sum() == 5 * 16 + 2 * (5 + 3)  # the band plus a round cap at each end
    assert (disc((32, 32), (10, 5), 2) <= painted).all()


def test_each_event_reports_exactly_the_pixels_it_changed():
    s = PainterState(size=16, cls="car", radius=1)
    before = s.mask
    first = s.press(3, 3)
    assert first.cls == CAR and not first.full
    assert set(zip(first.rows, first.cols)) == set(zip(*np.nonzero(disc((16, 16), (3, 3), 1))))
    second = s.drag(3, 8)
    again = s.drag(3, 8)  # nothing new under the brush
    assert again is None
    changed = np.zeros((16, 16), bool)
    changed[first.rows, first.cols] = changed[second.rows, second.cols] = True
    assert (changed == (s.mask != before)).all()


def test_radius_zero_is_one_pixel_and_drag_without_press_does_nothing():
    s = PainterState(size=8, radius=0)
    assert s.drag(2, 2) is None and (s.mask == ROAD).all()
    s.press(2, 2)
    s.release()
    assert list(zip(*np.nonzero(s.mask == CAR))) == [(2, 2)]


def test_erase_gives_ignore():
    s = PainterState(size=16, cls="car", radius=1, tool="erase")
    change = s.press(8, 8)
    s.release()
    assert change.cls == IGNORE
    assert ((s.mask == IGNORE) == disc((16, 16), (8, 8), 1)).all()


def test_fill_and_pick():
    m = np.full((8, 8), ROAD, np.uint8)
    m[:, 4] = SKY  # a wall splitting the mask in two
    s = PainterState(m, cls="car", tool="fill")
    assert s.press(2, 1).full
    s.release()
    assert (s.mask[:, :4] == CAR).all() and (s.mask[:, 5:] == ROAD).all() and (s.mask[:, 4] == SKY).all()
    assert s.press(2, 2) is None  # filling car with car changes nothing
    assert s.press(-3, 2) is None and s.can_undo and len(s._undo) == 1  # outside: ignored, no undo step
    s.tool = "pick"
    assert s.press(5, 4) is None  # picking changes no pixel
    assert s.cls == SKY and s.tool == "paint"  # the eyedropper hands back the brush
    assert s.pick(0, 7) == ROAD and s.pick(99, 0) is None and s.cls == ROAD


def test_one_stroke_is_one_undo_step_and_redo():
    s = PainterState(size=16, cls="car", radius=1)
    blank = s.mask
    for col in (2, 6, 10):  # three strokes of many events each
        s.press(2, col)
        for row in range(3, 12):
            s.drag(row, col)
        s.release()
    three = s.mask
    assert s.undo().full
    assert (s.mask[:, 9:12] == ROAD).all() and (s.mask[:, 5:8] == CAR).any()  # only the last stroke went
    s.undo()
    s.undo()
    assert (s.mask == blank).all() and not s.can_undo and s.undo() is None
    s.redo(), s.redo(), s.redo()
    assert (s.mask == three).all() and not s.can_redo and s.redo() is None


def test_a_new_stroke_clears_redo_but_a_no_op_does_not():
    s = PainterState(size=16, cls="car")
    s.press(4, 4)
    s.release()
    s.undo()
    assert s.can_redo
    s.tool = "fill"
    s.press(0, 0)  # road -> car everywhere: an edit
    assert not s.can_redo
    s.undo()
    s.tool, s.cls = "paint", "road"
    s.press(1, 1)  # road on road: changes nothing
    s.release()
    assert s.can_redo and len(s._undo) == 0


def test_undo_during_a_stroke_ends_it_first():
    s = PainterState(size=16)
    s.press(4, 4)
    s.drag(4, 10)
    assert s.can_undo and not s.can_redo
    s.undo()
    assert (s.mask == ROAD).all() and s.can_redo and not s.drawing


def test_history_keeps_the_last_steps(monkeypatch):
    import semsegdiff.painter_state as painter_state

    monkeypatch.setattr(painter_state, "HISTORY", 3)
    s = PainterState(size=8, radius=0)
    for col in range(5):
        s.press(0, col)
        s.release()
    while s.undo():
        pass
    assert (s.mask[0] == [CAR, CAR, ROAD, ROAD, ROAD, ROAD, ROAD, ROAD]).all()  # the 3 last strokes undone


def test_strokes_outside_are_clipped_without_warnings():
    s = PainterState(size=16, cls="car", radius=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert s.press(-10, -10) is None  # entirely outside: nothing, no error
        change = s.drag(5, 20)  # into the mask and out again on the right
        s.release()
    assert change is not None and (s.mask == CAR).any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = masks.stroke(np.zeros((16, 16), np.uint8), CAR, [(-10, -10), (5, 20)], 2)
    assert (s.mask == expected).all()


def snapshot(s: PainterState) -> tuple:
    """Everything a refused event must leave as it was."""
    return (s.mask.tolist(), s.instances.tolist(), [[a.tolist() for a in u] for u in s._undo],
            [[a.tolist() for a in r] for r in s._redo], s.drawing, s._last, s.cls, s.tool, s.radius, s.instance)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("tool", ["paint", "erase", "fill", "pick"])
@pytest.mark.parametrize("event, point", [
    ("press", (NAN, 2)), ("press", (2, INF)), ("press", (-INF, 1e300)), ("drag", (NAN, NAN)), ("drag", (1e300, 3)),
    ("pick", (2, NAN)), ("press", (None, 2)), ("drag", ("3", 2)),
])
def test_events_at_non_finite_points_are_refused_and_change_nothing(tool, event, point):
    s = PainterState(size=8, cls="car", radius=1, tool=tool)
    s.press(2, 2)
    s.drag(4, 4)  # a stroke in progress (paint, erase), a fill done, or a class picked
    before = snapshot(s)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy cast warning on the way
        with pytest.raises(SettingError, match=rf"^{event}: row, col must be a \(row, col\) pair of finite numbers"):
            getattr(s, event)(*point)
    assert snapshot(s) == before
    s.release()  # and it goes on as before
    s.tool, s.cls = "paint", "car"
    s.press(6, 6)
    assert s.mask[6, 6] == CAR


def test_mask_is_a_copy_both_ways():
    original = np.full((8, 8), ROAD, np.uint8)
    s = PainterState(original)
    s.press(2, 2)
    s.release()
    assert (original == ROAD).all()  # the caller's array is untouched
    out = s.mask
    out[:] = SKY
    assert (s.mask != SKY).all()  # changing what .mask gave changes nothing inside
    assert s.mask is not s.mask


def test_load_is_an_undo_step():
    s = PainterState(size=8)
    other = np.full((4, 6), SKY, np.uint8)
    assert s.load(other).full
    other[:] = ROAD
    assert s.shape == (4, 6) and (s.mask == SKY).all()
    s.undo()
    assert s.shape == (8, 8)


# ---------------------------------------------------------------- the widget, no browser
class Recorder:
    """Stands in for the canvas drawing calls: what the widget sent."""

    def __init__(self, canvas):
        self.rects, self.images = [], []
        canvas.fill_rects = lambda x, y, w, h=None: self.rects.append((np.asarray(x), np.asarray(y), w))
        canvas.put_image_data = lambda data, x=0, y=0: self.images.append(np.asarray(data))


def test_widget_builds_with_palette_tools_and_default_zoom():
    p = Painter(size=32)
    assert p.zoom == 16 and (p.canvas.width, p.canvas.height) == (512, 512)  # about 512 px across
    assert Painter(size=128).zoom == 4 and Painter(size=(64, 128), zoom=3).canvas.width == 384
    assert len(p.palette) == 20 and p.palette[CAR].description == "car" and p.palette[IGNORE].description == "ignore"
    assert p.palette[CAR].style.button_color == "#00008e" and p.palette[CAR].icon == "check"  # car is chosen
    assert [v for _, v in p.tools.options] == ["paint", "erase", "fill", "pick"]
    assert p.undo_button.disabled and p.redo_button.disabled
    assert "application/vnd.jupyter.widget-view+json" in p._repr_mimebundle_()
    assert not hasattr(p, "generate_button")


def test_handlers_convert_canvas_pixels_with_the_zoom():
    p = Painter(size=32, zoom=12, radius=0)
    rec = Recorder(p.canvas)
    assert p.to_mask(5 * 12 + 6, 7 * 12 + 6) == (7.0, 5.0)  # a pixel's centre
    p.handle_mouse_down(5 * 12 + 3, 7 * 12 + 9)  # anywhere inside the pixel square of (row 7, col 5)
    p.handle_mouse_up(5 * 12 + 3, 7 * 12 + 9)
    assert list(zip(*np.nonzero(p.mask == CAR))) == [(7, 5)]
    x, y, w = rec.rects[-1]
    assert (x.tolist(), y.tolist(), w) == ([60], [84], 12)  # drawn in canvas pixels, one square
    assert not rec.images and not p.undo_button.disabled


def test_drag_draws_only_the_new_pixels_and_fill_undo_redraw_all():
    p = Painter(size=32, zoom=10, radius=1)
    rec = Recorder(p.canvas)
    p.handle_mouse_move(50, 50)  # hovering draws nothing
    p.handle_mouse_down(50, 50)
    for x in range(60, 200, 10):
        p.handle_mouse_move(x, 55)
    p.handle_mouse_up(200, 55)
    drawn = sum(len(x) for x, _, _ in rec.rects)
    assert drawn == (p.mask == CAR).sum() > 0 and not rec.images  # each pixel sent once, no image uploads
    assert p.state.can_undo and len(p.state._undo) == 1
    p.undo()
    assert (p.mask == ROAD).all() and len(rec.images) == 1 and rec.images[0].shape == (320, 320, 4)
    assert (rec.images[0][0, 0, :3] == (128, 64, 128)).all()  # road's colour, zoomed
    p.redo()
    p.tools.value = "fill"
    p.choose("sky")
    p.handle_mouse_down(5, 5)
    p.handle_mouse_up(5, 5)
    assert len(rec.images) == 3 and (p.mask == SKY).sum() == 32 * 32 - (p.mask == CAR).sum()


def test_mouse_out_ends_the_stroke_and_palette_and_pick_stay_in_sync():
    p = Painter(size=16, zoom=10)
    Recorder(p.canvas)
    p.handle_mouse_down(40, 40)
    p.canvas._mouse_out_callbacks(200, 40)  # the canvas's own dispatch, as a browser event would arrive
    assert not p.state.drawing
    p.palette[IGNORE].click()
    assert p.state.cls == IGNORE and p.palette[IGNORE].icon == "check" and p.palette[CAR].icon == ""
    p.tools.value = "pick"
    p.handle_mouse_down(45, 45)  # the car pixels painted above
    assert p.state.cls == CAR and p.tools.value == "paint" and p.palette[CAR].icon == "check"
    p.tools.value = "erase"
    p.choose("sky")
    assert p.state.tool == "paint"


def test_keyboard_undo_redo_and_zoom_change():
    p = Painter(size=16, zoom=10)
    rec = Recorder(p.canvas)
    p.handle_mouse_down(40, 40)
    p.handle_mouse_up(40, 40)
    p.handle_key_down("z", False, True, False)
    assert (p.mask == ROAD).all()
    p.handle_key_down("z", True, True, False)
    assert (p.mask == CAR).any()
    p.zoom_slider.value = 20
    assert p.zoom == 20 and p.canvas.width == 320 and rec.images[-1].shape == (320, 320, 4)
    p.handle_mouse_down(5 * 20 + 10, 2 * 20 + 10)  # now 20 canvas pixels per mask pixel
    assert p.mask[2, 5] == CAR
    p.set_zoom(40)
    assert p.zoom_slider.value == 40 and p.canvas.width == 640 and p.canvas.layout.width == "640px"


def test_load_mask_and_mask_setter():
    m = np.full((8, 12), SKY, np.uint8)
    p = Painter(mask=m, zoom=5)
    assert (p.canvas.width, p.canvas.height) == (60, 40) and (p.mask == SKY).all()
    p.mask = np.full((4, 4), ROAD, np.uint8)
    assert p.canvas.width == 20 and (p.mask == ROAD).all()
    p.undo()
    assert p.mask.shape == (8, 12)


class FakeModel:
    def __init__(self):
        self.calls = []

    def generate(self, masks_nhw, seed=0):
        self.calls.append((masks_nhw.copy(), seed))
        n, h, w = masks_nhw.shape
        return np.full((n, 3, h, w), seed, np.uint8)


def test_generate_runs_in_the_background_and_shows_the_image():
    model = FakeModel()
    p = Painter(size=8, zoom=4, model=model, seed=7)
    rec = Recorder(p.image_canvas)
    p.handle_mouse_down(2, 2)
    p.handle_mouse_up(2, 2)
    p.generate_button.click()
    image = p.wait(timeout=10)
    assert image.shape == (8, 8, 3) and (image == 7).all() and p.image is image
    (sent, seed), = model.calls
    assert sent.shape == (1, 8, 8) and sent.dtype == np.uint8 and seed == 7 and (sent[0] == p.mask).all()
    assert rec.images[-1].shape == (32, 32, 4) and not p.generate_button.disabled and "generated" in p.status.value


def test_a_model_with_attributes_gets_condition_dropdowns_passed_to_generate():
    class Conditioned(FakeModel):
        cfg = {"attributes": True}

        def generate(self, masks_nhw, seed=0, **asked):
            self.asked = asked
            return super().generate(masks_nhw, seed)

    model = Conditioned()
    p = Painter(size=8, model=model)
    assert set(p.conditions) == {"time", "weather", "scene"} and p.conditions["time"].value is None
    p.conditions["time"].value = "night"
    p.conditions["weather"].value = "rain"
    p.generate()
    p.wait(timeout=10)
    assert model.asked == {"time": "night", "weather": "rain"} and "time night, weather rain" in p.status.value
    assert Painter(size=8, model=FakeModel()).conditions == {}  # a model without attributes: no dropdowns


def test_generate_failure_is_shown_not_raised():
    class Broken:
        def generate(self, masks_nhw, seed=0):
            return np.zeros((1, 3, 2, 2), np.float32)

    p = Painter(size=8, model=Broken())
    p.generate()
    assert p.wait(timeout=10) is None and "generate failed" in p.status.value and "float32" in p.status.value
    with pytest.raises(SettingError, match="no model"):
        Painter(size=8).generate()


def test_a_blank_painter_of_a_whole_frame_model_starts_at_its_frame():
    class Wide(FakeModel):
        frame = (8, 14)

    p = Painter(model=Wide(), zoom=2)
    assert p.mask.shape == (8, 14) and (p.canvas.width, p.canvas.height) == (28, 16)
    p.generate()
    assert p.wait(timeout=10).shape == (8, 14, 3)
    assert Painter(size=(8, 14)).mask.shape == (8, 14) and Painter(model=FakeModel()).mask.shape == (32, 32)
