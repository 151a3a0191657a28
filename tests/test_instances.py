"""Instances (issue 29): ids read from both official encodings, kept through synth, prepare and the DataModule,
the instance-boundary channel, edits that give new objects their own ids, generated sets written with their
instance maps, the boundary judge's scores, and one-line errors naming the file and a pixel."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import tiny_cfg
from semsegdiff import instances as edits
from semsegdiff.cli import main
from semsegdiff.data import open_dataset
from semsegdiff.data.datamodule import SegDataModule
from semsegdiff.data.formats import read_mask
from semsegdiff.data.instances import detect_encoding, encode_instances, read_instances
from semsegdiff.data.prepare import ensure_dataset, fingerprint, open_prepared, prepare
from semsegdiff.errors import DataError, SettingError
from semsegdiff.labels import IGNORE, THINGS, class_id
from semsegdiff.models.condition import condition, instance_edges
from semsegdiff.painter_state import PainterState

HAND = Path(__file__).parent / "fixtures" / "instances"  # one 16x24 scene: two touching cars and a person
CAR, PERSON = class_id("car"), class_id("person")


def hand_made(tmp_path: Path, layout: str) -> Path:
    return Path(shutil.copytree(HAND / layout, tmp_path / layout))


@pytest.mark.parametrize("layout", ["bdd100k", "cityscapes"])
def test_both_official_encodings_read_as_the_same_instances(layout, tmp_path):
    dataset = open_dataset(hand_made(tmp_path, layout))
    assert dataset.format == layout and dataset.instances == layout
    sample = dataset.splits["train"][0]
    image, mask = dataset.read(sample)
    ids = dataset.read_instances(sample, mask)
    assert ids.dtype == np.uint16 and ids.shape == mask.shape == (16, 24)
    a, b, p = ids[10, 5], ids[10, 12], ids[10, 18]
    assert len({a, b, p}) == 3 and 0 not in (a, b, p)  # the touching cars are two instances, the person a third
    assert (mask[ids == a] == CAR).all() and (mask[ids == p] == PERSON).all()
    assert (ids[mask < 11] == 0).all()  # stuff has none
    if layout == "cityscapes":
        assert (ids[12, 3:15] == 0).all()  # the crowd strip (labelId alone) is no instance


@pytest.mark.parametrize("layout", ["bdd100k", "cityscapes"])
def test_written_maps_read_back_the_same(layout, tmp_path):
    dataset = open_dataset(hand_made(tmp_path, layout))
    sample = dataset.splits["train"][0]
    mask = dataset.read(sample)[1]
    ids = dataset.read_instances(sample, mask)
    f = tmp_path / "out.png"
    f.write_bytes(encode_instances(ids, mask, layout))
    assert detect_encoding(f) == layout
    assert np.array_equal(read_instances(f, mask, layout), ids)


def test_prepare_keeps_instances_with_the_crop_and_fingerprints_their_files(tmp_path):
    root = hand_made(tmp_path, "bdd100k")
    before = fingerprint(open_dataset(root), size=16, val_fraction=0.1, seed=0)
    prepared = open_prepared(prepare(root, tmp_path / "prep", size=16, progress=False))
    assert prepared.has_instances and prepared.meta["instances"] == "bdd100k"
    ids, masks = np.asarray(prepared.instances("train")), np.asarray(prepared.masks("train"))
    assert ids.shape == masks.shape == (1, 16, 16)  # the centre square of the 16x24 frame
    assert len(np.unique(ids[ids > 0])) == 3 and np.isin(masks[ids > 0], THINGS).all()
    bitmask = root / "labels/ins_seg/bitmasks/train/scene.png"
    bitmask.touch()
    import os
    os.utime(bitmask, ns=(1, 1))  # another instance file: another cache
    assert fingerprint(open_dataset(root), size=16, val_fraction=0.1, seed=0) != before


def test_a_layout_without_instances_says_so_and_works_as_before(bdd_dir, tmp_path):
    prepared = open_prepared(prepare(bdd_dir, tmp_path / "prep", size=16, progress=False))
    assert not prepared.has_instances and prepared.instances("train") is None
    batch = next(iter(SegDataModule(prepared.root, batch_size=2).train_dataloader()))
    assert "instances" not in batch


def test_synthetic_scenes_carry_instances_through_the_datamodule_flipped_with_their_masks(tmp_path):
    prepared = ensure_dataset("synthetic", size=16, cache=tmp_path, n_synthetic=24, progress=False)
    assert (Path(prepared.meta["source"]) / "labels/ins_seg/bitmasks/train").is_dir() and prepared.has_instances
    ids = np.asarray(prepared.instances("train"))
    assert ids.max() > 1 and np.isin(np.asarray(prepared.masks("train"))[ids > 0], THINGS).all()
    torch.manual_seed(0)
    batch = next(iter(SegDataModule(prepared.root, batch_size=8, flip=True).train_dataloader()))
    assert batch["instances"].dtype == torch.int32 and batch["instances"].shape == batch["mask"].shape
    for mask, inst, i in zip(batch["mask"].numpy(), batch["instances"].numpy(), batch["index"].numpy()):
        same = np.array_equal(inst, ids[i]) and np.array_equal(mask, prepared.masks("train")[i])
        flipped = np.array_equal(inst, ids[i][:, ::-1]) and np.array_equal(mask, prepared.masks("train")[i][:, ::-1])
        assert same or flipped  # image, mask and instances flipped together


def test_the_edge_channel_separates_touching_objects_of_one_class():
    masks = torch.zeros(1, 6, 8, dtype=torch.uint8)
    masks[0, 1:5, 1:7] = CAR
    ids = torch.zeros(1, 6, 8, dtype=torch.int32)
    ids[0, 1:5, 1:4], ids[0, 1:5, 4:7] = 1, 2
    without, with_ids = instance_edges(masks)[0, 0], instance_edges(masks, ids)[0, 0]
    assert without[2, 3:5].sum() == 0 and with_ids[2, 3:5].tolist() == [1, 1]  # the seam between the two cars
    assert torch.equal(without * with_ids, without)  # class boundaries stay edges


@pytest.fixture(scope="module")
def edge_checkpoint(tmp_path_factory):
    """A tiny model with the instance-boundary channel trained for 2 steps on 16x16 synthetic scenes."""
    from semsegdiff.models import train

    tmp = tmp_path_factory.mktemp("edge_run")
    return train(tiny_cfg(tmp, instance_edges=True), out=tmp / "run", progress=False, max_steps=2), tmp


def test_a_model_with_instance_edges_trains_and_its_samples_depend_on_the_instances(edge_checkpoint):
    from semsegdiff.models import load_checkpoint

    model = load_checkpoint(edge_checkpoint[0])
    assert model.cfg["instance_edges"] and model.model.mask_in.net[0].in_channels == 19 + 1
    masks = torch.zeros(2, 16, 16, dtype=torch.uint8)
    masks[:, 8:14, 2:14] = CAR
    ids = torch.zeros(2, 16, 16, dtype=torch.int32)
    ids[:, 8:14, 2:8], ids[:, 8:14, 8:14] = 1, 2
    merged = model.generate(masks, steps=2, seed=0)
    apart = model.generate(masks, steps=2, seed=0, instances=ids)
    assert apart.shape == (2, 3, 16, 16) and not torch.equal(merged, apart)
    cond = condition(model.model, masks, ids)
    assert cond.shape == (2, 20, 16, 16) and cond[:, 19].sum() > condition(model.model, masks)[:, 19].sum()
    with pytest.raises(DataError, match=r"instances: expected instance ids of the masks' shape \(2, 16, 16\)"):
        model.generate(masks, steps=2, instances=ids[:, :8])


def test_checkpoints_without_the_setting_keep_loading_as_models_without_the_channel(tiny_checkpoint):
    from semsegdiff.models import load_checkpoint, read_checkpoint

    assert "instance_edges" not in read_checkpoint(tiny_checkpoint)["hyper_parameters"] or True
    ckpt = read_checkpoint(tiny_checkpoint)
    ckpt["hyper_parameters"].pop("instance_edges", None)  # as saved before the setting existed
    old = tiny_checkpoint.parent / "before_instances.ckpt"
    torch.save(ckpt, old)
    model = load_checkpoint(old)
    assert not model.cfg["instance_edges"] and model.model.mask_in.net[0].in_channels == 19
    masks = torch.zeros(1, 16, 16, dtype=torch.uint8)
    ids = torch.ones(1, 16, 16, dtype=torch.int32)
    assert torch.equal(model.generate(masks, steps=2), model.generate(masks, steps=2, instances=ids))  # ignored


@pytest.mark.parametrize("layout", ["bdd100k", "cityscapes"])
def test_generate_takes_an_instance_folder_and_writes_the_maps_in_its_encoding(layout, edge_checkpoint, tmp_path,
                                                                               capsys):
    root = hand_made(tmp_path, layout)
    mask_files = sorted(root.rglob("*_labelTrainIds.png" if layout == "cityscapes" else "sem_seg/masks/train/*.png"))
    inst_files = sorted(root.rglob("*_instanceIds.png" if layout == "cityscapes" else "bitmasks/train/*.png"))
    masks, inst = tmp_path / "masks", tmp_path / "inst"
    masks.mkdir(), inst.mkdir()
    for f in mask_files:
        shutil.copy(f, masks / f.name)
    for f in inst_files:
        shutil.copy(f, inst / f.name)
    out = tmp_path / "gen"
    args = ["generate", "--checkpoint", str(edge_checkpoint[0]), "--masks", str(masks), "--instances", str(inst),
            "--out", str(out), "--steps", "2", "--resize", "--no-progress"]
    assert main(args) == 0
    assert "with their instance maps" in capsys.readouterr().out
    written = sorted((out / "instances").glob("*.png"))
    assert len(written) == 1 and detect_encoding(written[0]) == layout
    mask16 = np.asarray(Image.open(masks / mask_files[0].name))[:, 4:20]  # the centre 16x16 of the 16x24 frame
    ids = read_instances(written[0], mask16, layout)
    assert len(np.unique(ids[ids > 0])) == 3


def test_bad_instance_maps_are_one_line_errors_naming_the_file_and_a_pixel(tmp_path):
    root = hand_made(tmp_path, "bdd100k")
    f = root / "labels/ins_seg/bitmasks/train/scene.png"
    mask = read_mask(root / "labels/sem_seg/masks/train/scene.png")
    good = np.array(Image.open(f))

    def expect(array, mode, says):
        Image.fromarray(array, mode).save(f)
        with pytest.raises(DataError) as e:
            read_instances(f, mask, "bdd100k")
        assert str(f) in str(e.value) and "\n" not in str(e.value)
        assert all(s in str(e.value) for s in says), str(e.value)

    expect(good[:8], "RGBA", ["instance map is 8x24 but its mask is 16x24 (height x width)"])
    on_ignore = good.copy()
    on_ignore[15, 23, 3] = 9  # the ignore corner
    expect(on_ignore, "RGBA", ["instance id", "at pixel (x=23, y=15) lies on an ignore (255) pixel"])
    across = good.copy()
    across[9, 15:17, 2:4] = good[9, 14, 2:4]  # car B's id spills onto the road
    expect(across, "RGBA", ["spans two classes: car at pixel", "and road at pixel (x=15, y=9)"])
    expect(good[..., :3], "RGB", ["not a BDD100K bitmask: expected an 8-bit RGBA PNG", "3 channels of 8 bits"])
    g = tmp_path / "grey.png"
    Image.fromarray(mask).save(g)
    with pytest.raises(DataError, match=r"grey.png: unknown instance encoding \(1 channel of 8 bits\)"):
        detect_encoding(g)
    with pytest.raises(DataError, match="not a Cityscapes instanceIds map: expected a 16-bit grey PNG"):
        read_instances(g, mask, "cityscapes")
    f.unlink()  # optional data: a mask without its map is reported, and refused only where a run needs the maps
    dataset = open_dataset(root)
    assert dataset.instances == "bdd100k" and [s.name for s in dataset.missing_instances()] == ["scene"]


def test_inserted_objects_side_by_side_are_two_instances_and_moves_keep_them():
    mask, ids = np.zeros((32, 32), np.uint8), np.zeros((32, 32), np.uint16)
    mask, ids = edits.insert(mask, ids, "car", (28, 10), height=8)
    mask, ids = edits.insert(mask, ids, "car", (28, 17), height=8)  # overlapping the first car's side
    assert sorted(np.unique(ids[ids > 0])) == [1, 2] and (mask[ids > 0] == CAR).all()
    assert instance_edges(torch.from_numpy(mask)[None], torch.from_numpy(ids)[None].int()).sum() > \
        instance_edges(torch.from_numpy(mask)[None]).sum()  # the seam is an edge
    mask, ids = edits.insert(mask, ids, "cyclist", (28, 25), height=10)
    assert {tuple(np.unique(mask[ids == k])) for k in (3, 4)} == {(class_id("rider"),), (class_id("bicycle"),)}
    moved, moved_ids = edits.move(mask, ids, 1, -3, 0)
    assert (moved_ids == 1).sum() == (ids == 1).sum() and (moved[moved_ids == 1] == CAR).all()
    assert edits.check(moved, moved_ids)[1].dtype == np.uint16
    with pytest.raises(SettingError, match=r"move: no instance 9 in this map \(it has 1, 2, 3, 4\)"):
        edits.move(mask, ids, 9, 1, 1)
    painted, painted_ids = edits.paint(mask, ids, mask == 0, "sidewalk")
    assert (painted_ids[mask == 0] == 0).all()


def test_the_painter_starts_a_new_instance_and_undo_restores_the_map():
    s = PainterState(size=(16, 24), cls="car", radius=1)
    s.press(8, 4), s.drag(8, 8), s.release()
    first = s.instances
    assert set(np.unique(first[first > 0])) == {1}
    s.new_instance()
    s.press(8, 9), s.drag(8, 13), s.release()  # touching the first car
    assert set(np.unique(s.instances[s.instances > 0])) == {1, 2}
    s.cls = "road"
    s.press(8, 12), s.release()  # painting stuff takes the pixels out of any instance
    assert (s.instances[s.mask == 0] == 0).all()
    s.undo()
    s.undo()
    assert np.array_equal(s.instances, first)
    bad = np.ones((16, 24), np.uint16)
    with pytest.raises(DataError, match="spans two classes"):
        PainterState(mask=s.mask, instances=bad)


def test_the_boundary_scores_count_edges_and_separations():
    from semsegdiff.eval.boundaries import boundary_counts, edge_targets, paired_difference, separations, summarize

    masks = np.zeros((2, 8, 8), np.uint8)
    masks[:, 2:6, 1:7] = CAR
    ids = np.zeros((2, 8, 8), np.uint16)
    ids[:, 2:6, 1:4], ids[:, 2:6, 4:7] = 1, 2
    true, sep = edge_targets(masks, ids).astype(bool), separations(masks, ids)
    assert sep[0, 3:5, 3:5].all() and sep.sum() == 8  # the seam inside the blob, not on its outline
    merged = edge_targets(masks, None).astype(bool)  # what an image of one car blob shows
    perfect, blob = boundary_counts(true, true, sep, 0), boundary_counts(merged, true, sep, 0)
    assert summarize(perfect)["f"] == 1 and summarize(perfect)["separation_recall"] == 1
    assert summarize(blob)["separation_recall"] == 0 and summarize(blob)["precision"] == 1
    gap = paired_difference(blob, perfect, n_boot=50)
    assert gap["separation_delta"] == 1 and gap["f_delta"] > 0


def test_instances_in_the_quick_figures_stay_on_things_only():
    from semsegdiff.data.synthetic import render_instances

    _, masks, ids = render_instances(6, [16, 24], seed=3)
    assert ids.max() > 0 and np.isin(masks[ids > 0], THINGS).all() and (masks[ids > 0] != IGNORE).all()


def test_generated_sets_of_an_edge_model_are_keyed_by_their_instance_ids(edge_checkpoint, tmp_path):
    from semsegdiff.eval.evaluate import generate_set
    from semsegdiff.models import load_checkpoint

    model = load_checkpoint(edge_checkpoint[0])
    masks = np.zeros((2, 16, 16), np.uint8)
    masks[:, 8:14, 2:14] = CAR
    ids = np.zeros((2, 16, 16), np.uint16)
    ids[:, 8:14, 2:8], ids[:, 8:14, 8:14] = 1, 2
    kw = dict(sampler="ddim", steps=2, guidance=1.0, per_mask=1, seed=0, cache=tmp_path)
    apart = generate_set(model, edge_checkpoint[0], masks, instances=ids, **kw)
    merged = generate_set(model, edge_checkpoint[0], masks, **kw)
    assert apart.folder != merged.folder and "instances" in apart.manifest["key"]
    assert not torch.equal(apart.images, merged.images)
    again = generate_set(model, edge_checkpoint[0], masks, instances=ids, **kw)  # read back from its cache
    assert again.folder == apart.folder and torch.equal(again.images, apart.images)


def test_the_enrichment_study_gives_an_edge_model_the_instances_of_its_masks(edge_checkpoint, tmp_path):
    from semsegdiff.data import dataset_for
    from semsegdiff.eval.arms import ArmSets
    from semsegdiff.models import load_checkpoint

    ckpt, tmp = edge_checkpoint
    model = load_checkpoint(ckpt)
    prepared = dataset_for(model.cfg, root=tmp, progress=False)  # the data it was trained on
    images, masks = np.asarray(prepared.images("train")[:4]), np.asarray(prepared.masks("train")[:4])
    ids = np.asarray(prepared.instances("train")[:4])
    assert ids.max() > 0
    sampling = {"sampler": "ddim", "steps": 2, "guidance": 1.0}
    arms = {name: ArmSets(model, images, masks, tmp_path / name, sampling, model.cfg, False, instances=given)
            for name, given in (("apart", ids), ("merged", None))}
    apart, merged = (arms[name].arm("real+gen", 1.0, 0.0, 0, 0) for name in ("apart", "merged"))
    assert apart.counts["generated"] == 4 and np.array_equal(apart.masks, merged.masks)  # the same masks
    import json

    keys = [json.loads((tmp_path / name / "gen-g0-n4" / "manifest.json").read_text())["key"]["content"]
            for name in ("apart", "merged")]
    assert keys[0] != keys[1]  # generated with their ids: another set than without them


def test_prepare_and_info_say_which_instances_a_dataset_has(tmp_path, capsys):
    from conftest import FIXTURE

    assert main(["prepare", str(hand_made(tmp_path, "cityscapes")), str(tmp_path / "c"), "--size", "16"]) == 0
    assert "instances: Cityscapes instanceIds, objects per image train 3.0" in capsys.readouterr().out
    assert main(["info", str(FIXTURE)]) == 0  # the reference layout
    assert "instances: none (this reference layout has no instance maps" in capsys.readouterr().out


def test_an_instance_picture_gives_touching_objects_their_own_colours():
    from semsegdiff.figures import instance_colors

    mask = np.zeros((1, 4, 6), np.uint8)
    mask[0, 1:3, 1:5] = CAR
    ids = np.zeros((1, 4, 6), np.uint16)
    ids[0, 1:3, 1:3], ids[0, 1:3, 3:5] = 1, 2
    rgb = instance_colors(ids, mask)
    assert rgb.shape == (1, 4, 6, 3) and rgb.dtype == np.uint8
    assert not np.array_equal(rgb[0, 1, 1], rgb[0, 1, 3])  # two cars, two colours
    road = rgb[0, 0, 0].astype(int)
    assert road.max() - road.min() < 40  # what is no instance is faded to grey
