"""Datasets: layouts on disk, the embedded synthetic dataset, prepared caches, the DataModule."""
from .datamodule import CachedPairs, SegDataModule, to_model_range
from .formats import DataError, Dataset, Sample, detect_format, open_dataset, write_bdd100k
from .prepare import Prepared, center_crop_resize, ensure_dataset, is_prepared, open_prepared, prepare
from .stats import class_stats, cooccurrence, distribution_table, object_areas, rare_classes

__all__ = [
    "CachedPairs", "DataError", "Dataset", "Prepared", "Sample", "SegDataModule", "center_crop_resize",
    "class_stats", "cooccurrence", "detect_format", "distribution_table", "ensure_dataset", "is_prepared",
    "object_areas", "open_dataset", "open_prepared", "prepare", "rare_classes", "to_model_range", "write_bdd100k",
]
