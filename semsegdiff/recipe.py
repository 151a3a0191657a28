"""The vocabulary of an enrichment recipe (``semsegdiff enrich``): its steps, the rare conditions it can ask for, and
the rules of the settings that name them (a count such as ``10x``, shares such as ``{hard: 0.7, rare: 0.3}``).

Steps (each makes generated training pairs from the real train masks):

- ``all``: every real mask in turn, one image each (the study's ``real+gen``);
- ``hard``: masks drawn by FreeMask's hardness re-sampling, hard masks up to ``hard_max`` times (``real+gen hard``);
- ``rare``: a rare object (rider, motorcycle, bicycle, train, bus) inserted into a real mask, the scene generated;
- ``rare local``: the same edit, generated only where the mask changed, inside the real photo;
- ``cond``: masks of common-condition images generated at night, in rain or in fog (``real+cond``);
- ``copypaste``: the non-generative baseline: a rare object cut from another real image and pasted.
"""
from __future__ import annotations

import math
import re
from typing import Any

from .errors import SettingError

STEPS = ("all", "hard", "rare", "rare local", "cond", "copypaste")
RARE_CONDITIONS = {"night": ("time", "night"), "rain": ("weather", "rain"), "fog": ("weather", "fog")}
MAX_IMAGES = 10_000_000  # beyond this a request is a typo, not a dataset


def parse_n(value: Any, name: str = "enrich_n (--n)") -> tuple[float | None, int | None]:
    """``"10x"`` -> (10.0, None): a multiple of the real train images; ``"5000"`` or 5000 -> (None, 5000): a count."""
    text = str(value).strip().lower()
    m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*x", text)
    if m:
        mult = float(m.group(1))
        if not 0 < mult <= 1000:
            raise SettingError(f"{name}: {value!r} must be more than 0x and at most 1000x the real train images")
        return mult, None
    if re.fullmatch(r"\d+", text):
        count = int(text)
        if not 1 <= count <= MAX_IMAGES:
            raise SettingError(f"{name}: {value!r} must be between 1 and {MAX_IMAGES:,} images")
        return None, count
    raise SettingError(f"{name}: expected a multiple of the real train images such as 10x, or a count such as 5000; "
                       f"got {value!r}")


def count(value: Any, n_real: int, name: str = "enrich_n (--n)") -> int:
    """How many images ``value`` asks for, given ``n_real`` real train images."""
    mult, n = parse_n(value, name)
    if n is None:
        n = max(1, round(mult * n_real))
        if n > MAX_IMAGES:
            raise SettingError(f"{name}: {value} of {n_real:,} real images is {n:,} images, more than {MAX_IMAGES:,}")
    return n


def parse_shares(value: Any, allowed: tuple[str, ...], name: str) -> dict[str, float]:
    """``{key: weight}`` with keys from ``allowed`` and weights >= 0 (at least one above 0), normalised to sum to 1."""
    if isinstance(value, str):
        import yaml

        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise SettingError(f"{name}: {value!r} is not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(value, dict) or not value:
        raise SettingError(f"{name}: expected shares such as {{{allowed[0]}: 0.7, {allowed[1]}: 0.3}}, got {value!r}")
    out = {}
    for key, weight in value.items():
        if key not in allowed:
            raise SettingError(f"{name}: unknown {key!r}; one of {', '.join(allowed)}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise SettingError(f"{name}: the share of {key!r} must be a number >= 0, got {weight!r}")
        out[str(key)] = float(weight)
    total = sum(out.values())
    if total <= 0:
        raise SettingError(f"{name}: every share is 0; give at least one a weight above 0")
    return {k: v / total for k, v in out.items() if v > 0}


def split_count(n: int, shares: dict[str, float]) -> dict[str, int]:
    """``n`` split by ``shares`` (largest remainders: the counts sum to ``n``, in the shares' order)."""
    exact = {k: n * v for k, v in shares.items()}
    counts = {k: math.floor(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: counts[k] - exact[k])[: n - sum(counts.values())]:
        counts[k] += 1
    return counts
