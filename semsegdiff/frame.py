"""A frame size: the height and width of every image and mask of a run.

The ``size`` setting is one number for a square frame (``32``, the reference's square crop) or
a height and width for a whole frame at its aspect (``"128x224"``, ``[128, 224]``: BDD100K's 16:9;
``"128x256"``: Cityscapes' 2:1). Settings, checkpoints and caches keep the canonical form: an int
for a square, ``[height, width]`` otherwise, so square runs read exactly as before.
"""
from __future__ import annotations

import re
from typing import Any, Union

import yaml

from .errors import SettingError

Size = Union[int, list]  # canonical: int (square) or [height, width]
_HXW = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def parse_size(value: Any, name: str = "size (--size)") -> Size:
    """``value`` (an int, ``"HxW"``, ``"N"`` or a pair) in canonical form; SettingError naming ``name`` otherwise.

    Ranges are checked by the caller (:func:`semsegdiff.config.check_setting`).
    """
    if isinstance(value, str):
        m = _HXW.match(value)
        if m:
            value = [int(m.group(1)), int(m.group(2))]
        else:  # "64", "[128, 224]" (YAML, as notebook parameters and -p give it)
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                pass
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or not all(_whole(v) for v in value):
            raise SettingError(f"{name}: expected a side such as 64 or a height x width such as 128x224, got "
                               f"{value!r}")
        h, w = (int(v) for v in value)
        return h if h == w else [h, w]
    if not _whole(value):
        raise SettingError(f"{name}: expected a side such as 64 or a height x width such as 128x224, got "
                           f"{value!r}")
    return int(value)


def _whole(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and float(v).is_integer()


def frame(size: Any) -> tuple[int, int]:
    """(height, width) of a canonical size (an int is a square)."""
    if isinstance(size, (list, tuple)):
        return int(size[0]), int(size[1])
    return int(size), int(size)


def canonical(h: int, w: int) -> Size:
    """The setting's form of a (height, width) frame."""
    return int(h) if h == w else [int(h), int(w)]


def label(size: Any) -> str:
    """``"32"`` for a square, ``"128x224"`` otherwise (folder names, messages)."""
    h, w = frame(size)
    return str(h) if h == w else f"{h}x{w}"


def check_multiple(size: Any, factor: int, why: str, name: str = "size (--size)") -> None:
    """SettingError unless each side of ``size`` is a multiple of ``factor`` (``why``), naming the nearest that is."""
    if any(side % factor for side in frame(size)):
        h, w = (-(-side // factor) * factor for side in frame(size))
        sides = "" if isinstance(size, int) else "each side of "
        raise SettingError(f"{name}: {sides}{label(size)} must be a multiple of {factor} for {why}; "
                           f"{label(canonical(h, w))} would work")


def pixels(size: Any) -> int:
    """Pixels per image of a frame."""
    h, w = frame(size)
    return h * w
