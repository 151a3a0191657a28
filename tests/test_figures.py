"""Figures draw what their data holds, including the data a short run leaves (no validation yet, one point)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from semsegdiff import figures


def test_loss_curves_of_a_run_that_ended_before_its_first_validation():
    """Notebook 02's fault on the paper profile: training shorter than preview_every logs no val_loss at all."""
    metrics = pd.DataFrame({"epoch": [0, 0], "step": [1, 2], "train_loss_step": [0.9, 0.8]})
    fig = figures.plot_loss_curves(metrics)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert any("train" in label for label in labels) and not any("val" in label for label in labels)


def test_the_sampler_figure_shows_each_gap_with_its_interval_against_the_target():
    sweep = pd.DataFrame({"sampler": ["ddpm", "dpmsolver++", "dpmsolver++"], "steps": [1000, 10, 20],
                          "n_masks": [24, 24, 24], "seconds_per_image": [5.3, 0.05, 0.1],
                          "gap_points": [0.0, -0.3, -0.4], "gap_low": [0.0, -1.5, -1.8], "gap_high": [0.0, 0.9, 0.9]})
    fig = figures.plot_sampler_sweep(sweep)
    ax = fig.axes[0]
    assert -1.0 in [line.get_ydata()[0] for line in ax.get_lines() if len(set(line.get_ydata())) == 1]  # the target
    bars = [c for c in ax.collections if c.get_segments()]  # one errorbar set for the fast sampler, none for ddpm
    assert len(bars) == 1 and {round(s[0][1], 1) for s in bars[0].get_segments()} == {-1.5, -1.8}
    assert "vs ddpm 1000" in ax.get_ylabel()


@pytest.mark.parametrize("points", [1, 3])
def test_target_curves_with_bands_and_a_single_point(points):
    curve = pd.DataFrame({"series": "this run", "minutes": np.arange(1, points + 1, dtype=float),
                          "gap_points": np.linspace(-5, -2, points), "gap_low": np.linspace(-6, -3, points),
                          "gap_high": np.linspace(-4, -1, points)})
    fig = figures.plot_target_curves(curve, [("gap_points", "points", -1.0, True)], by="series")
    ax = fig.axes[0]
    assert len(ax.collections) == 1  # the interval as a band
    assert ax.get_lines()[0].get_ydata().tolist() == curve["gap_points"].tolist()
