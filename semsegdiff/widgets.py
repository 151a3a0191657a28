"""The painter: draw or touch up a mask in a notebook cell, and generate an image from it.

Two layers, so the logic is tested without a browser:

- :class:`PainterState` (:mod:`semsegdiff.painter_state`), plain Python: the mask and its instances, the tool,
  the class, the brush radius and the undo/redo stacks; one stroke = one undo step; "new instance" starts
  another object of the class painted (``p.instances``).
- :class:`Painter`, the ipywidgets + ipycanvas view: converts canvas pixels to mask coordinates
  (divided by ``zoom``), calls the state, and draws only the pixels a stroke changed (one ``fill_rects``
  in the class colour per mouse event). The whole image is sent again (``put_image_data``) only after a
  fill, undo, redo, load or zoom. Keeping the kernel side this cheap is what stops mouse events queueing
  up (ipycanvas #84); ``draw_image`` per stroke is the slow path people complain about (#261).

Example (a notebook cell; the next cell reads ``p.mask``)::

    from semsegdiff.widgets import Painter
    p = Painter(mask=masks.read("scene.png"), model=model)  # model: anything with .generate(masks, seed=)
    p
"""
from __future__ import annotations

import threading
import time

import numpy as np

from . import shapes
from .errors import SettingError
from .labels import CLASS_NAMES, IGNORE, PALETTE, THINGS, ids_to_colors
from .painter_state import HISTORY, TOOLS, Change, PainterState  # noqa: F401 - importable from here too

DISPLAY_PX = 512  # default zoom: the mask drawn about this many screen pixels across


def _hex(cid: int) -> str:
    return "#000000" if cid == IGNORE else "#{:02x}{:02x}{:02x}".format(*PALETTE[cid])


def _text_colour(cid: int) -> str:
    r, g, b = (0, 0, 0) if cid == IGNORE else PALETTE[cid]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "white"


class Painter:
    """A mask painter for a notebook cell; ``p.mask`` is the current mask (a uint8 copy) for the next cell.

    ``Painter(mask=m)`` edits a copy of ``m``; ``Painter(size=32, start="road")`` (or "ignore") starts blank,
    at ``(h, w)`` for a size of two, and at the model's frame with a semsegdiff ``model`` and neither.
    ``zoom`` is screen pixels per mask pixel (default: the mask about 512 px across). With ``model``
    (anything with ``.generate(masks (N, H, W) uint8, seed=int) -> uint8 (N, 3, H, W)``) a generate
    button shows the image beside the mask; it runs in a background thread, so painting goes on
    meanwhile, and the result is ``p.image`` (H, W, 3) uint8 (``p.wait()`` waits for it). A model
    trained with attributes (``model.cfg["attributes"]``) also gets time, weather and scene
    dropdowns ("any": unconditional), passed to ``generate`` as keyword arguments.
    """

    def __init__(self, mask=None, *, size=None, start="road", cls="car", radius: float = 1, zoom: int | None = None,
                 model=None, seed: int = 0):
        import ipywidgets as W
        from ipycanvas import Canvas

        if mask is None and size is None:
            size = getattr(model, "frame", None)  # a blank canvas at a model's frame (wide for a whole-frame model)
        self.state = PainterState(mask, size=size, start=start, cls=cls, radius=radius)
        h, w = self.state.shape
        self.zoom = (shapes.number(zoom, "zoom", low=1, whole=True) if zoom is not None
                     else max(1, DISPLAY_PX // max(h, w)))
        self.model, self.image, self._thread = model, None, None

        self.canvas = Canvas(width=w * self.zoom, height=h * self.zoom)
        self.canvas.on_mouse_down(self.handle_mouse_down)
        self.canvas.on_mouse_move(self.handle_mouse_move)
        self.canvas.on_mouse_up(self.handle_mouse_up)
        self.canvas.on_mouse_out(self.handle_mouse_up)  # leaving the canvas ends the stroke
        self.canvas.on_key_down(self.handle_key_down)
        self.canvas.on_client_ready(lambda *_: self._redraw())  # a new view starts blank

        ids = list(range(len(CLASS_NAMES))) + [IGNORE]
        self.palette = {cid: W.Button(description=shapes.class_name(cid), tooltip=f"{cid}: {shapes.class_name(cid)}",
                                      layout=W.Layout(width="auto"),
                                      style=dict(button_color=_hex(cid), text_color=_text_colour(cid)))
                        for cid in ids}
        for cid, button in self.palette.items():
            button.on_click(lambda _, cid=cid: self.choose(cid))
        self.tools = W.ToggleButtons(options=[("paint", "paint"), ("erase to ignore", "erase"), ("fill", "fill"),
                                              ("pick", "pick")], icons=["paint-brush", "eraser", "tint", "eyedropper"],
                                     style=dict(button_width="auto"))
        self.tools.observe(lambda ch: setattr(self.state, "tool", ch["new"]), "value")
        self.brush = W.FloatSlider(value=self.state.radius, min=0, max=max(8, self.state.radius), step=0.5,
                                   description="brush", tooltip="brush radius in mask pixels", readout_format=".1f",
                                   layout=W.Layout(width="210px"))
        self.brush.observe(lambda ch: setattr(self.state, "radius", ch["new"]), "value")
        self.zoom_slider = W.IntSlider(value=self.zoom, min=1, max=max(32, self.zoom), description="zoom",
                                       tooltip="screen pixels per mask pixel", layout=W.Layout(width="190px"))
        self.zoom_slider.observe(lambda ch: self._zoom_to(ch["new"]), "value")
        self.undo_button = W.Button(description="undo", icon="undo", layout=W.Layout(width="auto"))
        self.redo_button = W.Button(description="redo", icon="repeat", layout=W.Layout(width="auto"))
        self.undo_button.on_click(lambda _: self.undo())
        self.redo_button.on_click(lambda _: self.redo())
        self.instance_button = W.Button(description="new instance", icon="plus", layout=W.Layout(width="auto"),
                                        tooltip="the next car, person, ... painted is another object")
        self.instance_button.on_click(lambda _: self.new_instance())
        self.status = W.HTML()
        views = [self.canvas]
        tools = [self.tools, self.brush, self.zoom_slider, self.undo_button, self.redo_button, self.instance_button]
        if model is not None:
            self.image_canvas = Canvas(width=w * self.zoom, height=h * self.zoom)
            self.image_canvas.on_client_ready(lambda *_: self._draw_image())
            self.seed = W.IntText(value=seed, description="seed", layout=W.Layout(width="140px"))
            self.generate_button = W.Button(description="generate", icon="image", button_style="success",
                                            layout=W.Layout(width="auto"))
            self.generate_button.on_click(lambda _: self.generate())
            views.append(self.image_canvas)
            self.conditions = {}
            if getattr(model, "cfg", {}).get("attributes"):
                from .attributes import ATTRIBUTES

                self.conditions = {a: W.Dropdown(options=[("any", None), *[(v, v) for v in values]], value=None,
                                                 description=a, layout=W.Layout(width="170px"),
                                                 style=dict(description_width="50px"))
                                   for a, values in ATTRIBUTES.items()}
            tools += [*self.conditions.values(), self.seed, self.generate_button]
        grid = W.GridBox(list(self.palette.values()),
                         layout=W.Layout(grid_template_columns="repeat(10, auto)", grid_gap="2px"))
        self.widget = W.VBox([grid, W.HBox(tools, layout=W.Layout(flex_flow="row wrap", align_items="center")),
                              W.HBox(views, layout=W.Layout(grid_gap="8px")), self.status])
        self._sizes()
        self._redraw()
        self._sync()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------ what the next cell reads
    @property
    def mask(self) -> np.ndarray:
        """The current mask, a uint8 copy of train ids (255 = ignore)."""
        return self.state.mask

    @mask.setter
    def mask(self, value) -> None:
        self.load(value)

    @property
    def instances(self) -> np.ndarray:
        """The instance map painted with the mask, a uint16 copy (0: none; semsegdiff.instances)."""
        return self.state.instances

    def load(self, mask, instances=None) -> None:
        """Edit ``mask`` (a copy; with its ``instances``) from now on; undo goes back to the previous one."""
        self._apply(self.state.load(mask, instances))

    def new_instance(self) -> int:
        """The next thing-class strokes paint a new object (two cars side by side stay two); its id."""
        k = self.state.new_instance()
        self._sync()
        return k

    # ------------------------------------------------------------ event handlers (canvas pixel coordinates)
    def to_mask(self, x: float, y: float) -> tuple[float, float]:
        """Canvas pixel (x right, y down) -> mask (row, col); pixel centres are whole numbers."""
        return y / self.zoom - 0.5, x / self.zoom - 0.5

    def handle_mouse_down(self, x: float, y: float) -> None:
        self._apply(self.state.press(*self.to_mask(x, y)))

    def handle_mouse_move(self, x: float, y: float) -> None:
        if self.state.drawing:  # hovering costs nothing
            self._apply(self.state.drag(*self.to_mask(x, y)), sync=False)

    def handle_mouse_up(self, x: float, y: float) -> None:
        if self.state.drawing:
            self.state.release()
            self._sync()

    def handle_key_down(self, key: str, shift_key: bool, ctrl_key: bool, meta_key: bool) -> None:
        """Ctrl/Cmd+Z undo, Ctrl/Cmd+Shift+Z or Ctrl/Cmd+Y redo (while the canvas has the focus)."""
        if ctrl_key or meta_key:
            if key.lower() == "z":
                self.redo() if shift_key else self.undo()
            elif key.lower() == "y":
                self.redo()

    # ------------------------------------------------------------ buttons
    def choose(self, cls) -> None:
        """Paint with class ``cls`` (name or id) from now on; erase and pick switch back to paint."""
        self.state.cls = cls
        if self.state.tool in ("erase", "pick"):
            self.state.tool = "paint"
        self._sync()

    def undo(self) -> None:
        self._apply(self.state.undo())

    def redo(self) -> None:
        self._apply(self.state.redo())

    def set_zoom(self, zoom: int) -> None:
        """Screen pixels per mask pixel (the zoom slider follows)."""
        zoom = shapes.number(zoom, "zoom", low=1, whole=True)
        self.zoom_slider.max = max(self.zoom_slider.max, zoom)
        self.zoom_slider.value = zoom  # -> _zoom_to, when it changes

    def _zoom_to(self, zoom: int) -> None:
        self.zoom = zoom
        self._sizes()
        self._redraw()
        self._draw_image()

    # ------------------------------------------------------------ generation in the background
    def generate(self) -> threading.Thread | None:
        """Generate an image from the current mask in a background thread (None while one is running)."""
        if self.model is None:
            raise SettingError("this painter has no model; create it with Painter(..., model=model)")
        if self._thread is not None and self._thread.is_alive():
            return None
        mask, seed = self.state.mask, int(self.seed.value)
        asked = {a: d.value for a, d in self.conditions.items() if d.value is not None}
        if getattr(self.model, "cfg", {}).get("instance_edges"):
            asked["instances"] = self.state.instances[None].astype(np.int32)
        self.generate_button.disabled = True
        said = "".join(f", {a} {v}" for a, v in asked.items())
        self.status.value = f"generating from the mask (seed {seed}{said}) ... painting goes on meanwhile"
        self._thread = threading.Thread(target=self._generate, args=(mask, seed, asked), daemon=True)
        self._thread.start()
        return self._thread

    def wait(self, timeout: float | None = None) -> np.ndarray | None:
        """Wait for a generation in progress; the last generated image (H, W, 3) uint8 or None."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.image

    def _generate(self, mask: np.ndarray, seed: int, asked: dict | None = None) -> None:
        start = time.perf_counter()
        try:
            out = self.model.generate(mask[None], seed=seed, **(asked or {}))
            out = np.asarray(out.cpu() if hasattr(out, "cpu") else out)
            if out.dtype != np.uint8 or out.shape != (1, 3, *mask.shape):
                raise SettingError(f"model.generate returned {out.dtype} {out.shape}, "
                                   f"expected uint8 (1, 3, {mask.shape[0]}, {mask.shape[1]})")
            self.image = out[0].transpose(1, 2, 0).copy()
            self._draw_image()
            said = "".join(f", {a} {v}" for a, v in (asked or {}).items() if a != "instances")
            self.status.value = f"generated in {time.perf_counter() - start:.1f} s (seed {seed}{said}); p.image holds it"
        except Exception as e:  # shown in the widget: a thread's traceback would go nowhere
            self.status.value = f"<b>generate failed</b>: {type(e).__name__}: {e}"
        finally:
            self.generate_button.disabled = False

    # ------------------------------------------------------------ drawing
    def _apply(self, change: Change | None, sync: bool = True) -> None:
        if change is not None and change.full:
            self._redraw()
        elif change is not None:
            from ipycanvas import hold_canvas

            z = self.zoom
            with hold_canvas():  # colour and rectangles in one message
                self.canvas.fill_style = _hex(change.cls)
                self.canvas.fill_rects(change.cols * z, change.rows * z, z)
        if sync:
            self._sync()

    def _sizes(self) -> None:
        h, w = self.state.shape
        canvases = [self.canvas] + ([self.image_canvas] if self.model is not None else [])
        for c in canvases:
            c.width, c.height = w * self.zoom, h * self.zoom
            c.layout.width, c.layout.height = f"{w * self.zoom}px", f"{h * self.zoom}px"  # no CSS scaling
            c.layout.min_width = c.layout.width

    def _upscaled(self, rgb: np.ndarray) -> np.ndarray:
        rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)  # RGBA: sent as PNG, not JPEG
        return rgba.repeat(self.zoom, axis=0).repeat(self.zoom, axis=1)

    def _redraw(self) -> None:
        if self.canvas.width != self.state.shape[1] * self.zoom or self.canvas.height != self.state.shape[0] * self.zoom:
            self._sizes()  # a loaded mask of another size
        self.canvas.put_image_data(self._upscaled(ids_to_colors(self.state._mask)), 0, 0)

    def _draw_image(self) -> None:
        if self.model is not None and self.image is not None:
            self.image_canvas.put_image_data(self._upscaled(self.image), 0, 0)

    def _sync(self) -> None:
        """Controls and status from the state (after a pick, undo, ...)."""
        s = self.state
        for cid, button in self.palette.items():
            chosen = cid == s.cls
            button.icon = "check" if chosen else ""
            button.style.font_weight = "bold" if chosen else ""
            button.layout.border = "3px solid #333" if chosen else ""
        self.tools.value = s.tool
        self.undo_button.disabled, self.redo_button.disabled = not s.can_undo, not s.can_redo
        h, w = s.shape
        if not (self._thread is not None and self._thread.is_alive()):
            n = int((s._mask == s.cls).sum())
            thing = f", instance {s.instance}" if s.cls in THINGS else ""
            self.status.value = (f"{h}x{w} mask, zoom {self.zoom}: {s.tool} <b>{shapes.class_name(s.cls)}</b> "
                                 f"(id {s.cls}, {n} px now{thing})")
