"""Cropping a frame to the run's aspect and resizing it: a centred square (the reference's) or a whole frame."""
from __future__ import annotations

import numpy as np
import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from ..frame import Size, frame


def crop_box(h: int, w: int, size: Size, crop: float = 0.5) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the largest region of an h x w frame at ``size``'s aspect.

    ``crop`` places it along the side it cuts: 0 top / left, 0.5 centre (the reference's), 1 bottom / right.
    """
    fh, fw = frame(size)
    if w * fh >= h * fw:  # wider than the target: cut the sides
        ch, cw = h, min(w, max(1, round(h * fw / fh)))
    else:
        ch, cw = min(h, max(1, round(w * fh / fw))), w
    return int((h - ch) * crop), int((w - cw) * crop), ch, cw


def kept_share(h: int, w: int, size: Size) -> float:
    """Share of an h x w frame that the crop to ``size``'s aspect keeps."""
    _, _, ch, cw = crop_box(h, w, size)
    return ch * cw / (h * w)


def center_crop_resize(image: np.ndarray | None, mask: np.ndarray, size: Size,
                       crop: float = 0.5) -> tuple[np.ndarray | None, np.ndarray]:
    """Crop a pair to the aspect of ``size`` (a square for one number, as the reference does) and resize it.

    ``size`` is a side or a (height, width) frame (:mod:`semsegdiff.frame`); ``crop`` places the
    crop (:func:`crop_box`, centred by default). The image is resized with antialiasing, the mask
    with nearest neighbour (ids stay ids). ``image`` may be ``None`` to crop and resize a mask alone.
    """
    top, left, ch, cw = crop_box(*mask.shape, size, crop)
    fh, fw = frame(size)
    msk = torch.from_numpy(np.ascontiguousarray(mask[top:top + ch, left:left + cw]))[None]
    img = None if image is None else \
        torch.from_numpy(np.ascontiguousarray(image[top:top + ch, left:left + cw])).permute(2, 0, 1)
    if (ch, cw) != (fh, fw):
        msk = TF.resize(msk, [fh, fw], interpolation=InterpolationMode.NEAREST_EXACT)
        if img is not None:
            img = TF.resize(img, [fh, fw], interpolation=InterpolationMode.BILINEAR, antialias=True)
    return (None if img is None else img.permute(1, 2, 0).cpu().numpy()), msk[0].cpu().numpy()
