"""The cascade on tiny real runs: an upscaler trained on crops, the two stages from masks at the target frame, the
command line, and the pairs it refuses."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import FIXTURE, TINY
from torchvision.io import read_image

from semsegdiff.cli import main
from semsegdiff.config import get_profile
from semsegdiff.errors import CheckpointError, DataError, SettingError
from semsegdiff.models import Cascade, load_checkpoint, read_checkpoint, train
from semsegdiff.models.diffusion import make_scheduler
from semsegdiff.models.upscale import downsample, downsample_masks, training_inputs, upsample

pytestmark = pytest.mark.gpu


def upscaler_cfg(tmp, **overrides) -> dict:
    """The quick upscaler's settings at tiny sizes: 16 -> 32 px (x2), trained on 16 px crops."""
    return get_profile("quick-upscaler", **{**TINY, "size": 32, "upscale": 2, "train_crop": 16, "data": str(FIXTURE),
                                            "cache": str(tmp / "data"), "batch_size": 2, "n_preview": 2, **overrides})


@pytest.fixture(scope="module")
def upscaler(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("upscaler")
    return train(upscaler_cfg(tmp), out=tmp / "run", progress=False, max_steps=2)


def test_an_upscaler_trains_on_crops_of_the_high_res_frames():
    cfg = get_profile("quick-upscaler", size=32, upscale=2, train_crop=16, noise_aug=0.3)
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    masks = torch.randint(0, 19, (4, 32, 32), dtype=torch.uint8)
    scheduler = make_scheduler("ddpm")
    x = training_inputs({"mask": masks}, images, cfg, scheduler, torch.Generator().manual_seed(0),
                        torch.Generator().manual_seed(1))
    assert x["image"].shape == x["low"].shape == (4, 3, 16, 16) and x["mask"].shape == (4, 16, 16)
    assert 0 <= int(x["low_t"].min()) and int(x["low_t"].max()) < 300  # levels in [0, noise_aug x 1000)
    for i in range(4):  # each crop is a window of its own image, with its own mask
        hits = [(y, c) for y in range(17) for c in range(17)
                if torch.equal(images[i, :, y:y + 16, c:c + 16], x["image"][i])]
        assert len(hits) == 1 and torch.equal(masks[i, hits[0][0]:hits[0][0] + 16, hits[0][1]:hits[0][1] + 16],
                                              x["mask"][i])
    clean = training_inputs({"mask": masks}, images, {**cfg, "noise_aug": 0.0, "train_crop": 0}, scheduler)
    assert torch.equal(clean["low"], upsample(downsample(images, 2), (32, 32)))  # level 0: the low-res image as it is
    assert clean["image"].shape == (4, 3, 32, 32)


def test_the_cascade_generates_at_the_upscalers_frame_from_the_bases_images(tiny_checkpoint, upscaler):
    hp = read_checkpoint(upscaler)["hyper_parameters"]
    assert (hp["upscale"], hp["size"], hp["train_crop"]) == (2, 32, 16)
    cascade = Cascade.load(tiny_checkpoint, upscaler)
    masks = torch.from_numpy(np.stack([np.full((32, 32), c, np.uint8) for c in (0, 2, 13)]))
    masks[:, 20:] = 0
    images, low = cascade.generate(masks, steps=2, upscale_steps=2, seed=5, return_base=True)
    assert images.shape == (3, 3, 32, 32) and low.shape == (3, 3, 16, 16) and images.dtype == torch.uint8
    base = load_checkpoint(tiny_checkpoint)
    assert torch.equal(low, base.generate(downsample_masks(masks, 2), steps=2, seed=5))  # the base saw them downsampled
    again = cascade.generate(masks[1:], steps=2, upscale_steps=2, seed=[6, 7])
    assert torch.equal(again, images[1:])  # an image depends on its mask and seed, not on its batch
    up = load_checkpoint(upscaler)
    other = up.generate(masks, low=255 - low, steps=2, seed=5)
    assert not torch.equal(other, images)  # the low-res image conditions the upscaler
    assert torch.equal(up.generate(masks, low=low, steps=2, seed=5), images)


def test_wrong_pairs_and_inputs_are_named_before_any_work(tiny_checkpoint, upscaler, tmp_path):
    with pytest.raises(CheckpointError, match=f"{upscaler}: is an upscaler .*given as the base model"):
        Cascade.load(upscaler, tiny_checkpoint)
    with pytest.raises(CheckpointError, match=f"{tiny_checkpoint}: is a base model .*given as the upscaler"):
        Cascade.load(tiny_checkpoint, tiny_checkpoint)
    x4 = train(upscaler_cfg(tmp_path, upscale=4), out=tmp_path / "x4", progress=False, max_steps=1)
    with pytest.raises(CheckpointError, match=rf"{x4}: upscales 8x8 to 32x32 \(x4\), but {tiny_checkpoint} makes 16"):
        Cascade.load(tiny_checkpoint, x4)
    up, base = load_checkpoint(upscaler), load_checkpoint(tiny_checkpoint)
    masks = np.zeros((2, 32, 32), np.uint8)
    with pytest.raises(SettingError, match="low: this model is an upscaler"):
        up.generate(masks, steps=2)
    with pytest.raises(DataError, match=r"low: expected one uint8 low-res image per mask, \(2, 3, 16, 16\)"):
        up.generate(masks, low=np.zeros((2, 3, 32, 32), np.uint8), steps=2)
    with pytest.raises(SettingError, match="low: this model is not an upscaler"):
        base.generate(masks[:, :16, :16], low=np.zeros((2, 3, 8, 8), np.uint8), steps=2)
    with pytest.raises(DataError, match="masks are 16x16 but the model was trained on 32x32"):
        Cascade(base, up).generate(masks[:, :16, :16])
    with pytest.raises(SettingError, match="train_crop .*: 30 must be a multiple of 4"):
        get_profile("quick-upscaler", train_crop=30)


def test_cli_generate_with_an_upscaler(tiny_checkpoint, upscaler, reference_dir, tmp_path, capsys):
    out = tmp_path / "gen"
    args = ["generate", "--checkpoint", str(tiny_checkpoint), "--masks", str(reference_dir / "masks"), "--out",
            str(out), "--steps", "2", "--no-progress", "--resize"]
    assert main([*args, "--upscale", str(upscaler), "--aug-level", "0.2"]) == 0, capsys.readouterr().err
    manifest = pd.read_csv(out / "manifest.csv")
    assert len(manifest) == 4 and (manifest["upscaler"] == str(upscaler)).all() and (manifest["aug_level"] == 0.2).all()
    assert all(read_image(str(out / f)).shape == (3, 32, 32) for f in manifest["image"])
    assert main([*args[:2], str(upscaler), *args[3:6], str(tmp_path / "a"), *args[7:]]) == 1
    assert f"is an upscaler (x2); give its base model's checkpoint and --upscale {upscaler}" in capsys.readouterr().err
    assert main([*args[:6], str(tmp_path / "b"), *args[7:], "--aug-level", "0.2"]) == 1
    assert "aug_level (--aug-level): the noise level of the images an upscaler upscales" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_commands_that_take_a_base_model_refuse_an_upscaler(upscaler, reference_dir, tmp_path, capsys):
    mask = str(reference_dir / "masks" / sorted(p.name for p in (reference_dir / "masks").iterdir())[0])
    for args in (["distill", "--checkpoint", str(upscaler), "--out", str(tmp_path / "s")],
                 ["evaluate", "--checkpoint", str(upscaler), "--out", str(tmp_path / "e")],
                 ["ablate", "--checkpoint", str(upscaler), "--out", str(tmp_path / "a")],
                 ["enrich", "--checkpoint", str(upscaler), "--data", str(reference_dir), "--out", str(tmp_path / "d")],
                 ["edit", "--checkpoint", str(upscaler), "--image", mask, "--mask", mask, "--edited-mask", mask,
                  "--out", str(tmp_path / "x")]):
        assert main(args) == 1, args
        err = capsys.readouterr().err
        assert f"{upscaler}: is an upscaler (x2, the cascade's second stage); {args[0]} takes a base model" in err, err
    assert not any((tmp_path / name).exists() for name in "seadx")  # refused before any output


def test_enrich_through_the_cascade_writes_every_generated_pair_at_the_upscalers_frame(tiny_checkpoint, upscaler,
                                                                                       reference_dir, tmp_path):
    from PIL import Image

    from semsegdiff.enrich import enrich

    out = enrich(tiny_checkpoint, reference_dir, tmp_path / "enriched", n=4, upscale=upscaler, ablate_steps=2,
                 progress=False, cache=tmp_path / "c")
    manifest = pd.read_csv(out / "enrichment.csv", keep_default_na=False)
    assert len(manifest) == 4 and set(manifest["step"]) >= {"hard"}
    for _, row in manifest.iterrows():
        label = np.asarray(Image.open(out / row["label"]))
        assert Image.open(out / row["image"]).size == (32, 32) and label.shape[:2] == (32, 32)
    assert "upscaled from the model's 16x16 by the cascade's upscaler (x2" in (out / "README.md").read_text()
    with pytest.raises(SettingError, match="--resolution source with --upscale"):
        enrich(tiny_checkpoint, reference_dir, tmp_path / "e2", n=4, upscale=upscaler, resolution="source")
    with pytest.raises(CheckpointError, match="is a base model .*given as the upscaler"):
        enrich(tiny_checkpoint, reference_dir, tmp_path / "e3", n=4, upscale=tiny_checkpoint, cache=tmp_path / "c")
    assert not (tmp_path / "e2").exists() and not (tmp_path / "e3").exists()


def test_the_painter_paints_at_the_upscalers_frame_and_generates_through_the_cascade(tiny_checkpoint, upscaler):
    from semsegdiff.widgets import Painter

    cascade = Cascade.load(tiny_checkpoint, upscaler)
    painter = Painter(model=cascade, start="road")  # a blank canvas at the cascade's frame
    assert painter.state.shape == cascade.frame == (32, 32)
    assert set(painter.conditions) == {"time", "weather", "scene"}  # both stages take the attributes
    painter.state.mask[20:, 4:12] = 13  # a car, painted
    painter.generate()
    image = painter.wait(120)
    assert image is not None and image.shape == (32, 32, 3), painter.status.value
    assert np.array_equal(image, cascade.generate(painter.mask[None], seed=0)[0].permute(1, 2, 0).numpy())
