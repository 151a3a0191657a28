"""Evaluation: metrics on hand-made cases with known answers, the judge, and `evaluate` end to end on tiny models."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_cfg

from semsegdiff.cli import main
from semsegdiff.errors import CheckpointError, DataError
from semsegdiff.eval import (confusion, consistency, diversity, ensure_judge, evaluate_checkpoint, fid, inception_features, kid,
                             load_segmenter, ssim)
from semsegdiff.labels import CLASS_NAMES, IGNORE

pytestmark = pytest.mark.gpu  # must also pass on a GPU: runs on CUDA where present (pytest -m gpu)

# --- metrics with known answers ---


def test_perfect_prediction_scores_one_and_absent_classes_are_left_out():
    masks = torch.zeros(2, 4, 4, dtype=torch.uint8)
    masks[:, :, 2:] = 13  # road | car
    c = consistency(masks.clone(), masks)
    assert c["miou"] == 1.0 and c["pixel_accuracy"] == 1.0
    assert len(c["absent"]) == 17 and "car" not in c["absent"] and "sky" in c["absent"]
    assert np.isnan(c["per_class_iou"][CLASS_NAMES.index("sky")])


def test_a_known_confusion():
    masks = torch.zeros(1, 4, 4, dtype=torch.uint8)
    masks[0, :, 2:] = 13  # 8 road, 8 car
    pred = masks.clone()
    pred[0, :2, 2:] = 0  # 4 car pixels predicted road
    c = consistency(pred, masks)
    # road: tp 8, fp 4, fn 0 -> 8/12; car: tp 4, fp 0, fn 4 -> 4/8
    assert c["per_class_iou"][0] == pytest.approx(8 / 12) and c["per_class_iou"][13] == pytest.approx(0.5)
    assert c["miou"] == pytest.approx((8 / 12 + 0.5) / 2) and c["pixel_accuracy"] == pytest.approx(12 / 16)


def test_ignore_pixels_do_not_count():
    masks = torch.zeros(1, 4, 4, dtype=torch.uint8)
    masks[0, 0] = IGNORE
    pred = torch.zeros(1, 4, 4, dtype=torch.uint8)
    pred[0, 0] = 10  # wrong, but on ignore pixels
    c = consistency(pred, masks)
    assert c["miou"] == 1.0 and c["pixel_accuracy"] == 1.0 and "sky" in c["absent"]


def test_a_class_predicted_but_absent_from_the_mask_counts_as_zero():
    masks = torch.zeros(1, 2, 2, dtype=torch.uint8)
    pred = masks.clone()
    pred[0, 0, 0] = 10
    c = consistency(pred, masks)
    assert c["per_class_iou"][10] == 0.0 and "sky" not in c["absent"]
    assert c["miou"] == pytest.approx((3 / 4 + 0) / 2)


@pytest.mark.parametrize("outside", [19, 200, IGNORE])
def test_a_prediction_outside_the_classes_is_a_miss_for_the_mask_class_and_a_hit_for_none(outside):
    """The Cityscapes evaluator's rule: a false negative of the ground-truth class, no false positive anywhere."""
    masks = torch.zeros(1, 4, 4, dtype=torch.uint8)
    masks[0, :, 2:] = 13  # 8 road, 8 car
    pred = masks.clone()
    pred[0, :2, 2:] = outside  # 4 car pixels predicted as an id outside 0..18
    c = consistency(pred, masks)
    assert c["per_class_iou"][0] == 1.0 and c["per_class_iou"][13] == pytest.approx(4 / 8)
    assert c["pixel_accuracy"] == pytest.approx(12 / 16) and c["absent"] == [n for n in CLASS_NAMES
                                                                             if n not in ("road", "car")]


def test_per_image_miou_is_each_image_scored_alone():
    from semsegdiff.eval.metrics import per_image_miou

    g = torch.Generator().manual_seed(0)
    masks = torch.randint(0, 19, (5, 12, 12), generator=g).to(torch.uint8)
    masks[:, :2] = IGNORE
    masks[4] = IGNORE  # nothing scored: NaN
    pred = masks.clone()
    pred[:, 4:8] = torch.randint(0, 21, (5, 4, 12), generator=g).to(torch.uint8)  # 19, 20: outside the classes
    want = [consistency(pred[i:i + 1], masks[i:i + 1])["miou"] for i in range(5)]
    assert np.allclose(per_image_miou(pred, masks), want, equal_nan=True) and np.isnan(want[4])


def test_a_paired_gap_sums_per_mask_confusions_and_resamples_masks_for_both_sets():
    from semsegdiff.eval import paired_gap
    from semsegdiff.eval.metrics import image_confusions

    g = torch.Generator().manual_seed(1)
    masks = torch.randint(0, 19, (12, 8, 8), generator=g).to(torch.uint8)
    good, bad = masks.clone(), masks.clone()
    bad[:, :3] = torch.randint(0, 19, (12, 3, 8), generator=g).to(torch.uint8)  # about 3/8 of the pixels wrong
    a, b = image_confusions(good, masks), image_confusions(bad, masks)
    assert a.shape == (12, 19, 20) and a.sum(0).tolist() == confusion(good, masks).cpu().tolist()  # summed: the set's
    same = paired_gap(a, a)
    assert same == (0.0, 0.0, 0.0)  # identical sets: no gap and no spread, whatever the draw
    gap, low, high = paired_gap(b, a)
    want = 100 * (consistency(bad, masks)["miou"] - consistency(good, masks)["miou"])
    assert gap == pytest.approx(want) and low <= gap <= high < 0
    assert paired_gap(b, a) == (gap, low, high)  # seeded
    assert np.isnan(paired_gap(b[:2], a[:2])[1])  # two masks: no interval
    with pytest.raises(ValueError, match="the same masks"):
        paired_gap(a, b[:5])


def test_training_points_are_the_checkpoints_a_run_kept_and_its_end(tiny_checkpoint):
    from semsegdiff.eval import training_points

    points = training_points(tiny_checkpoint)  # 2 steps over 2 epochs, a numbered checkpoint every epoch
    assert [e for e, _, _ in points] == [1, 2] and points[-1][1] == tiny_checkpoint
    assert points[0][1].name.startswith("step") and 0 < points[0][2] <= points[1][2]


def test_pixel_accuracy_of_an_all_ignore_mask_is_undefined_not_zero():
    c = consistency(torch.zeros(1, 2, 2, dtype=torch.uint8), torch.full((1, 2, 2), IGNORE, dtype=torch.uint8))
    assert np.isnan(c["pixel_accuracy"]) and np.isnan(c["miou"]) and len(c["absent"]) == 19


def test_a_mask_id_outside_the_classes_is_an_error_naming_it():
    with pytest.raises(DataError, match="class id 19"):
        consistency(torch.zeros(1, 2, 2, dtype=torch.uint8), torch.full((1, 2, 2), 19, dtype=torch.uint8))


def test_fid_kid_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    feats = torch.randn(400, 8, generator=torch.Generator().manual_seed(0)).double()
    other = torch.randn(400, 8, generator=torch.Generator().manual_seed(1)).double()
    assert fid(feats, feats) == pytest.approx(0, abs=1e-6)
    near, far = fid(feats, other), fid(feats, other + 1.0)
    assert near < 0.5 and far > 7.5  # a shift of 1 in 8 dimensions adds |mu|^2 = 8
    assert abs(kid(feats, other)[0]) < 0.02 and kid(feats, other + 1.0)[0] > 10 * abs(kid(feats, other)[0])


def test_fid_of_few_samples_through_the_cross_product_equals_torchmetrics():
    from semsegdiff.eval.metrics import frechet_few

    g = torch.Generator().manual_seed(0)
    for n, m in ((40, 64), (5, 3)):  # fewer samples than the 128 features, as the cascade's bootstrap draws
        a, b = torch.randn(n, 128, generator=g).double() * 1.5 + 0.3, torch.randn(m, 128, generator=g).double()
        assert frechet_few(a, b) == pytest.approx(fid(a, b), rel=1e-6)
    assert frechet_few(a, a) == pytest.approx(0, abs=1e-6)
    with pytest.raises(DataError, match="at least 2 images in each set"):
        frechet_few(torch.randn(1, 4), torch.randn(5, 4))


def test_too_few_images_for_fid_says_how_many():
    with pytest.raises(DataError, match="at least 2 images in each set"):
        fid(torch.randn(1, 4), torch.randn(5, 4))


def test_ssim_and_diversity():
    img = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert ssim(img, img) == pytest.approx(1.0)
    assert ssim(img, 255 - img) < 0.5
    same = torch.ones(5, 3, 4)
    assert diversity(same) == 0.0 and diversity(torch.randn(5, 3, 4)) > 0.5


def test_inception_weights_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="missing.pth: Inception weights file not found"):
        inception_features(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"not": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointError, match="bad.pth: not FID Inception weights"):
        inception_features(bad)


# --- the judge and `evaluate` end to end on tiny models (32x32: the ResNet encoder halves 5 times) ---

JUDGE = dict(judge_epochs=2, judge_batch_size=8, eval_masks=8, eval_per_mask=2, steps=2)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 32x32 tiny diffusion checkpoint trained for 2 steps, and its configuration."""
    from semsegdiff.models import train

    tmp = tmp_path_factory.mktemp("eval_run")
    cfg = tiny_cfg(tmp, size=32, n_synthetic=64, **JUDGE)
    return train(cfg, out=tmp / "run", progress=False, max_steps=2), cfg, tmp


@pytest.mark.slow
def test_a_tiny_judge_trains_is_saved_reused_and_scores(tiny_run, capsys):
    ckpt, cfg, tmp = tiny_run
    judge, path = ensure_judge(cfg, out=tmp / "judges", progress=False)
    assert path.is_file() and torch.load(path, weights_only=True)["hyper_parameters"]["arch"] == "unet_resnet18"
    kept = sorted(p.name for p in (path.parent / path.stem / "checkpoints").iterdir())
    assert kept == ["last.ckpt"]  # for --resume; no numbered copy of it (nothing reads a judge's history)
    mtime = path.stat().st_mtime_ns
    again, _ = ensure_judge(cfg, out=tmp / "judges", progress=True)
    assert path.stat().st_mtime_ns == mtime and "reusing the judge" in capsys.readouterr().out
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    pred = again.predict_ids(images)
    assert pred.shape == (3, 32, 32) and pred.dtype == torch.uint8 and int(pred.max()) < 19
    assert again.features(images).shape == (3, 128)  # the last of 3 encoder stages at 32 px
    other = dict(cfg, judge_lr=5e-4)  # other settings: trained again
    ensure_judge(other, out=tmp / "judges", progress=False)
    assert path.stat().st_mtime_ns != mtime
    assert load_segmenter(path).hparams.lr == 5e-4


@pytest.mark.slow
def test_evaluate_end_to_end_and_the_cache_is_reused(tiny_run, capsys):
    ckpt, cfg, tmp = tiny_run
    args = ["evaluate", "--checkpoint", str(ckpt), "--no-progress"]
    assert main(args) == 0, capsys.readouterr().err
    [out] = [p for p in (ckpt.parent / "eval").iterdir() if p.is_dir()]  # beside the folder's marker
    table = pd.read_csv(out / "table.csv")
    assert table["metric"].tolist() == ["consistency mIoU", "pixel accuracy", "SSIM", "FID (judge features)",
                                        "KID (judge features)", "diversity (judge features)"]
    row = table.set_index("metric")
    assert 0 <= row.loc["consistency mIoU", "generated"] <= 1 and 0 < row.loc["consistency mIoU", "reference"] <= 1
    assert row.loc["FID (judge features)", "reference"] >= 0 and row.loc["FID (judge features)", "seeds"] == 2
    assert row.loc["FID (judge features)", "n_per_set"] == 4  # 8 masks halved
    md, tex = (out / "table.md").read_text(), (out / "table.tex").read_text()
    assert "FID (judge features)" in md and "judge features" in tex and "FID (judge features)" in tex
    assert "Inception" not in md  # the fallback never passes for Inception FID
    assert len(pd.read_csv(out / "per_class.csv")) == 19 and len(pd.read_csv(out / "per_image.csv")) == 8
    [gen] = list((ckpt.parent / "generated").iterdir())
    manifest = json.loads((gen / "manifest.json").read_text())
    assert manifest["sampler"] == "dpmsolver++" and manifest["per_mask"] == 2 and manifest["n_masks"] == 8
    assert np.load(gen / "images.npy").shape == (8, 2, 3, 32, 32)
    mtime = (gen / "images.npy").stat().st_mtime_ns
    again = evaluate_checkpoint(ckpt, progress=False)  # the second evaluation reuses the generated set
    assert (gen / "images.npy").stat().st_mtime_ns == mtime
    assert again.table["generated"].tolist() == pytest.approx(table["generated"].tolist(), rel=1e-4)
    evaluate_checkpoint(ckpt, guidance=1.5, progress=False)  # another setting: another set
    assert len(list((ckpt.parent / "generated").iterdir())) == 2
    capsys.readouterr()
    assert main(args) == 1 and "already exists and is not empty (pass --overwrite" in capsys.readouterr().err
    (out / "notes.txt").write_text("a user's file in the tables folder")
    assert main([*args, "--overwrite"]) == 1
    assert "holds files semsegdiff did not write (notes.txt)" in capsys.readouterr().err
    assert (out / "notes.txt").read_text().startswith("a user's")  # never deleted
    (out / "notes.txt").unlink()
    assert main([*args, "--overwrite"]) == 0 and f"replacing {out} (6 files semsegdiff wrote" in capsys.readouterr().out


@pytest.mark.slow
def test_judge_and_generator_must_agree(tiny_run, tmp_path):
    ckpt, cfg, tmp = tiny_run
    judge, path = ensure_judge(cfg, out=tmp / "judges", progress=False)
    from semsegdiff.models import train

    small = train(tiny_cfg(tmp_path, n_synthetic=24), out=tmp_path / "run16", progress=False, max_steps=1)  # 16 px
    with pytest.raises(DataError, match="judge was trained on 32px images but .* generates 16px"):
        evaluate_checkpoint(small, judge=path, progress=False)
    with pytest.raises(CheckpointError, match="nojudge.ckpt: judge checkpoint file not found"):
        evaluate_checkpoint(ckpt, judge=tmp_path / "nojudge.ckpt", progress=False)


@pytest.mark.slow
def test_the_consistency_baseline_must_be_a_model_without_attributes_of_the_same_size(tiny_run, tmp_path):
    from semsegdiff.errors import SettingError
    from semsegdiff.eval import check_conditions
    from semsegdiff.models import load_checkpoint, train

    ckpt, cfg, tmp = tiny_run  # trained with attributes (the quick profile's)
    model = load_checkpoint(ckpt)
    masks, codes = np.zeros((2, 32, 32), np.uint8), np.zeros((2, 3), np.uint8)
    with pytest.raises(SettingError, match=f"baseline: {ckpt} was trained with attributes"):
        check_conditions(model, None, None, masks, masks, codes, baseline=ckpt)  # refused before any work
    small = train(tiny_cfg(tmp_path, n_synthetic=24, attributes=False), out=tmp_path / "run16", progress=False,
                  max_steps=1)
    with pytest.raises(CheckpointError, match=f"baseline: {small} generates 16 px images .* the model checked 32 px"):
        check_conditions(model, None, None, masks, masks, codes, baseline=small)


def test_crossing_is_measured_where_a_point_meets_the_target_and_extrapolated_otherwise():
    from semsegdiff.eval import crossing, crossings

    assert crossing([1, 2, 4], [-5.0, -0.5, 0.0], -1.0) == (2.0, "measured")
    at, how = crossing([1, 2, 4], [-8.0, -6.0, -4.0], -1.0)  # +2 points per doubling: -1 after 2 more doublings
    assert how == "extrapolated from 3 points" and at == pytest.approx(4 * 2 ** 1.5)
    assert np.isnan(crossing([1, 2, 4], [-4.0, -5.0, -6.0], -1.0)[0])  # heading away: no crossing
    far = crossing([1, 2, 4], [-10.0, -9.9, -9.8], -1.0)  # 0.1 point per doubling: 90 doublings away
    assert np.isnan(far[0]) and far[1].startswith("beyond 30x the measured minutes")
    assert crossing([1, 2, 4], [1.5, 1.3, 1.2], 1.1, higher_is_better=False)[1].startswith("extrapolated")
    curve = pd.DataFrame({"minutes": [1, 2, 1, 2], "steps": [1, 1, 4, 4], "gap": [-9.0, -7.0, -2.0, 0.5]})
    table = crossings(curve, "gap", -1.0, "steps").set_index("steps")
    assert table.loc[4, "how"] == "measured" and table.loc[4, "crosses_at_minutes"] == 2.0
    assert table.loc[1, "how"].startswith("extrapolated") and table.loc[1, "crosses_at_minutes"] > 2


def test_sweep_sizes_are_checked_before_any_work():
    from semsegdiff.eval import check_sweep
    from semsegdiff.errors import SettingError

    check_sweep(6, 4, 1)  # 4 scored masks, 2 real images of others, a one-mask reference
    with pytest.raises(DataError, match="the val split has 5 images; .* need at least 6"):
        check_sweep(5, 4, 1)
    with pytest.raises(SettingError, match="sweep_masks: 2 masks; with 10 val images choose 4 to 8"):
        check_sweep(10, 2, 1)
    with pytest.raises(SettingError, match="reference_masks: 0; choose 1 to sweep_masks"):
        check_sweep(10, 4, 0)


def test_a_model_with_attributes_is_evaluated_in_the_real_images_conditions(tiny_checkpoint):
    from semsegdiff.eval.evaluate import conditions_of
    from semsegdiff.models import load_checkpoint

    model = load_checkpoint(tiny_checkpoint)
    codes = np.array([[1, 0, 0], [0, 2, 0]], np.uint8)
    assert model.cfg["attributes"] and np.array_equal(conditions_of(model, codes, 2), codes)
    assert conditions_of(model, np.zeros((2, 3), np.uint8), 2) is None  # none known: unconditional
    model.cfg["attributes"] = False
    assert conditions_of(model, codes, 2) is None  # a mask-only model has no conditions to ask for
