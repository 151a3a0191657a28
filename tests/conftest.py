"""Shared fixtures: the real BDD100K sample (reference layout) and tiny layouts written from it."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.io import encode_png

from semsegdiff.data import open_dataset, write_bdd100k
from semsegdiff.labels import CITYSCAPES_ID_TO_TRAIN_ID
from semsegdiff.notebooks import headless_env

FIXTURE = Path(__file__).parent / "fixtures" / "bdd_sample"
ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    headless_env(ROOT)  # matplotlib, IPython and Jupyter write under .cache/, never to the home directory
    torch.set_num_threads(1)  # the tests' tiny models run faster on one thread (docs/experiments.md, make test's minutes)
    if os.environ.get("PYTEST_XDIST_WORKER"):  # tests side by side: the kernels and processes they start, one thread too
        os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def reference_dir(tmp_path: Path) -> Path:
    """A writable copy of the 4 real BDD100K pairs in the reference layout (RGB masks + colormap.json)."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "reference"))


@pytest.fixture(scope="session")
def sample_pairs() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The 4 real pairs decoded: images (4,128,128,3), masks (4,128,128) train ids, names."""
    ds = open_dataset(FIXTURE)
    pairs = [ds.read(s) for s in ds.splits["all"]]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), [s.name for s in ds.splits["all"]]


@pytest.fixture
def bdd_dir(tmp_path: Path, sample_pairs) -> Path:
    """The real pairs in the official BDD100K layout: 3 train, 1 val."""
    images, masks, names = sample_pairs
    return write_bdd100k(tmp_path / "bdd100k", {"train": (images[:3], masks[:3], names[:3]),
                                                "val": (images[3:], masks[3:], names[3:])})


def write_cityscapes(root: Path, images: np.ndarray, masks: np.ndarray, *, train_ids: bool) -> Path:
    """Write pairs in the Cityscapes layout (city 'aachen', train split), masks as labelIds or labelTrainIds."""
    to_label_id = np.full(256, 0, np.uint8)  # ignore -> labelId 0 ("unlabeled")
    for label_id, train_id in CITYSCAPES_ID_TO_TRAIN_ID.items():
        to_label_id[train_id] = label_id
    img_dir, gt_dir = root / "leftImg8bit/train/aachen", root / "gtFine/train/aachen"
    img_dir.mkdir(parents=True)
    gt_dir.mkdir(parents=True)
    for i, (image, mask) in enumerate(zip(images, masks)):
        stem = f"aachen_{i:06d}_000019"
        (img_dir / f"{stem}_leftImg8bit.png").write_bytes(encode_png(torch.from_numpy(image).permute(2, 0, 1)).numpy().tobytes())
        m = mask if train_ids else to_label_id[mask]
        kind = "labelTrainIds" if train_ids else "labelIds"
        (gt_dir / f"{stem}_gtFine_{kind}.png").write_bytes(encode_png(torch.from_numpy(m)[None]).numpy().tobytes())
        (gt_dir / f"{stem}_gtFine_color.png").write_bytes(b"not read")  # present in real Cityscapes, ignored
    return root


@pytest.fixture
def cityscapes_dir(tmp_path: Path, sample_pairs) -> Path:
    """The real pairs, made 2:1 wide like Cityscapes, in its layout with labelIds masks."""
    images, masks, _ = sample_pairs
    wide_images = np.concatenate([images, images[:, :, ::-1]], axis=2)
    wide_masks = np.concatenate([masks, masks[:, :, ::-1]], axis=2)
    return write_cityscapes(tmp_path / "cityscapes", wide_images, wide_masks, train_ids=False)


# The quick profile shrunk to a ~20k-parameter U-Net on 16x16 synthetic scenes: the one tiny set-up of the tests.
TINY = dict(size=16, n_synthetic=48, channels=8, channel_mult=[1, 2], emb_dim=32, mask_hidden=8, batch_size=8,
            epochs=2, preview_every=1, n_preview=4, steps=2, log_every=1, ema_start=2, ckpt_every=1)


def tiny_cfg(tmp_path: Path, **overrides) -> dict:
    """The tiny settings as a checked run configuration, with the data cache under ``tmp_path``."""
    from semsegdiff.config import get_profile

    return get_profile("quick", **{**TINY, "cache": str(tmp_path / "data"), **overrides})


def tiny_flags(tmp_path: Path, **overrides) -> list[str]:
    """The tiny settings as ``semsegdiff train`` flags."""
    settings = {**TINY, "cache": str(tmp_path / "data"), **overrides}
    return [x for k, v in settings.items() for x in ("--" + k.replace("_", "-"), json.dumps(v) if isinstance(v, list)
                                                      else str(v))]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny diffusion model trained for 2 steps on the 4 real BDD100K pairs (16x16); its final checkpoint."""
    from semsegdiff.models import train

    tmp = tmp_path_factory.mktemp("tiny_run")
    cfg = tiny_cfg(tmp, data=str(FIXTURE), batch_size=2, epochs=2, n_preview=2)  # 3 train + 1 val
    return train(cfg, out=tmp / "run", progress=False, max_steps=2)
