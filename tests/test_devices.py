"""Device-correctness: a tensor reaches numpy only through the CPU, and the paths that broke on a GPU.

On a lent H200 every judge trained on the GPU stopped at its first validation: a CUDA confusion
matrix went to ``.numpy()``. CI has no GPU, so two guards run here on the CPU: a source check
(every ``.numpy()`` in the package comes straight after ``.cpu()``), and the conversion paths run
with :class:`OffCPU` tensors, which refuse ``.numpy()`` and ``np.asarray`` as a CUDA tensor does.
Tests marked ``gpu`` also run on a GPU wherever one is present (``pytest -m gpu``).
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from semsegdiff.eval.metrics import confusion, consistency, scores_from_confusion, ssim
from semsegdiff.tensors import as_tensor, to_numpy

PACKAGE = Path(__file__).resolve().parent.parent / "semsegdiff"
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


class OffCPU(torch.Tensor):
    """A CPU tensor that behaves like one on a GPU at the numpy boundary: ``.numpy()`` and ``np.asarray`` fail,
    ``.cpu()`` gives a plain tensor. Results of operations on it stay OffCPU."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.Tensor.numpy, torch.Tensor.__array__):
            raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor to "
                            "host memory first.")
        out = super().__torch_function__(func, types, args, kwargs or {})
        if func is torch.Tensor.cpu:
            return out.as_subclass(torch.Tensor)
        return out


def off_cpu(x) -> OffCPU:
    return torch.as_tensor(np.asarray(x)).as_subclass(OffCPU)


def test_the_off_cpu_tensor_refuses_numpy_like_a_cuda_one():
    t = off_cpu([1, 2, 3])
    with pytest.raises(TypeError, match="cuda"):
        t.numpy()
    with pytest.raises(TypeError, match="cuda"):
        np.asarray(t + 1)
    assert to_numpy(t * 2).tolist() == [2, 4, 6]
    assert as_tensor(t) is t and as_tensor(np.ones(2)).dtype == torch.float64


def _numpy_calls_not_after_cpu(path: Path) -> list[str]:
    tree, bad = ast.parse(path.read_text()), []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "numpy"
                and not node.args):
            receiver = node.func.value
            after_cpu = (isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute)
                         and receiver.func.attr == "cpu")
            if not after_cpu:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {ast.unparse(node)[:80]}")
    return bad


def test_every_numpy_call_in_the_package_comes_straight_after_cpu():
    bad = [line for f in sorted(PACKAGE.rglob("*.py")) for line in _numpy_calls_not_after_cpu(f)]
    assert not bad, "use .cpu().numpy() or semsegdiff.tensors.to_numpy:\n" + "\n".join(bad)


def test_metrics_take_tensors_off_the_cpu():
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 19, (3, 8, 8)).astype(np.uint8)
    pred = masks.copy()
    pred[:, :2] = 0
    expected = consistency(pred, masks)
    matrix = confusion(off_cpu(pred), off_cpu(masks))
    got = scores_from_confusion(matrix)
    assert got["miou"] == pytest.approx(expected["miou"]) and np.allclose(got["per_class_iou"], expected["per_class_iou"],
                                                                        equal_nan=True)
    images = off_cpu(rng.integers(0, 256, (2, 3, 16, 16), dtype=np.uint8))
    assert 0 < ssim(images, images.clone()) <= 1.0 + 1e-6


def test_a_segmenter_validates_with_its_confusion_matrix_off_the_cpu():
    """The H200 failure itself: on_validation_epoch_end with the metric state on the device."""
    from semsegdiff.eval.judge import Segmenter

    seg = Segmenter(size=16)
    logged = {}
    seg.log = lambda name, value, **kw: logged.__setitem__(name, value)
    seg.confusion.update(torch.zeros(2, 16, 16, dtype=torch.long), torch.zeros(2, 16, 16, dtype=torch.long))
    state = seg.confusion.confmat
    seg.confusion.confmat = state.as_subclass(OffCPU)
    seg.on_validation_epoch_end()
    assert logged["val_miou"] == 1.0


def test_local_regeneration_takes_photos_and_kept_pixels_off_the_cpu(tiny_checkpoint):
    from semsegdiff.models import load_checkpoint

    model = load_checkpoint(tiny_checkpoint)
    masks = torch.zeros(1, 16, 16, dtype=torch.uint8)
    keep = torch.ones(1, 16, 16, dtype=torch.bool)
    keep[:, 4:8, 4:8] = False
    init = torch.full((1, 3, 16, 16), 100, dtype=torch.uint8)
    out = model.generate(off_cpu(masks), init=off_cpu(init), keep=off_cpu(keep), steps=2, seed=0)
    assert out.shape == (1, 3, 16, 16) and (out[:, :, keep[0]] == 100).all()


@pytest.mark.gpu
@pytest.mark.parametrize("device", DEVICES)
def test_metrics_on_every_device(device):
    masks = torch.randint(0, 19, (2, 16, 16), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    pred = masks.clone()
    pred[:, :4] = 255  # outside the classes: a miss for the mask's class
    c = consistency(pred.to(device), masks.to(device))
    assert 0 < c["miou"] < 1 and isinstance(c["per_class_iou"], np.ndarray)
