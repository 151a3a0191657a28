"""Whole frames: non-square sizes (HxW) from the setting through prepare, synth, training, sampling and the judge."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import FIXTURE, ROOT, TINY, tiny_cfg
from PIL import Image

from semsegdiff.cli import main
from semsegdiff.config import check_setting, get_profile
from semsegdiff.data import center_crop_resize, crop_box, kept_share, open_prepared, prepare
from semsegdiff.data.synthetic import render_scenes
from semsegdiff.data.synthetic.environment import plan_environment
from semsegdiff.errors import DataError, SettingError
from semsegdiff.frame import frame, label, parse_size


@pytest.mark.parametrize("value, want", [(32, 32), ("32", 32), ("32x56", [32, 56]), (" 128 X 224 ", [128, 224]),
                                         ([16, 24], [16, 24]), ((16, 16), 16), ("[16, 24]", [16, 24])])
def test_a_size_is_a_side_or_a_height_by_width(value, want):
    assert check_setting("size", value) == want
    assert frame(want) == ((want, want) if isinstance(want, int) else tuple(want))


@pytest.mark.parametrize("value, says", [("0x16", "out of range"), ("16x", "height x width such as 128x224"),
                                         ("axb", "height x width"), ([16, 24, 32], "height x width"),
                                         (16.5, "height x width"), ("16x9000", "out of range")])
def test_a_malformed_size_is_one_line_naming_the_flag(value, says):
    with pytest.raises(SettingError, match=rf"size \(--size\): .*{says}") as e:
        check_setting("size", value)
    assert "\n" not in str(e.value)


def test_each_side_must_halve_as_often_as_the_unet_and_the_error_says_what_would_work():
    assert get_profile("quick", size="32x56")["size"] == [32, 56]
    with pytest.raises(SettingError, match=r"each side of 32x54 must be a multiple of 4 .* 32x56 would work"):
        get_profile("quick", size="32x54")


def test_the_crop_takes_the_largest_region_of_the_frame_s_aspect_where_asked():
    assert crop_box(720, 1280, 64) == (0, 280, 720, 720)  # the reference's centred square: 56% of a BDD frame
    assert round(kept_share(720, 1280, 64), 3) == 0.562
    assert crop_box(720, 1280, [128, 224]) == (0, 10, 720, 1260)  # 7:4, nearly 16:9: 98% of the frame
    assert round(kept_share(720, 1280, [128, 224]), 3) == 0.984 and kept_share(720, 1280, [144, 256]) == 1.0
    assert crop_box(1024, 2048, [128, 224])[2:] == (1024, 1792)  # Cityscapes' 2:1 at 16:9: the sides cut
    mask = np.tile(np.arange(8, dtype=np.uint8), (4, 1))  # 4x8, columns 0..7
    assert center_crop_resize(None, mask, 4)[1][0].tolist() == [2, 3, 4, 5]  # centred
    assert center_crop_resize(None, mask, 4, crop=0.0)[1][0].tolist() == [0, 1, 2, 3]  # left
    assert center_crop_resize(None, mask, 4, crop=1.0)[1][0].tolist() == [4, 5, 6, 7]  # right
    image = np.zeros((4, 8, 3), np.uint8)
    img, m = center_crop_resize(image, mask, [2, 4])
    assert img.shape == (2, 4, 3) and m.shape == (2, 4)


def test_prepare_keeps_whole_frames_and_says_what_share_it_kept(cityscapes_dir, tmp_path, capsys):
    out = prepare(cityscapes_dir, tmp_path / "wide", size=[32, 64], progress=False)  # 2:1 frames at 2:1
    wide = open_prepared(out)
    assert wide.frame == (32, 64) and wide.size == [32, 64] and wide.kept("train") == 1.0
    assert wide.images("train").shape == (4, 32, 64, 3) and wide.masks("train").shape == (4, 32, 64)
    # the square crop keeps half of a 2:1 frame; the CLI says so
    assert main(["prepare", str(cityscapes_dir), str(tmp_path / "square"), "--size", "32"]) == 0
    said = capsys.readouterr().out
    assert "at 32x32 (height x width)" in said and "the crop kept train 50% of each frame" in said
    assert main(["prepare", str(cityscapes_dir), str(tmp_path / "left"), "--size", "32x48", "--crop", "0"]) == 0
    left = open_prepared(tmp_path / "left")
    assert left.meta["crop"] == 0.0 and left.kept("train") == 0.75
    assert main(["prepare", str(cityscapes_dir), str(tmp_path / "right"), "--size", "32x48", "--crop", "1"]) == 0
    right = open_prepared(tmp_path / "right")
    assert not np.array_equal(left.masks("train"), right.masks("train"))
    assert left.meta["fingerprint"] != right.meta["fingerprint"]


def test_synthetic_scenes_render_at_any_aspect_as_a_wider_view():
    images, masks = render_scenes(2, [16, 40], seed=3)
    assert images.shape == (2, 16, 40, 3) and masks.shape == (2, 16, 40)
    # the same world and focal length: the vanishing point keeps its place in the centre square
    square = plan_environment(np.random.default_rng(7)).camera
    wide = plan_environment(np.random.default_rng(7), aspect=16 / 9).camera
    assert wide.horizon == square.horizon and wide.vanish_x == pytest.approx(square.vanish_x + (16 / 9 - 1) / 2)
    # a square scene is the one it always was (tests/test_synthetic.py pins the hashes)
    assert render_scenes(2, 16, seed=3)[0].shape == (2, 16, 16, 3)


@pytest.fixture(scope="module")
def wide_checkpoint(tmp_path_factory):
    """The tiny model trained for 2 steps on 16x24 synthetic scenes."""
    from semsegdiff.models import train

    tmp = tmp_path_factory.mktemp("wide_run")
    return train(tiny_cfg(tmp, size="16x24"), out=tmp / "run", progress=False, max_steps=2), tmp


def test_a_two_step_run_on_wide_frames_records_its_frame_and_samples_it(wide_checkpoint):
    from semsegdiff.models import load_checkpoint, read_checkpoint

    ckpt, tmp = wide_checkpoint
    assert read_checkpoint(ckpt)["hyper_parameters"]["size"] == [16, 24]
    model = load_checkpoint(ckpt, size="16x24")
    assert model.frame == (16, 24) and label(model.size) == "16x24"
    masks = torch.from_numpy(render_scenes(2, [16, 24], seed=9)[1])
    for sampler in ("dpmsolver++", "ddim"):
        images = model.generate(masks, sampler=sampler, steps=2, seed=0)
        assert images.shape == (2, 3, 16, 24) and images.dtype == torch.uint8
    keep = torch.zeros(2, 16, 24, dtype=torch.bool)
    keep[:, :, :12] = True  # local regeneration of the right half
    init = torch.randint(0, 256, (2, 3, 16, 24), dtype=torch.uint8)
    out = model.generate(masks, steps=2, seed=0, init=init, keep=keep)
    assert torch.equal(out[:, :, :, :12], init[:, :, :, :12])
    with pytest.raises(DataError, match=r"masks are 16x16 but the model was trained on 16x24 \(height x width\)"):
        model.generate(masks[:, :, :16], steps=2)
    with pytest.raises(Exception, match="trained for size = 16x24, but 16 was asked for"):
        load_checkpoint(ckpt, size=16)


def test_generate_refuses_masks_of_another_frame_and_resize_crops_them_to_its_aspect(wide_checkpoint, tmp_path,
                                                                                   capsys):
    ckpt, _ = wide_checkpoint
    masks = FIXTURE / "masks"  # 128x128 real masks
    base = ["generate", "--checkpoint", str(ckpt), "--masks", str(masks), "--steps", "2", "--no-progress"]
    assert main([*base, "--out", str(tmp_path / "refused")]) == 1
    err = capsys.readouterr().err
    assert "masks are 128x128 but" in err and "16x24 (height x width); pass --resize" in err and err.count("\n") == 1
    assert not (tmp_path / "refused").exists()
    assert main([*base, "--out", str(tmp_path / "gen"), "--resize"]) == 0
    written = sorted((tmp_path / "gen").rglob("*.png"))
    assert written and all(Image.open(p).size == (24, 16) for p in written)  # PIL: (width, height)


@pytest.mark.slow
def test_the_judge_trains_and_segments_wide_frames(tmp_path):
    from semsegdiff.eval.judge import load_segmenter, train_segmenter

    cfg = tiny_cfg(tmp_path, size="32x56", judge_epochs=1, judge_batch_size=4)
    images, masks = render_scenes(8, [32, 56], seed=1)
    path = train_segmenter(cfg, (images, masks), None, tmp_path / "judge", progress=False)
    judge = load_segmenter(path, "cpu")
    assert judge.size == [32, 56]
    pred = judge.predict_ids(torch.from_numpy(images[:2]).permute(0, 3, 1, 2).contiguous())
    assert pred.shape == (2, 32, 56)


def test_the_whole_study_at_a_frame_is_one_override_checked_before_any_notebook_starts(tmp_path, capsys):
    from semsegdiff.notebooks import check_parameters, find_notebooks

    notebooks = find_notebooks(ROOT / "notebooks", None)
    declared = check_parameters(notebooks, {"profile": "quick", "overrides": {"size": "32x56"}})
    assert all("overrides" in names for names in declared.values())  # every notebook, 01 included, takes it
    args = ["notebooks", "run", "--out", str(tmp_path / "runs"), "-p", "overrides={size: 32x54}"]
    assert main(args) == 1
    assert "each side of 32x54 must be a multiple of 4" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_tiny_settings_stay_square():
    assert parse_size(TINY["size"]) == 16


def test_a_judge_saved_before_the_crop_setting_is_reused_only_for_centred_crops():
    from semsegdiff.eval.judge import same_key

    old = {"size": 32, "fingerprint": "f"}  # what a judge saved before `crop` existed recorded
    assert same_key(old, {**old, "crop": 0.5}) and not same_key(old, {**old, "crop": 0.0})
    assert not same_key(None, {"crop": 0.5, "size": 32})
