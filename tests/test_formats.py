"""Reading the three layouts, and a clear error for every kind of bad input."""
from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import torch
from torchvision.io import encode_png

from semsegdiff.data import DataError, detect_format, open_dataset, write_bdd100k
from semsegdiff.labels import IGNORE, NUM_CLASSES, class_id, colors_to_ids, ids_to_colors


def read_all(root):
    ds = open_dataset(root)
    return ds, {split: [ds.read(s) for s in samples] for split, samples in ds.splits.items()}


# --- the three layouts -------------------------------------------------------------------------

def test_reference_layout_reads_the_real_sample(reference_dir):
    ds, pairs = read_all(reference_dir)
    assert ds.format == "reference" and list(pairs) == ["all"] and len(pairs["all"]) == 4
    for image, mask in pairs["all"]:
        assert image.shape == (128, 128, 3) and image.dtype == np.uint8
        assert mask.shape == (128, 128) and mask.dtype == np.uint8
        assert mask.max() < NUM_CLASSES  # every colour of the sample is in its colormap
    # the reference calls road "background"; it is the most common class, as in BDD100K
    counts = np.bincount(np.concatenate([m.ravel() for _, m in pairs["all"]]), minlength=NUM_CLASSES)
    assert counts.argmax() == class_id("background") == class_id("road") == 0
    assert counts[class_id("car")] > 0 and counts[class_id("sky")] > 0


def test_reference_colours_round_trip(reference_dir, sample_pairs):
    ds = open_dataset(reference_dir)
    _, masks, _ = sample_pairs
    rgb = ids_to_colors(masks[0], palette=np.array([ds.colors.get(i, (0, 0, 0)) for i in range(NUM_CLASSES)], np.uint8))
    ids, unknown = colors_to_ids(rgb, ds.colors)
    assert not unknown.any() and np.array_equal(ids, masks[0])


def test_reference_layout_with_split_folders(tmp_path, reference_dir):
    for split, names in {"train": slice(0, 3), "val": slice(3, 4)}.items():
        for kind in ("images", "masks"):
            dst = tmp_path / "split" / split / kind
            dst.mkdir(parents=True)
            for f in sorted((reference_dir / kind).iterdir())[names]:
                shutil.copy(f, dst)
    shutil.copy(reference_dir / "colormap.json", tmp_path / "split")
    ds, pairs = read_all(tmp_path / "split")
    assert ds.format == "reference" and {k: len(v) for k, v in pairs.items()} == {"train": 3, "val": 1}


def test_bdd100k_layout(bdd_dir, sample_pairs):
    ds, pairs = read_all(bdd_dir)
    assert ds.format == "bdd100k" and {k: len(v) for k, v in pairs.items()} == {"train": 3, "val": 1}
    _, masks, _ = sample_pairs
    assert np.array_equal(pairs["val"][0][1], masks[3])  # id PNGs are lossless


def test_bdd100k_layout_keeps_ignore(tmp_path, sample_pairs):
    images, masks, names = sample_pairs
    masks = masks.copy()
    masks[0, :5] = IGNORE
    _, pairs = read_all(write_bdd100k(tmp_path / "b", {"train": (images[:1], masks[:1], names[:1])}))
    assert (pairs["train"][0][1][:5] == IGNORE).all()


def test_cityscapes_layout_maps_label_ids(cityscapes_dir, sample_pairs):
    ds, pairs = read_all(cityscapes_dir)
    _, masks, _ = sample_pairs
    assert ds.format == "cityscapes" and len(pairs["train"]) == 4
    image, mask = pairs["train"][0]
    assert image.shape == (128, 256, 3) and mask.shape == (128, 256)
    assert np.array_equal(mask[:, :128], masks[0])  # labelIds mapped back to train ids


def test_cityscapes_prefers_label_train_ids(tmp_path, sample_pairs):
    from conftest import write_cityscapes

    images, masks, _ = sample_pairs
    root = write_cityscapes(tmp_path / "cs", images[:2], masks[:2], train_ids=True)
    ds, pairs = read_all(root)
    assert ds.splits["train"][0].mask.name.endswith("_gtFine_labelTrainIds.png")
    assert np.array_equal(pairs["train"][1][1], masks[1])


# --- bad input ---------------------------------------------------------------------------------

def write_png(path, array):
    t = torch.from_numpy(np.ascontiguousarray(array))
    path.write_bytes(encode_png(t.permute(2, 0, 1) if t.ndim == 3 else t[None]).numpy().tobytes())


def test_unknown_mask_colour_names_colour_pixel_and_count(reference_dir):
    mask_path = sorted((reference_dir / "masks").iterdir())[1]
    ds = open_dataset(reference_dir)
    rgb = ids_to_colors(ds.read(ds.splits["all"][1])[1], np.array([ds.colors[i] if i in ds.colors else (0, 0, 0)
                                                                  for i in range(NUM_CLASSES)], np.uint8))
    rgb[10:12, 20:23] = (1, 2, 3)  # 6 pixels of a colour that is in no colormap
    write_png(mask_path, rgb)
    with pytest.raises(DataError) as e:
        ds.read(ds.splits["all"][1])
    msg = str(e.value)
    assert str(mask_path) in msg and "(1, 2, 3)" in msg and "(x=20, y=10)" in msg and "6 pixels" in msg


def test_image_without_mask_and_mask_without_image_are_listed(reference_dir):
    masks = sorted((reference_dir / "masks").iterdir())
    images = sorted((reference_dir / "images").iterdir())
    masks[0].unlink()
    images[1].unlink()
    with pytest.raises(DataError) as e:
        open_dataset(reference_dir)
    msg = str(e.value)
    assert "images without a mask" in msg and images[0].name in msg
    assert "masks without an image" in msg and masks[1].name in msg


def test_size_mismatch(bdd_dir):
    mask = next((bdd_dir / "labels/sem_seg/masks/val").iterdir())
    write_png(mask, np.zeros((64, 96), np.uint8))
    ds = open_dataset(bdd_dir)
    with pytest.raises(DataError, match=r"128x128 \(height x width\) but its mask .* is 64x96"):
        ds.read(ds.splits["val"][0])


def test_mask_id_out_of_range(bdd_dir):
    mask = next((bdd_dir / "labels/sem_seg/masks/val").iterdir())
    ids = np.zeros((128, 128), np.uint8)
    ids[7, 9] = 19
    ids[8, 9] = IGNORE  # allowed
    write_png(mask, ids)
    ds = open_dataset(bdd_dir)
    with pytest.raises(DataError) as e:
        ds.read(ds.splits["val"][0])
    assert str(mask) in str(e.value) and "class id 19 at pixel (x=9, y=7)" in str(e.value)
    assert "1 such pixels" in str(e.value)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_unreadable_or_truncated_image(reference_dir, damage):
    image = sorted((reference_dir / "images").iterdir())[2]
    data = image.read_bytes()
    image.write_bytes({"truncate": data[: len(data) // 3], "garbage": b"this is not a jpeg", "empty": b""}[damage])
    ds = open_dataset(reference_dir)
    with pytest.raises(DataError, match=re.escape(str(image))):
        ds.read(ds.splits["all"][2])


def test_truncated_mask_png(bdd_dir):
    mask = next((bdd_dir / "labels/sem_seg/masks/val").iterdir())
    mask.write_bytes(mask.read_bytes()[:60])
    ds = open_dataset(bdd_dir)
    with pytest.raises(DataError, match=re.escape(str(mask)) + ".*(truncated|unreadable)"):
        ds.read(ds.splits["val"][0])


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a recognised dataset layout"):
        open_dataset(tmp_path / "empty")


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        detect_format(tmp_path / "nope")


def test_unrecognised_folder(tmp_path):
    (tmp_path / "x/photos").mkdir(parents=True)
    (tmp_path / "x/photos/a.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"x: not a recognised dataset layout; expected one of: reference"):
        open_dataset(tmp_path / "x")


def test_layout_with_no_pairs(tmp_path, reference_dir):
    for f in [*(reference_dir / "images").iterdir(), *(reference_dir / "masks").iterdir()]:
        f.unlink()
    with pytest.raises(DataError, match="no image/mask pairs found"):
        open_dataset(reference_dir)


@pytest.mark.parametrize("content, problem", [
    ('{"road": [1, 2, 3],', "malformed JSON at line 1"),
    ('[1, 2, 3]', "expected a JSON object"),
    ('{"road": [1, 2]}', "must be [R, G, B]"),
    ('{"road": [1, 2, 300]}', "must be [R, G, B]"),
    ('{"raod": [1, 2, 3]}', "closest: 'road'"),
    ('{"road": [1, 2, 3], "sky": [1, 2, 3]}', "given to both 'road' and 'sky'"),
    ('{"road": [1, 2, 3], "background": [4, 5, 6]}', "listed twice"),
])
def test_malformed_colormap(reference_dir, content, problem):
    (reference_dir / "colormap.json").write_text(content)
    with pytest.raises(DataError) as e:
        open_dataset(reference_dir)
    assert str(reference_dir / "colormap.json") in str(e.value) and problem in str(e.value)


def test_read_mask_folder_ids_and_colours(tmp_path, sample_pairs):
    from semsegdiff.data.formats import read_mask_folder

    _, masks, _ = sample_pairs
    folder = tmp_path / "masks"
    folder.mkdir()
    (folder / "a_ids.png").write_bytes(encode_png(torch.from_numpy(masks[0])[None]).numpy().tobytes())
    rgb = torch.from_numpy(ids_to_colors(masks[1])).permute(2, 0, 1).contiguous()
    (folder / "b_colours.png").write_bytes(encode_png(rgb).numpy().tobytes())
    files, ids = read_mask_folder(folder)
    assert [f.name for f in files] == ["a_ids.png", "b_colours.png"]
    assert np.array_equal(ids[0], masks[0]) and np.array_equal(ids[1], masks[1])
    files, small = read_mask_folder(folder, size=32)
    assert small.shape == (2, 32, 32) and set(np.unique(small)) <= set(np.unique(masks[:2]))
    (folder / "c_small.png").write_bytes(encode_png(torch.from_numpy(masks[2][:64, :64].copy())[None]).numpy().tobytes())
    with pytest.raises(DataError, match="c_small.png: mask is 64x64 but a_ids.png is 128x128"):
        read_mask_folder(folder)
    with pytest.raises(DataError, match="no .png masks"):
        read_mask_folder(tmp_path)


def test_palette_png_masks_hold_ids_or_colours(tmp_path, sample_pairs):
    from PIL import Image

    from semsegdiff.data import read_mask
    from semsegdiff.labels import PALETTE

    mask = sample_pairs[1][0]
    ids = Image.fromarray(mask, mode="P")  # indices are the train ids, palette arbitrary (e.g. VOC style)
    ids.putpalette(np.random.default_rng(0).integers(0, 256, 768, dtype=np.uint8).tolist())
    ids.save(tmp_path / "ids.png")
    assert np.array_equal(read_mask(tmp_path / "ids.png"), mask)
    # indices that are no train ids (a paint program's palette): the palette's colours are read instead
    order = np.random.default_rng(1).permutation(256)[:NUM_CLASSES] + 0
    order[order < NUM_CLASSES] += 100  # every index an invalid id
    table = np.zeros((256, 3), np.uint8)
    table[order] = PALETTE
    colours = Image.fromarray(order[np.minimum(mask, NUM_CLASSES - 1)].astype(np.uint8), mode="P")
    colours.putpalette(table.ravel().tolist())
    colours.save(tmp_path / "colours.png")
    assert np.array_equal(read_mask(tmp_path / "colours.png"), np.minimum(mask, NUM_CLASSES - 1))


def test_size_mismatch_mentions_exif_orientation(bdd_dir):
    from PIL import Image

    image = sorted((bdd_dir / "images/10k/train").iterdir())[0]
    mask = bdd_dir / "labels/sem_seg/masks/train" / (image.stem + ".png")
    wide = np.zeros((64, 128, 3), np.uint8)  # stored 128 wide, 64 high; shown rotated by the EXIF tag
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(wide).save(image, exif=exif)
    Image.fromarray(np.zeros((128, 64), np.uint8)).save(mask)
    ds = open_dataset(bdd_dir)
    with pytest.raises(DataError, match="EXIF orientation 6 and the mask 1"):
        ds.read(ds.splits["train"][0])


def test_files_with_the_same_name_are_an_error_not_one_pair(reference_dir):
    image = sorted((reference_dir / "images").iterdir())[0]
    shutil.copy(image, image.with_name(image.stem + ".png"))
    with pytest.raises(DataError, match=re.escape(f"{image.name} and {image.stem}.png map to the same name")):
        open_dataset(reference_dir)
