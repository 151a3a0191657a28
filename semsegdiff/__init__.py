"""semsegdiff: driving-scene images from semantic segmentation masks with conditional diffusion."""
__version__ = "0.1.0"

from .labels import CLASS_NAMES, IGNORE, NUM_CLASSES, PALETTE, class_id  # noqa: E402

__all__ = ["CLASS_NAMES", "IGNORE", "NUM_CLASSES", "PALETTE", "class_id", "__version__"]
