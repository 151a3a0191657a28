"""``semsegdiff enrich``: the enriched dataset as the product, in the source's own layout (:func:`enrich`)."""
from .run import enrich

__all__ = ["enrich"]
