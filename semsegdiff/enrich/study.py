"""From the enrichment study to an export: the arm whose gain is best supported, as ``enrich`` settings."""
from __future__ import annotations

from typing import Any

import pandas as pd

ARM_STEPS = {"real+gen": "all", "real+gen filtered": "all", "real+gen hard": "hard", "real+rare": "rare",
             "real+rare local": "rare local", "real+copypaste": "copypaste", "real+cond": "cond", "gen only": "all",
             "real+gen student": "all"}  # the recipe step that makes each arm's added pairs


def best_recipe(table: pd.DataFrame) -> dict[str, Any]:
    """The arm of :func:`semsegdiff.eval.arm_table` with the highest lower bound of its gain (``gen only``, which drops
    the real images, left out; with one seed per arm, no intervals: the highest gain), as ``enrich`` keywords:
    ``recipe``, ``filter``, ``n`` (its N x the real images), and ``arm``, ``delta``, ``ci_low``, ``ci_high`` and
    ``summary`` (a line saying how it was chosen) for the record."""
    table = table.assign(**{c: pd.to_numeric(table[c]) for c in ("delta", "ci_low", "ci_high")})
    rows = table[table["arm"].isin(ARM_STEPS) & (table["arm"] != "gen only") & table["delta"].notna()]
    if rows.empty:
        raise ValueError("the study has no arm that adds generated pairs to the real ones to choose from")
    intervals = rows["ci_low"].notna().any()
    best = rows.sort_values(["ci_low", "delta"] if intervals else ["delta"], kind="stable").iloc[-1]
    gain = f"{best['arm']} {best['delta'] * 100:+.2f} points"
    summary = (f"{gain} [{best['ci_low'] * 100:+.2f}, {best['ci_high'] * 100:+.2f}] (the highest lower bound)"
               if intervals else f"{gain} (the highest gain; one seed per arm, so no interval supports it)")
    return {"recipe": {ARM_STEPS[best["arm"]]: 1.0}, "filter": float(best["threshold"] or 0.0),
            "n": f"{best['n_mult']:g}x", "arm": best["arm"], "delta": float(best["delta"]),
            "ci_low": float(best["ci_low"]), "ci_high": float(best["ci_high"]), "summary": summary}
