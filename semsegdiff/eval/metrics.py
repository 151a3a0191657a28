"""Scores of generated images, on torchmetrics: consistency (mIoU, pixel accuracy, per-class IoU), SSIM,
FID and KID on a named feature space with their real-vs-real floors, and diversity.

Conventions: images are uint8 (N, 3, H, W); masks uint8 ids with 255 = ignore. Consistency
leaves out classes absent from both the predictions and the masks (and says which). FID and
KID are computed by torchmetrics on features extracted once (``feature_space`` says whose:
"Inception" only when its weights file is given, else "judge features").
"""
from __future__ import annotations

import math

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchmetrics.classification import MulticlassConfusionMatrix
from torchmetrics.image import KernelInceptionDistance, StructuralSimilarityIndexMeasure
from torchmetrics.image.fid import FrechetInceptionDistance

from ..errors import CheckpointError, DataError
from .. import safe_load
from ..labels import CLASS_NAMES, IGNORE, NUM_CLASSES
from ..tensors import as_tensor, to_numpy

MIN_FID_IMAGES = 2  # torchmetrics needs two images per set for a covariance; KID needs subset_size of each


def confusion(pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray,
              num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """(C, C + 1) confusion matrix on the inputs' device: rows the mask's class, columns the predicted one.

    Mask pixels of ignore (255) are left out. A predicted id outside 0..C-1 (255 from a label-id
    table, say) lands in the last column: a miss for the mask's class and a hit for none, the
    official Cityscapes evaluator's rule. A mask id outside 0..C-1 and 255 is a :class:`DataError`.
    """
    pred, target = as_tensor(pred).long().flatten(), as_tensor(target).long().flatten()
    if pred.shape != target.shape:
        raise DataError(f"predictions and masks differ in size ({pred.numel()} and {target.numel()} pixels)")
    bad = ((target < 0) | (target >= num_classes)) & (target != IGNORE)
    if bad.any():
        raise DataError(f"a mask holds class id {int(target[bad][0])}; valid ids are 0..{num_classes - 1} and "
                        f"{IGNORE} (ignore)")
    pred = torch.where((pred >= 0) & (pred < num_classes), pred, num_classes).to(target.device)
    metric = MulticlassConfusionMatrix(num_classes + 1, ignore_index=IGNORE, validate_args=False).to(target.device)
    return metric(pred, target)[:num_classes]  # the row of class C is empty: masks never hold it


def scores_from_confusion(matrix: torch.Tensor) -> dict:
    """mIoU over the classes present in the masks or the predictions, pixel accuracy, per-class IoU (NaN: absent).

    ``matrix`` is (C, C) or (C, C + 1) (:func:`confusion`: the last column counts predictions
    outside the classes). Pixel accuracy is NaN when no pixel is scored (all ignore).
    """
    m = matrix.detach().double().cpu()
    c = m.shape[0]
    tp, support, predicted = m[:, :c].diag(), m.sum(1), m[:, :c].sum(0)
    union = support + predicted - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))
    present = union > 0
    total = float(m.sum())
    return {
        "miou": float(iou[present].mean()) if present.any() else float("nan"),
        "pixel_accuracy": float(tp.sum()) / total if total > 0 else float("nan"),
        "per_class_iou": to_numpy(iou),
        "absent": [CLASS_NAMES[i] for i in torch.nonzero(~present).flatten().tolist()],
    }


def image_confusions(pred: torch.Tensor | np.ndarray, masks: torch.Tensor | np.ndarray,
                     num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """Each image's (C, C + 1) confusion matrix, as :func:`confusion` of that image alone gives it: (N, C, C + 1)
    int64 on the CPU, from one batched ``bincount`` of (image, mask class, predicted class) triples. Summed over
    any set of images they give that set's matrix, so a bootstrap over masks needs no second pass of the judge."""
    pred, masks = as_tensor(pred).long(), as_tensor(masks).long()
    confusion(pred, masks, num_classes)  # the checks of ids and shapes, once for the whole batch
    n, c = len(masks), num_classes
    pred = torch.where((pred >= 0) & (pred < c), pred, c)
    scored = masks != IGNORE
    image = torch.arange(n, device=masks.device).view(n, *[1] * (masks.ndim - 1)).expand_as(masks)
    index = (image * c + masks.clamp(max=c - 1)) * (c + 1) + pred
    return torch.bincount(index[scored], minlength=n * c * (c + 1)).reshape(n, c, c + 1).cpu()


def miou_of(matrices: torch.Tensor) -> torch.Tensor:
    """The mIoU of each (..., C, C + 1) confusion matrix over the classes present in it (NaN when none is), as
    :func:`scores_from_confusion` computes it for one."""
    m = matrices.double()
    c = m.shape[-2]
    tp, support, predicted = m[..., :c].diagonal(dim1=-2, dim2=-1), m.sum(-1), m[..., :c].sum(-2)
    union = support + predicted - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))
    return torch.nanmean(iou, dim=-1)


def per_image_miou(pred: torch.Tensor | np.ndarray, masks: torch.Tensor | np.ndarray,
                   num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Each image's mIoU (N,), as :func:`consistency` of that image alone gives it; an image whose mask is all
    ignore scores NaN. A prediction outside the classes is a miss, ignore pixels are left out."""
    return to_numpy(miou_of(image_confusions(pred, masks, num_classes)))


def consistency(pred: torch.Tensor, masks: torch.Tensor) -> dict:
    """How well predicted ids (N, H, W) recover the masks: see :func:`scores_from_confusion`."""
    return scores_from_confusion(confusion(pred, masks))


def ssim(generated: torch.Tensor, real: torch.Tensor) -> float:
    """Mean SSIM between each generated image and the real image of its mask, on [0, 1] (torchmetrics)."""
    if generated.shape != real.shape:
        raise DataError(f"SSIM needs pairs of equal shape, got {tuple(generated.shape)} and {tuple(real.shape)}")
    metric = StructuralSimilarityIndexMeasure(data_range=1.0)
    generated, real = as_tensor(generated), as_tensor(real)
    metric = metric.to(generated.device)
    return float(metric(generated.float() / 255, real.to(generated.device).float() / 255))


class _Given(nn.Module):
    """Identity 'feature extractor': lets torchmetrics' FID/KID consume features computed once."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def check_feature_sets(a: torch.Tensor, b: torch.Tensor, what: str = "FID/KID") -> None:
    """Clear error when the two sets are too small for a covariance or of other widths."""
    if min(len(a), len(b)) < MIN_FID_IMAGES:
        raise DataError(f"{what} needs at least {MIN_FID_IMAGES} images in each set (got {len(a)} and {len(b)}); "
                        "score more masks (eval_masks)")
    if a.shape[1] != b.shape[1]:
        raise DataError(f"{what}: feature widths differ ({a.shape[1]} and {b.shape[1]})")


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance between two feature sets (N, D) (torchmetrics' FID on precomputed features)."""
    check_feature_sets(real, fake, "FID")
    metric = FrechetInceptionDistance(feature=_Given(real.shape[1]))
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def frechet_few(a: torch.Tensor, b: torch.Tensor) -> float:
    """:func:`fid` of two sets of fewer samples than features (N, M < D), as the N x M cross-product gives it.

    With A and B the centred sets and S = X'X / (n - 1), the eigenvalues of S_a S_b are the squared singular
    values of A B' over (n_a - 1)(n_b - 1), so tr sqrt(S_a S_b) is the nuclear norm of A B' over the root of that:
    the same number as torchmetrics' D x D route (a test holds them equal), in a thousandth of the time, which a
    bootstrap of a thousand draws needs.
    """
    check_feature_sets(a, b, "FID")
    a, b = a.double(), b.double()
    ca, cb = a - a.mean(0), b - b.mean(0)
    cross = torch.linalg.svdvals(ca @ cb.T).sum() / math.sqrt((len(a) - 1) * (len(b) - 1))
    traces = (ca.pow(2).sum() / (len(a) - 1)) + (cb.pow(2).sum() / (len(b) - 1))
    return float((a.mean(0) - b.mean(0)).pow(2).sum() + traces - 2 * cross)


def kid(real: torch.Tensor, fake: torch.Tensor, subsets: int = 50, seed: int = 0) -> tuple[float, float]:
    """Kernel distance (mean, std over random subsets of half the smaller set) between two feature sets."""
    check_feature_sets(real, fake, "KID")
    size = max(2, min(len(real), len(fake), 2000) // 2)  # subsets of half the smaller set: a spread to report
    metric = KernelInceptionDistance(feature=_Given(real.shape[1]), subsets=subsets, subset_size=size)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):  # torchmetrics draws the subsets from the global RNG: seed it here
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def diversity(features: torch.Tensor) -> float:
    """Mean pairwise L2 distance between the features of several images of one mask, averaged over masks.

    ``features`` is (N masks, K images, D) with K >= 2.
    """
    if features.shape[1] < 2:
        raise DataError("diversity needs at least 2 images per mask (eval_per_mask >= 2)")
    d = torch.cdist(features.double(), features.double())  # (N, K, K)
    k = features.shape[1]
    return float(d.sum(dim=(1, 2)).mean() / (k * (k - 1)))


def inception_features(path: str | Path) -> nn.Module:
    """FID's Inception network from a local weights file (torch-fidelity's pt_inception-2015-12-05-6726825d.pth).

    The module maps uint8 images (N, 3, H, W) to 2048-d features (it resizes to 299 itself).
    """
    path = Path(path)
    safe_load.load(path, "Inception weights file", "--inception")  # our words for a missing or foreign file
    try:
        metric = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(path))
    except ModuleNotFoundError:
        raise CheckpointError("--inception needs torch-fidelity: pip install torch-fidelity") from None
    except Exception as e:  # noqa: BLE001 - a wrong file: torch-fidelity's own message
        raise CheckpointError(f"{path}: not FID Inception weights ({type(e).__name__}: "
                              f"{(str(e).splitlines() or [''])[0][:200]})") from None
    return metric.inception.eval()
