"""Datasets: layouts on disk, attribute files, the embedded synthetic dataset, prepared caches, the DataModule."""
from ..errors import DataError
from .attribute_files import (AttributeTable, read_attribute_csv, read_attributes, read_label_frames,
                              write_attribute_csv)
from .crop import center_crop_resize, crop_box, kept_share
from .datamodule import CachedPairs, SegDataModule, to_model_range
from .formats import Dataset, Sample, detect_format, open_dataset, read_mask, write_bdd100k
from .prepare import Prepared, dataset_for, ensure_dataset, fingerprint, is_prepared, open_prepared, prepare
from .stats import (attribute_class_table, attribute_joint, attribute_table, class_stats, cooccurrence,
                    distribution_table, object_areas, rare_classes, rarest_cells)

__all__ = [
    "AttributeTable", "CachedPairs", "DataError", "Dataset", "Prepared", "Sample", "SegDataModule",
    "attribute_class_table", "attribute_joint", "attribute_table", "center_crop_resize", "class_stats", "crop_box",
    "cooccurrence", "dataset_for", "detect_format", "distribution_table", "ensure_dataset", "fingerprint",
    "is_prepared", "kept_share", "object_areas", "open_dataset", "open_prepared", "prepare", "rare_classes",
    "rarest_cells",
    "read_attribute_csv", "read_attributes", "read_label_frames", "read_mask", "to_model_range",
    "write_attribute_csv", "write_bdd100k",
]
