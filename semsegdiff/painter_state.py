"""The painter's state, without any widget: the mask and its instances, the tool, the class, the brush, undo and redo.

Plain Python, so the painter's logic is tested without a browser: ``press(row, col)``,
``drag(row, col)``, ``release()`` are one stroke = one undo step; strokes and fills go through
:func:`masks.stroke` / :func:`masks.fill` (no per-pixel Python loops). Each step returns a
:class:`Change`, what the view (:class:`semsegdiff.widgets.Painter`) must redraw.

Beside the mask it keeps an instance map (:mod:`semsegdiff.instances`): what a stroke or fill of a
thing class paints belongs to the current instance, other classes to none; :meth:`new_instance`
starts the next one, so two cars painted side by side are two instances.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np

from . import instances as instance_edits
from . import masks, shapes
from .errors import SettingError
from .labels import IGNORE, THINGS

TOOLS = ("paint", "erase", "fill", "pick")  # erase paints ignore (255)
HISTORY = 100  # undo steps kept


@dataclass(frozen=True)
class Change:
    """What a step changed, for the view: pixels (``rows``, ``cols``) now of class ``cls``, or ``full``: redraw all."""

    rows: np.ndarray
    cols: np.ndarray
    cls: int
    full: bool = False

    @classmethod
    def everything(cls) -> "Change":
        return cls(np.empty(0, int), np.empty(0, int), IGNORE, full=True)


class PainterState:
    """The painter's state without any widget: mask, tool, class, brush radius, undo and redo.

    ``mask`` (uint8 train ids, 255 = ignore, or a mask file) is checked like every mask in :mod:`semsegdiff.masks`;
    without it a ``size`` (int or (h, w), default 32) mask filled with ``start`` ("road" or "ignore").
    Coordinates are mask ``(row, col)`` with pixel centres at whole numbers; fractions are fine.
    Points outside the mask are clipped (a stroke) or ignored (fill, pick) without warnings. Points that
    are not finite numbers within +-shapes.BIG (NaN, inf, 1e300, None) are refused with a SettingError
    naming them, before anything changes: the mask, the stroke in progress and the history stay as they were.
    """

    def __init__(self, mask=None, *, size=None, start="road", cls="car", radius: float = 1.0,
                 tool: str = "paint", instances=None):
        if mask is not None and size is not None:
            raise SettingError("give a mask or a size, not both")
        if mask is None:
            h, w = _size(32 if size is None else size)
            mask = np.full((h, w), shapes.class_of(start), np.uint8)
        if isinstance(mask, (str, os.PathLike)):  # a mask file: the one mask reader's rules
            mask = masks.read(mask)
        self._mask = shapes.check_mask(mask).copy()  # never aliases the caller's array
        self._ids = np.zeros(self._mask.shape, np.uint16) if instances is None else \
            instance_edits.check(self._mask, instances)[1].copy()
        self.instance = instance_edits.next_id(self._ids)  # what thing-class strokes paint
        self._undo: list[tuple[np.ndarray, np.ndarray]] = []  # (mask, instances) before each step
        self._redo: list[tuple[np.ndarray, np.ndarray]] = []
        self._before: tuple[np.ndarray, np.ndarray] | None = None  # before the stroke in progress
        self._last: tuple[float, float] | None = None  # the stroke's last point
        self.cls, self.tool, self.radius = cls, tool, radius

    # ------------------------------------------------------------ settings
    @property
    def mask(self) -> np.ndarray:
        """A copy of the current mask (H, W) uint8: changing it does not change the painter."""
        return self._mask.copy()

    @property
    def instances(self) -> np.ndarray:
        """A copy of the instance map (H, W) uint16 (0: no instance)."""
        return self._ids.copy()

    def new_instance(self) -> int:
        """Start a new instance: the next thing-class strokes and fills paint it (its id is returned)."""
        self.release()
        self.instance = max(self.instance, instance_edits.next_id(self._ids))
        return self.instance

    @property
    def shape(self) -> tuple[int, int]:
        return self._mask.shape

    @property
    def cls(self) -> int:
        """Train id painted by paint and fill (255 = ignore); set by name or id."""
        return self._cls

    @cls.setter
    def cls(self, value) -> None:
        self._cls = shapes.class_of(value)

    @property
    def tool(self) -> str:
        """One of :data:`TOOLS`: paint, erase (to ignore), fill, pick (eyedropper)."""
        return self._tool

    @tool.setter
    def tool(self, value: str) -> None:
        if value not in TOOLS:
            raise SettingError(f"tool must be one of {', '.join(TOOLS)}, got {value!r}")
        self.release()
        self._tool = value

    @property
    def radius(self) -> float:
        """Brush radius in mask pixels (0: one pixel wide)."""
        return self._radius

    @radius.setter
    def radius(self, value: float) -> None:
        self._radius = shapes.number(value, "brush radius")

    @property
    def drawing(self) -> bool:
        return self._before is not None

    @property
    def can_undo(self) -> bool:
        return bool(self._undo) or self.drawing

    @property
    def can_redo(self) -> bool:
        return bool(self._redo) and not self.drawing

    # ------------------------------------------------------------ mouse
    def press(self, row: float, col: float) -> Change | None:
        """Start a stroke (paint, erase), fill the region under the point, or pick its class."""
        row, col = _point(row, col, "press")
        self.release()
        if self.tool == "pick":
            self.pick(row, col)
            return None
        if self.tool == "fill":
            at = self._inside(row, col)
            if at is None:
                return None
            new = masks.fill(self._mask, self.cls, at)
            return self._commit(new, ids=self._painted(self._ids, new != self._mask, self.cls))
        self._before, self._last = (self._mask.copy(), self._ids.copy()), (row, col)
        return self._stroke([(row, col)])

    def drag(self, row: float, col: float) -> Change | None:
        """Continue the stroke in progress to (row, col); nothing when no stroke is in progress."""
        row, col = _point(row, col, "drag")
        if not self.drawing:
            return None
        segment, self._last = [self._last, (row, col)], (row, col)
        return self._stroke(segment)

    def release(self) -> None:
        """End the stroke in progress: it becomes one undo step if it changed anything."""
        if self.drawing:
            before, self._before, self._last = self._before, None, None
            if (before[0] != self._mask).any() or (before[1] != self._ids).any():
                self._push(before)

    def pick(self, row: float, col: float) -> int | None:
        """Eyedropper: the class under (row, col) becomes the class to paint, and the tool paint again."""
        at = self._inside(*_point(row, col, "pick"))
        if at is None:
            return None
        self.cls = int(self._mask[at])
        self._tool = "paint"
        return self.cls

    # ------------------------------------------------------------ history
    def undo(self) -> Change | None:
        """Back one step (a stroke in progress ends first); None when there is nothing to undo."""
        return self._step(self._undo, self._redo)

    def redo(self) -> Change | None:
        """Forward one undone step; None when there is nothing to redo (a new edit clears it)."""
        return self._step(self._redo, self._undo)

    def load(self, mask, instances=None) -> Change:
        """Replace the mask (any size; an array, or a mask file read by :func:`masks.read`) and its instances (none:
        all 0), as one undo step."""
        mask = masks.read(mask) if isinstance(mask, (str, os.PathLike)) else shapes.check_mask(mask).copy()
        ids = np.zeros(mask.shape, np.uint16) if instances is None else instance_edits.check(mask, instances)[1].copy()
        change = self._commit(mask, always=True, ids=ids)
        self.instance = instance_edits.next_id(ids)
        return change

    # ------------------------------------------------------------ internals
    def _inside(self, row: float, col: float) -> tuple[int, int] | None:
        r, c = int(np.rint(row)), int(np.rint(col))
        return (r, c) if 0 <= r < self.shape[0] and 0 <= c < self.shape[1] else None

    def _step(self, take: list, put: list) -> Change | None:
        self.release()
        if not take:
            return None
        put.append((self._mask, self._ids))
        self._mask, self._ids = take.pop()
        return Change.everything()

    def _push(self, before: tuple[np.ndarray, np.ndarray]) -> None:
        self._undo.append(before)  # in place: _step holds on to these lists
        del self._undo[:-HISTORY]
        self._redo.clear()  # a new edit forgets what was undone

    def _commit(self, new: np.ndarray, always: bool = False, ids: np.ndarray | None = None) -> Change | None:
        self.release()
        ids = self._ids if ids is None else ids
        if not always and (new.shape == self.shape and (new == self._mask).all() and (ids == self._ids).all()):
            return None
        self._push((self._mask, self._ids))
        self._mask, self._ids = new, ids
        return Change.everything()

    def _painted(self, ids: np.ndarray, region: np.ndarray, value: int) -> np.ndarray:
        """ids with ``region`` in the current instance (a thing class) or in none."""
        out = ids.copy()
        out[region] = self.instance if value in THINGS else 0
        return out

    def _stroke(self, points) -> Change | None:
        value = IGNORE if self.tool == "erase" else self.cls
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*reaches outside")  # a stroke off the edge: clipped
            try:
                new = masks.stroke(self._mask, value, points, self.radius)
                region = masks.stroke(np.zeros(self.shape, np.uint8), 1, points, self.radius) == 1
            except SettingError:  # the segment lies entirely outside the mask
                return None
        rows, cols = np.nonzero(new != self._mask)
        self._mask, self._ids = new, self._painted(self._ids, region, value)
        return Change(rows, cols, value) if len(rows) else None


def _point(row, col, what: str) -> tuple[float, float]:
    """(row, col) as floats if both are finite numbers within +-shapes.BIG; a SettingError naming them otherwise."""
    r, c = shapes.as_points((row, col), f"{what}: row, col", at_least=0)[0]
    return float(r), float(c)


def _size(size) -> tuple[int, int]:
    hw = (size, size) if np.ndim(size) == 0 else tuple(size)
    if len(hw) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 1 <= v <= 4096
                               for v in hw):
        raise SettingError(f"size must be a whole number of pixels or (h, w), 1..4096, got {size!r}")
    return int(hw[0]), int(hw[1])
