"""Scene attributes beyond the mask: time of day, weather and scene type, the one vocabulary of the package.

A mask says where things are, not when or in what weather. Every dataset gets one attribute
table: per image a code per attribute, ``0`` = unknown (the source says nothing, or a condition
dropped for guidance), value ``i`` of :data:`ATTRIBUTES` = code ``i + 1``. Sources name values
their own way; :data:`ALIASES` maps them (BDD100K's label JSON, the synthetic renderer, the
names here), and anything else is an error naming the file or flag and the allowed values.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import SettingError

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "time": ("day", "dusk/dawn", "night"),
    "weather": ("clear", "cloudy", "rain", "snow", "fog"),
    "scene": ("city", "residential", "highway", "rural/other"),
}
NAMES = tuple(ATTRIBUTES)  # column order of attribute arrays: (N, 3) uint8 codes
UNKNOWN = "unknown"
# Other vocabularies -> ours. BDD100K (doc/source/format.rst of bdd100k/bdd100k): timeofday daytime|night|dawn/dusk|
# undefined; weather rainy|snowy|clear|overcast|undefined|partly cloudy|foggy; scene tunnel|residential|parking lot|
# undefined|city street|gas stations|highway. The synthetic renderer: day|dusk|night, clear|cloudy|overcast|rain|fog,
# urban|suburban|highway|rural.
ALIASES: dict[str, dict[str, str]] = {
    "time": {"daytime": "day", "dawn/dusk": "dusk/dawn", "dusk": "dusk/dawn", "dawn": "dusk/dawn",
             "undefined": UNKNOWN, "": UNKNOWN},
    "weather": {"partly cloudy": "cloudy", "overcast": "cloudy", "rainy": "rain", "snowy": "snow", "foggy": "fog",
                "undefined": UNKNOWN, "": UNKNOWN},
    "scene": {"city street": "city", "urban": "city", "suburban": "residential", "rural": "rural/other",
              "other": "rural/other", "tunnel": "rural/other", "parking lot": "rural/other",
              "gas stations": "rural/other", "undefined": UNKNOWN, "": UNKNOWN},
}
SOURCE_KEYS = {"time": ("time", "timeofday"), "weather": ("weather",), "scene": ("scene",)}  # column / JSON key names


def code(attribute: str, value: Any, where: str = "") -> int:
    """The code of ``value`` (ours, an alias, or None / "unknown" -> 0); SettingError naming ``where`` and the choices."""
    if attribute not in ATTRIBUTES:
        raise SettingError(f"{where or 'attribute'}: unknown attribute {attribute!r}; one of {', '.join(NAMES)}")
    if value is None:
        return 0
    if not isinstance(value, str):
        raise SettingError(f"{where or attribute}: expected a name for {attribute}, got {_short(value)}; "
                           f"one of {', '.join(ATTRIBUTES[attribute])} (or {UNKNOWN})")
    v = value.strip().lower()
    v = ALIASES[attribute].get(v, v)
    if v == UNKNOWN:
        return 0
    if v not in ATTRIBUTES[attribute]:
        raise SettingError(f"{where or attribute}: {_short(value)} is not a {attribute}; one of "
                           f"{', '.join(ATTRIBUTES[attribute])} (or {UNKNOWN})")
    return ATTRIBUTES[attribute].index(v) + 1


def _short(v: Any, n: int = 60) -> str:
    """``repr(v)`` cut to ``n`` characters (a value read from a file may be any size)."""
    r = repr(v)
    return r if len(r) <= n else r[:n] + "..."


def value(attribute: str, c: int) -> str:
    """The name of code ``c`` of ``attribute`` (0: "unknown")."""
    return UNKNOWN if int(c) == 0 else ATTRIBUTES[attribute][int(c) - 1]


def encode(rows: Iterable[Mapping[str, Any] | None], where: str = "") -> np.ndarray:
    """(N, 3) uint8 codes of attribute rows (dicts with any of our or a source's keys; None or missing: unknown)."""
    out = []
    for i, row in enumerate(rows):
        row = row or {}
        out.append([code(a, next((row[k] for k in SOURCE_KEYS[a] if k in row), None), f"{where} row {i + 1}".strip())
                    for a in NAMES])
    return np.asarray(out, dtype=np.uint8).reshape(-1, len(NAMES))


def requested(n: int, **values: Any) -> np.ndarray:
    """(n, 3) codes for generating ``n`` images: each attribute a name for all, one name per image, or None.

    ``requested(4, time="night")``, ``requested(2, weather=["rain", "fog"])``; an attribute not
    given (or None) is unconditional for it (code 0).
    """
    out = np.zeros((n, len(NAMES)), np.uint8)
    for a, v in values.items():
        if a not in ATTRIBUTES:
            raise SettingError(f"unknown attribute {a!r}; one of {', '.join(NAMES)}")
        if v is None or isinstance(v, str):
            out[:, NAMES.index(a)] = code(a, v, f"--{a}")
            continue
        if not isinstance(v, Sequence) or len(v) != n:
            raise SettingError(f"--{a}: expected one name, or one per mask ({n}), got {v!r}")
        out[:, NAMES.index(a)] = [code(a, x, f"--{a}") for x in v]
    return out


def check_codes(codes: np.ndarray, n: int, what: str = "attrs") -> np.ndarray:
    """``codes`` as an (n, 3) int64 array of attribute codes (0 = unknown); SettingError naming the shape or the
    first code out of range otherwise."""
    codes = np.asarray(codes)
    if codes.shape != (n, len(NAMES)) or not (np.issubdtype(codes.dtype, np.integer) or codes.dtype == bool):
        raise SettingError(f"{what}: expected integer codes of shape ({n}, {len(NAMES)}) (one row per mask, columns "
                           f"{', '.join(NAMES)}), got {codes.dtype} {codes.shape}")
    for j, a in enumerate(NAMES):
        bad = np.flatnonzero((codes[:, j] < 0) | (codes[:, j] > len(ATTRIBUTES[a])))
        if len(bad):
            raise SettingError(f"{what}: row {bad[0]} has {a} code {codes[bad[0], j]}; {a} codes are 0 (unknown) to "
                               f"{len(ATTRIBUTES[a])} ({', '.join(ATTRIBUTES[a])})")
    return codes.astype(np.int64)


def counts(codes: np.ndarray) -> dict[str, dict[str, int]]:
    """Images per value (unknown included) of each attribute: {"time": {"day": 12, ..., "unknown": 3}, ...}."""
    codes = np.asarray(codes).reshape(-1, len(NAMES))
    return {a: {value(a, c): int((codes[:, j] == c).sum()) for c in range(len(ATTRIBUTES[a]) + 1)}
            for j, a in enumerate(NAMES)}


def check_value_scales(table: Any, where: str = "condition_guidance") -> dict[str, float]:
    """``{value: guidance scale}`` (parsed: ``config.check_setting`` reads YAML) for values of any attribute
    (``{night: 1, fog: 4}``; ``{}`` or None: none); SettingError naming ``where`` and the problem otherwise."""
    table = {} if table is None else table  # an empty YAML string
    if not isinstance(table, Mapping):
        raise SettingError(f"{where}: expected a scale per value such as {{night: 1.0, fog: 4.0}}, got {_short(table)}")
    known = [v for a in NAMES for v in ATTRIBUTES[a]]
    out = {}
    for key, scale in table.items():
        if key not in known:
            raise SettingError(f"{where}: {_short(key)} is not a value of any attribute; one of {', '.join(known)}")
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 <= scale <= 100:
            raise SettingError(f"{where}: the scale of {key!r} must be a number in [0, 100], got {_short(scale)}")
        out[str(key)] = float(scale)
    return out


def guidance_scales(codes: np.ndarray, table: Mapping[str, float], default: float) -> np.ndarray:
    """(N, 3) float32 guidance scale of each image's asked value of each attribute: ``table``'s where it names the
    value, else ``default`` (also where nothing is asked: no term of the guidance then)."""
    codes = np.asarray(codes).reshape(-1, len(NAMES))
    out = np.full(codes.shape, float(default), np.float32)
    for j, a in enumerate(NAMES):
        for c, v in enumerate(ATTRIBUTES[a], start=1):
            if v in table:
                out[codes[:, j] == c, j] = table[v]
    return out
