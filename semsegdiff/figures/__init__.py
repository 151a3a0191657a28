"""Plotting helpers with one house style; every figure is saved as PNG + PDF + the CSV behind it.

One module per kind of figure, every name importable from here (``figures.plot_*``, ``figures.save``):
:mod:`.style` (the house style, colours, saving), :mod:`.data` (datasets), :mod:`.images` (image and
mask grids), :mod:`.quality` (the model and its images), :mod:`.enrichment` (the enrichment study),
:mod:`.conditions` (conditions beyond the mask).
"""
from __future__ import annotations

from .conditions import plot_attribute_guidance, plot_condition_check
from .data import (
                    plot_attribute_joint,
                    plot_attributes,
                    plot_class_distribution,
                    plot_cooccurrence,
                    plot_object_areas,
)
from .enrichment import (
                    plot_class_deltas,
                    plot_n_curve,
                    plot_predictors,
                    plot_subset_gaps,
)
from .images import instance_colors, plot_image_rows, plot_mask, plot_pairs, preview_grid
from .quality import (
                    plot_aug_sweep,
                    plot_guidance_sweep,
                    plot_loss_curves,
                    plot_per_class_iou,
                    plot_sampler_sweep,
                    plot_target_curves,
)
from .style import (
                    ATTRIBUTE_COLORS,
                    SPLIT_STYLES,
                    TEXT_WIDTH,
                    UNKNOWN_COLOR,
                    class_colors,
                    folder,
                    save,
                    save_data,
                    save_table,
                    set_style,
)

__all__ = [
    "ATTRIBUTE_COLORS", "SPLIT_STYLES", "TEXT_WIDTH", "UNKNOWN_COLOR", "class_colors", "folder", "instance_colors",
    "plot_attribute_guidance", "plot_aug_sweep",
    "plot_attribute_joint", "plot_attributes", "plot_class_deltas", "plot_class_distribution", "plot_condition_check",
    "plot_cooccurrence", "plot_guidance_sweep", "plot_image_rows", "plot_loss_curves", "plot_mask", "plot_n_curve",
    "plot_object_areas", "plot_pairs", "plot_per_class_iou", "plot_predictors", "plot_sampler_sweep", "plot_subset_gaps",
    "plot_target_curves", "preview_grid", "save", "save_data", "save_table", "set_style",
]
