"""Prepared caches, class statistics and the DataModule."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from semsegdiff.attributes import code, counts
from semsegdiff.data import (CachedPairs, DataError, SegDataModule, center_crop_resize, class_stats, cooccurrence,
                             dataset_for, distribution_table, object_areas, open_prepared, prepare, rare_classes,
                             to_model_range)
from semsegdiff.data.prepare import split_indices
from semsegdiff.labels import IGNORE, NUM_CLASSES, class_id


def test_center_crop_resize_keeps_ids_and_centre():
    image = np.zeros((100, 200, 3), np.uint8)
    mask = np.full((100, 200), class_id("sky"), np.uint8)
    mask[:, :50] = class_id("car")  # cropped away: the centre square is columns 50..149
    mask[40:60, 90:110] = class_id("person")
    image[40:60, 90:110] = 255
    img, msk = center_crop_resize(image, mask, 50)
    assert img.shape == (50, 50, 3) and msk.shape == (50, 50) and msk.dtype == np.uint8
    assert set(np.unique(msk)) == {class_id("sky"), class_id("person")}  # nearest: no blended ids
    assert msk[25, 25] == class_id("person") and img[25, 25].min() > 200


def test_prepare_reference_splits_and_stats(tmp_path, reference_dir):
    out = prepare(reference_dir, tmp_path / "cache", size=64, val_fraction=0.25, seed=1, progress=False)
    p = open_prepared(out)
    assert p.meta["source_format"] == "reference" and p.size == 64
    assert {s: p.meta["splits"][s]["images"] for s in p.splits} == {"train": 3, "val": 1}
    assert p.images("train").shape == (3, 64, 64, 3) and p.masks("val").shape == (1, 64, 64)
    names = p.meta["splits"]["train"]["names"] + p.meta["splits"]["val"]["names"]
    assert sorted(names) == sorted(f.stem for f in (reference_dir / "images").iterdir())
    stats = p.meta["splits"]["train"]
    assert sum(stats["pixel_counts"]) + stats["ignore_pixels"] == 3 * 64 * 64
    assert stats["image_counts"][class_id("road")] == 3 and len(stats["pixel_counts"]) == NUM_CLASSES
    # same seed, same split
    again = prepare(reference_dir, tmp_path / "cache2", size=64, val_fraction=0.25, seed=1, progress=False)
    assert json.loads((again / "meta.json").read_text())["splits"]["val"]["names"] == p.meta["splits"]["val"]["names"]


def test_prepare_keeps_official_splits(tmp_path, bdd_dir, cityscapes_dir):
    p = open_prepared(prepare(bdd_dir, tmp_path / "b", size=32, progress=False))
    assert p.meta["source_format"] == "bdd100k" and p.splits == ["train", "val"]
    c = open_prepared(prepare(cityscapes_dir, tmp_path / "c", size=32, progress=False))
    assert c.meta["source_format"] == "cityscapes" and c.masks("train").shape == (4, 32, 32)


def test_prepare_bad_input_leaves_nothing(tmp_path, reference_dir):
    sorted((reference_dir / "images").iterdir())[3].write_bytes(b"\xff\xd8\xff broken")
    with pytest.raises(DataError, match="cannot decode image"):
        prepare(reference_dir, tmp_path / "cache", size=32, progress=False)
    assert not (tmp_path / "cache").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".cache")]  # no temporary left either


def test_prepare_refuses_to_overwrite(tmp_path, reference_dir):
    out = prepare(reference_dir, tmp_path / "cache", size=32, progress=False)
    with pytest.raises(FileExistsError, match="already exists"):
        prepare(reference_dir, out, size=32, progress=False)
    prepare(reference_dir, out, size=16, overwrite=True, progress=False)
    assert open_prepared(out).size == 16


def test_open_prepared_errors(tmp_path, reference_dir):
    with pytest.raises(DataError, match="not a prepared cache"):
        open_prepared(reference_dir)
    out = prepare(reference_dir, tmp_path / "cache", size=32, progress=False)
    (out / "val_images.npy").unlink()
    with pytest.raises(DataError, match="val_images.npy: missing"):
        open_prepared(out)


def test_class_statistics():
    masks = np.zeros((3, 4, 4), np.uint8)
    masks[0, :2] = class_id("sky")
    masks[1, 0, 0] = class_id("car")
    masks[1, 3, 3] = class_id("car")  # two separate car regions
    masks[2, 0, 0] = IGNORE
    s = class_stats(masks)
    assert s["pixel_counts"][0] == 8 + 14 + 15 and s["pixel_counts"][class_id("car")] == 2
    assert s["image_counts"][0] == 3 and s["image_counts"][class_id("sky")] == 1 and s["ignore_pixels"] == 1
    table = distribution_table({"train": s})
    road = table.set_index("class").loc["road"]
    assert road["pixel_share"] == pytest.approx(37 / 47) and road["image_share"] == 1.0
    rare = rare_classes(table, pixel_share=0.05, image_share=0.5)
    assert {"car", "sky"} <= set(rare["class"]) and "road" not in set(rare["class"])
    areas = object_areas(masks)
    cars = areas[areas["class"] == "car"]
    assert len(cars) == 2 and np.allclose(cars["area_share"], 1 / 16)
    cond = cooccurrence(masks)
    assert cond.loc["car", "road"] == 1.0 and cond.loc["road", "car"] == pytest.approx(1 / 3)
    assert np.isnan(cond.loc["train", "road"])


def test_datamodule_batches_and_paired_flip(tmp_path, reference_dir):
    out = prepare(reference_dir, tmp_path / "cache", size=32, val_fraction=0.25, progress=False)
    p = open_prepared(out)
    dm = SegDataModule(out, batch_size=2)
    torch.manual_seed(0)
    flips = 0
    for _ in range(8):
        for batch in dm.train_dataloader():
            assert batch["image"].shape == (2, 3, 32, 32) and batch["image"].dtype == torch.uint8
            assert batch["mask"].shape == (2, 32, 32) and batch["mask"].dtype == torch.uint8
            for img, mask, i in zip(batch["image"], batch["mask"], batch["index"]):
                ref_img = torch.from_numpy(np.array(p.images("train")[i])).permute(2, 0, 1)
                ref_mask = torch.from_numpy(np.array(p.masks("train")[i]))
                same = torch.equal(mask, ref_mask) and torch.equal(img, ref_img)
                flipped = torch.equal(mask, ref_mask.flip(-1)) and torch.equal(img, ref_img.flip(-1))
                assert same or flipped  # image and mask always flipped together
                flips += flipped and not same
    assert 0 < flips < 16
    val = next(iter(dm.val_dataloader()))
    assert torch.equal(val["mask"][0], torch.from_numpy(np.array(p.masks("val")[0])))  # no flip in val
    assert not dm.has("test")
    with pytest.raises(DataError, match="has no test split"):  # never silently another split
        dm.test_dataloader()
    x = to_model_range(val["image"])
    assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1


def test_datamodule_with_workers(tmp_path, reference_dir):
    out = prepare(reference_dir, tmp_path / "cache", size=16, val_fraction=0.25, progress=False)
    dm = SegDataModule(out, batch_size=3, num_workers=1)
    batches = list(dm.train_dataloader())
    assert len(batches) == 1 and sorted(batches[0]["index"].tolist()) == [0, 1, 2]


def test_datamodule_drives_a_lightning_trainer(tmp_path, reference_dir):
    """Lightning re-creates the loaders (sampler injection); batches must still arrive whole."""
    import pytorch_lightning as pl

    class MeanColour(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.head = torch.nn.Linear(3, 19)
            self.seen = []

        def training_step(self, batch, _):
            self.seen.append(tuple(batch["image"].shape))
            x = to_model_range(batch["image"]).mean((2, 3))  # (B, 3)
            target = batch["mask"].long().mode(-1).values.mode(-1).values  # (B,) a majority class
            return torch.nn.functional.cross_entropy(self.head(x), target)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    out = prepare(reference_dir, tmp_path / "cache", size=16, val_fraction=0.25, progress=False)
    model = MeanColour()
    trainer = pl.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                         default_root_dir=tmp_path)
    trainer.fit(model, datamodule=SegDataModule(out, batch_size=2))
    assert trainer.global_step == 2 and model.seen == [(2, 3, 16, 16)] * 2


def test_split_indices():
    split = split_indices(10, 0.25, seed=0)
    assert len(split["val"]) == 2 and sorted(np.concatenate([split["train"], split["val"]])) == list(range(10))
    assert np.array_equal(split_indices(10, 0.25, seed=0)["val"], split["val"])
    assert len(split_indices(10, 0.0, seed=0)["val"]) == 0  # no val split asked for
    assert len(split_indices(3, 0.01, seed=0)["val"]) == 1  # at least one, when asked
    with pytest.raises(ValueError, match="val_fraction"):
        split_indices(10, 1.0, seed=0)


def test_ensure_dataset_resolves_relative_paths_under_root(tmp_path, monkeypatch, reference_dir):
    """A notebook in notebooks/ passes root=".." and relative data/cache paths."""
    from semsegdiff.data import ensure_dataset

    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    synth = ensure_dataset("synthetic", size=16, cache="data", n_synthetic=4, root="..", progress=False)
    assert synth.root.resolve().parent == (tmp_path / "data/prepared").resolve()
    real = ensure_dataset("reference", size=16, cache="data", root="..", progress=False)
    assert real.meta["source"] == str(reference_dir.resolve()) and real.size == 16


# --- attributes ------------------------------------------------------------------------------------

ATTR_LABELS = Path(__file__).parent / "fixtures/bdd_attributes/labels"


def test_prepare_writes_and_reopens_attributes(tmp_path, bdd_dir):
    shutil.copytree(ATTR_LABELS, bdd_dir / "labels", dirs_exist_ok=True)
    p = open_prepared(prepare(bdd_dir, tmp_path / "cache", size=16, progress=False))
    assert p.meta["attributes"] == ["time", "weather", "scene"]
    assert [s["file"] for s in p.meta["attribute_sources"]] == ["labels/bdd100k_labels_images_train.json",
                                                                 "labels/det_20/det_val.json"]
    train = p.attributes("train")  # 7d06fefd (day, clear, city), 7d2f7975 (day, overcast, undefined), 7d4a9094: none
    assert train.dtype == np.uint8 and train.shape == (3, 3)
    assert train.tolist() == [[code("time", "day"), code("weather", "clear"), code("scene", "city")],
                              [code("time", "day"), code("weather", "cloudy"), 0], [0, 0, 0]]
    assert np.array_equal(np.load(p.root / "train_attributes.npy"), train)
    assert p.meta["splits"]["train"]["attributes"] == counts(train)
    assert p.meta["splits"]["train"]["attributes"]["scene"] == {"unknown": 2, "city": 1, "residential": 0,
                                                                "highway": 0, "rural/other": 0}
    assert p.meta["splits"]["train"]["attributes_missing"] == 1 and p.meta["splits"]["val"]["attributes_missing"] == 0
    (p.root / "val_attributes.npy").unlink()
    with pytest.raises(DataError, match="val_attributes.npy: missing"):
        open_prepared(p.root)


def test_cache_without_attributes_reads_as_unknown(tmp_path, reference_dir):
    out = prepare(reference_dir, tmp_path / "cache", size=16, val_fraction=0.25, progress=False)
    assert not open_prepared(out).attributes("train").any()  # no attribute file: unknown
    meta = json.loads((out / "meta.json").read_text())  # as a cache of format 2 was written
    for split in meta["splits"].values():
        del split["attributes"]
    (out / "meta.json").write_text(json.dumps(meta))
    (out / "train_attributes.npy").unlink()
    p = open_prepared(out)
    assert p.attributes("train").shape == (3, 3) and not p.attributes("train").any()
    batch = CachedPairs(out, "train").__getitems__([0, 2])
    assert batch["attributes"].tolist() == [[0, 0, 0], [0, 0, 0]]


def test_fingerprint_follows_the_attribute_file(tmp_path, reference_dir):
    from semsegdiff.data import ensure_dataset, fingerprint, open_dataset

    fp = fingerprint(open_dataset(reference_dir), size=16, val_fraction=0.25, seed=0)
    (reference_dir / "attributes.csv").write_text("name,time,weather,scene\n7d06fefd-f7be05a6,night,,\n")
    with_csv = fingerprint(open_dataset(reference_dir), size=16, val_fraction=0.25, seed=0)
    assert with_csv != fp
    first = ensure_dataset(reference_dir, size=16, cache=tmp_path / "data", val_fraction=0.25, progress=False)
    (reference_dir / "attributes.csv").write_text("name,time,weather,scene\n7d06fefd-f7be05a6,day,fog,\n")
    assert fingerprint(open_dataset(reference_dir), size=16, val_fraction=0.25, seed=0) != with_csv
    again = ensure_dataset(reference_dir, size=16, cache=tmp_path / "data", val_fraction=0.25, progress=False)
    assert again.root != first.root  # re-prepared, with the new values
    names = {s: again.meta["splits"][s]["names"] for s in again.splits}
    split = next(s for s in names if "7d06fefd-f7be05a6" in names[s])
    row = again.attributes(split)[names[split].index("7d06fefd-f7be05a6")]
    assert row.tolist() == [code("time", "day"), code("weather", "fog"), 0]


def test_synthetic_data_from_before_attributes_is_rendered_again(tmp_path):
    from semsegdiff.data import ensure_dataset

    first = ensure_dataset("synthetic", size=16, cache="data", n_synthetic=4, root=tmp_path, progress=False)
    raw = tmp_path / "data/synthetic-n4-seed0-val0.125-16px"
    (raw / "attributes.csv").unlink()  # as written before scenes had attributes
    again = ensure_dataset("synthetic", size=16, cache="data", n_synthetic=4, root=tmp_path, progress=False)
    assert (raw / "attributes.csv").is_file() and again.root != first.root
    assert again.meta["splits"]["train"]["attributes_missing"] == 0 and again.attributes("train").all()


def test_batches_carry_attributes_aligned_with_images(tmp_path, reference_dir):
    names = sorted(f.stem for f in (reference_dir / "images").iterdir())
    given = dict(zip(names, [("day", "clear"), ("night", "rain"), ("dusk", "fog"), ("", "")]))
    (reference_dir / "attributes.csv").write_text(
        "name,time,weather,scene\n" + "".join(f"{n},{t},{w},\n" for n, (t, w) in given.items()))
    out = prepare(reference_dir, tmp_path / "cache", size=16, val_fraction=0.25, progress=False)
    p = open_prepared(out)
    train = p.meta["splits"]["train"]["names"]
    expected = [[code("time", given[n][0]), code("weather", given[n][1]), 0] for n in train]
    assert p.attributes("train").tolist() == expected and {tuple(e) for e in expected} != {(0, 0, 0)}
    data = CachedPairs(out, "train", flip=True)
    torch.manual_seed(0)
    for _ in range(4):  # flipped or not, each image keeps its own codes
        batch = data.__getitems__([2, 0, 1])
        assert batch["attributes"].dtype == torch.int64 and batch["attributes"].shape == (3, 3)
        assert batch["attributes"].tolist() == [expected[i] for i in (2, 0, 1)]
    i = train.index(names[1]) if names[1] in train else train.index(names[0])
    assert data[i]["attributes"].tolist() == expected[i] != [0, 0, 0]
    batch = next(iter(SegDataModule(out, batch_size=3).train_dataloader()))
    assert batch["attributes"].tolist() == [expected[i] for i in batch["index"].tolist()]


def test_attribute_balance_draws_rare_conditions_more_often(tmp_path):
    from conftest import tiny_cfg

    from semsegdiff.data.datamodule import balance_weights

    codes = np.array([[1, 1, 0]] * 6 + [[1, 3, 0]] * 2)  # weather: 6 clear, 2 rain; time and scene the same
    assert np.allclose(balance_weights(codes, 0.0), 1 / 8)
    assert balance_weights(codes, 1.0)[codes[:, 1] == 3].sum() == pytest.approx(0.5)  # each value half the draws
    assert balance_weights(codes, 0.5)[codes[:, 1] == 3].sum() == pytest.approx(2 / (2 + 6 * 3 ** -0.5))

    prepared = dataset_for(tiny_cfg(tmp_path, n_synthetic=96), progress=False)  # rendered scenes with attributes
    weather = prepared.attributes("train")[:, 1]
    values, n = np.unique(weather, return_counts=True)
    rarest = values[n.argmin()]

    def share(balance: float) -> float:  # how often images of the rarest weather are drawn, over 40 epochs
        torch.manual_seed(0)
        dm = SegDataModule(prepared.root, batch_size=8, attribute_balance=balance)
        drawn = torch.cat([b["index"] for _ in range(40) for b in dm.train_dataloader()]).numpy()
        return float((weather[drawn] == rarest).mean())

    assert share(0.0) == pytest.approx((weather == rarest).mean(), abs=0.02)  # every image once per epoch
    assert share(1.0) > 2 * share(0.0)


def test_attribute_statistics():
    from semsegdiff.data import attribute_class_table, attribute_joint, attribute_table, rarest_cells

    masks = np.zeros((4, 4, 4), np.uint8)  # road everywhere
    masks[1, 0, :2] = class_id("person")  # a person in one of the two night images
    masks[3, 0, 0] = IGNORE
    night, day = code("time", "night"), code("time", "day")
    codes = np.array([[night, code("weather", "rain"), 0], [night, code("weather", "clear"), 0],
                      [day, code("weather", "clear"), 0], [0, code("weather", "clear"), 0]], np.uint8)
    table = attribute_table({"train": {"images": 4, "attributes": counts(codes)}, "old": {"images": 2}})
    t = table.set_index(["split", "attribute", "value"])
    assert t.loc[("train", "time", "night"), "images"] == 2 and t.loc[("train", "time", "unknown"), "share"] == 0.25
    assert t.loc[("train", "scene", "unknown"), "images"] == 4 and not t.loc[("train", "scene", "unknown"), "known"]
    assert t.loc[("old", "weather", "unknown"), "images"] == 2  # a cache without counts: all unknown
    assert list(table[table["split"] == "train"]["value"][:4]) == ["day", "dusk/dawn", "night", "unknown"]
    by = attribute_class_table(masks, codes).set_index(["attribute", "value", "class"])
    person_at_night = by.loc[("time", "night", "person")]
    assert person_at_night["image_share"] == 0.5 and person_at_night["pixel_share"] == pytest.approx(2 / 32)
    assert person_at_night["value_images"] == 2 and by.loc[("time", "day", "person"), "image_share"] == 0
    assert by.loc[("time", "unknown", "road"), "pixel_share"] == 1.0  # ignore left out
    assert np.isnan(by.loc[("time", "dusk/dawn", "road"), "image_share"])  # no such images
    joint = attribute_joint(codes)
    assert joint.loc["night", "rain"] == 1 and joint.loc["night", "clear"] == 1 and joint.loc["unknown", "clear"] == 1
    assert joint.to_numpy().sum() == 4 and list(joint.columns)[-1] == "unknown"
    rare = rarest_cells(joint, 3)
    assert list(rare.columns) == ["time", "weather", "images", "share"] and (rare["images"] == 0).all()
    rare = rarest_cells(joint.loc[["day", "night"], ["clear", "rain"]], None)  # all; ties keep the table's order
    assert rare.values.tolist() == [["day", "rain", 0, 0.0], ["day", "clear", 1, 1 / 3], ["night", "clear", 1, 1 / 3],
                                    ["night", "rain", 1, 1 / 3]]
