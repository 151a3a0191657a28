"""Attribute files (BDD100K label JSON, attributes.csv) -> one table per dataset, and every bad input named."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from semsegdiff.attributes import code
from semsegdiff.data import (DataError, open_dataset, read_attribute_csv, read_attributes, read_label_frames,
                             write_attribute_csv)

ATTR_FIXTURE = Path(__file__).parent / "fixtures" / "bdd_attributes"
IMAGES_JSON = ATTR_FIXTURE / "labels/bdd100k_labels_images_train.json"
DET_JSON = ATTR_FIXTURE / "labels/det_20/det_val.json"


def codes(time: str | None, weather: str | None, scene: str | None) -> list[int]:
    return [code("time", time), code("weather", weather), code("scene", scene)]


@pytest.fixture
def bdd_with_labels(bdd_dir: Path) -> Path:
    """The BDD100K layout of the real pairs with the hand-written label JSON under labels/."""
    shutil.copytree(ATTR_FIXTURE / "labels", bdd_dir / "labels", dirs_exist_ok=True)
    return bdd_dir


def test_bdd100k_label_files_map_official_values():
    rows = read_label_frames(IMAGES_JSON)
    assert sorted(rows) == ["0a0a0b1a-7c39d841", "7d06fefd-f7be05a6", "7d2f7975-e0c1c5a7"]  # by stem
    assert rows["7d06fefd-f7be05a6"].tolist() == codes("day", "clear", "city")  # daytime, city street
    assert rows["7d2f7975-e0c1c5a7"].tolist() == codes("day", "cloudy", None)  # overcast; scene undefined
    assert rows["0a0a0b1a-7c39d841"].tolist() == codes("night", "rain", "highway")
    wrapped = read_label_frames(DET_JSON)  # Scalabel {"frames": [...], "config": ...}
    assert wrapped["7d6c1119-00000000"].tolist() == codes("day", "cloudy", "residential")  # partly cloudy


def test_dataset_table_counts_unmatched_and_missing(bdd_with_labels):
    ds = open_dataset(bdd_with_labels)
    assert [p.relative_to(bdd_with_labels).as_posix() for p in ds.attribute_files] == [
        "labels/bdd100k_labels_images_train.json", "labels/det_20/det_val.json"]
    table = read_attributes(ds)
    assert table.sources == [
        {"file": "labels/bdd100k_labels_images_train.json", "rows": 3, "images": 2, "unmatched": 1},
        {"file": "labels/det_20/det_val.json", "rows": 1, "images": 1, "unmatched": 0}]
    train = ds.splits["train"]  # 7d06fefd, 7d2f7975, 7d4a9094 (no frame)
    assert table.codes(train).tolist() == [codes("day", "clear", "city"), codes("day", "cloudy", None), [0, 0, 0]]
    assert table.missing(train) == 1 and table.missing(ds.splits["val"]) == 0
    assert table.codes(ds.splits["val"]).tolist() == [codes("day", "cloudy", "residential")]


def test_label_tree_skips_mask_folders_and_refuses_json_of_another_shape(bdd_with_labels):
    (bdd_with_labels / "labels/sem_seg/masks/train/broken.json").write_text("{not json")  # a mask folder: not read
    (bdd_with_labels / "labels/empty.json").write_text("[]")  # no frames: no rows
    table = read_attributes(open_dataset(bdd_with_labels))
    assert [s["file"] for s in table.sources] == ["labels/bdd100k_labels_images_train.json",
                                                  "labels/det_20/det_val.json"]
    other = bdd_with_labels / "labels/config.json"
    for shape, got in [({"categories": ["car"]}, "an object with keys 'categories'"), (3, "a JSON int"),
                       ([{"labels": []}], 'frame 1: expected an object with a "name"')]:
        other.write_text(json.dumps(shape))  # never skipped as "no attribute file"
        with pytest.raises(DataError, match=f"{other}.*{got}"):
            read_attributes(open_dataset(bdd_with_labels))


def test_csv_in_any_layout_comes_first(tmp_path, bdd_with_labels, reference_dir, cityscapes_dir):
    (bdd_with_labels / "attributes.csv").write_text("name,time,weather,scene\n"
                                                    "7d2f7975-e0c1c5a7.jpg,night,,highway\n"
                                                    "7d4a9094-0455564b,Dawn/Dusk,rainy,\n")
    ds = open_dataset(bdd_with_labels)
    assert ds.attribute_files[0].name == "attributes.csv"
    table = read_attributes(ds)
    # the CSV's known values win; the JSON fills in what it leaves unknown (weather of 7d2f7975)
    assert table.codes(ds.splits["train"]).tolist() == [codes("day", "clear", "city"),
                                                         codes("night", "cloudy", "highway"),
                                                         codes("dusk/dawn", "rain", None)]
    assert table.missing(ds.splits["train"]) == 0
    (reference_dir / "attributes.csv").write_text("name,scene,weather,timeofday\n7d06fefd-f7be05a6,residential,snow,\n")
    ref = open_dataset(reference_dir)
    assert read_attributes(ref).codes(ref.splits["all"])[0].tolist() == codes(None, "snow", "residential")
    city = open_dataset(cityscapes_dir)  # no attribute file: all unknown, no error
    table = read_attributes(city)
    train = city.splits["train"]
    assert table.sources == [] and not table.codes(train).any() and table.missing(train) == 4


def test_csv_round_trip(tmp_path):
    c = np.array([codes("night", "fog", "rural/other"), codes(None, None, None)], np.uint8)
    write_attribute_csv(tmp_path / "attributes.csv", ["a", "b"], c)
    assert (tmp_path / "attributes.csv").read_text() == "name,time,weather,scene\na,night,fog,rural/other\nb,,,\n"
    rows = read_attribute_csv(tmp_path / "attributes.csv")
    assert rows["a"].tolist() == c[0].tolist() and rows["b"].tolist() == [0, 0, 0]
    with pytest.raises(DataError, match=r"expected \(2, 3\) attribute codes"):
        write_attribute_csv(tmp_path / "x.csv", ["a", "b"], np.array([[9, 0, 0], [0, 0, 0]]))


# --- bad input: one line naming the file, the row or frame and what is allowed -------------------------

@pytest.mark.parametrize("content, problem", [
    ("name,time,weather,scene\na,day,sunny,city\n",
     "row 1 ('a'): 'sunny' is not a weather; one of clear, cloudy, rain, snow, fog (or unknown)"),
    ("name,time,weather,scene\na,day,,city\nb,noon,,\n", "row 2 ('b'): 'noon' is not a time; one of day, dusk/dawn"),
    ("name,time,weather\na,day,clear\n", "no 'scene' column; the columns are name, time, weather, scene"),
    ("name,time,wether,scene\n", "unknown column 'wether'; the columns are name, time, weather, scene"),
    ("name,time,timeofday,weather,scene\n", "2 'time' columns"),
    ("", "no header row"),
    ("name,time,weather,scene\na,day,clear\n", "row 1: 3 fields, expected 4 (name, time, weather, scene)"),
    ("name,time,weather,scene\na.jpg,day,,\nb,,,\na.png,night,,\n", "row 1 and row 3 both name image 'a'"),
])
def test_bad_csv(tmp_path, content, problem):
    path = tmp_path / "attributes.csv"
    path.write_text(content)
    with pytest.raises(DataError) as e:
        read_attribute_csv(path)
    assert str(e.value).startswith(str(path)) and problem in str(e.value) and "\n" not in str(e.value)


def frames(*attributes: dict) -> list[dict]:
    return [{"name": f"img{i}.jpg", "attributes": a, "labels": []} for i, a in enumerate(attributes)]


@pytest.mark.parametrize("content, problem", [
    ('[{"name": "a.jpg", "attributes": {}},', "malformed JSON at line 1"),
    (frames({"weather": "clear"}, {"weather": "sunny"}),
     "frame 2 ('img1.jpg'): 'sunny' is not a weather; one of clear, cloudy, rain, snow, fog (or unknown)"),
    (frames({"timeofday": "evening"}), "frame 1 ('img0.jpg'): 'evening' is not a time; one of day, dusk/dawn, night"),
    (frames({"scene": "mall"}), "'mall' is not a scene; one of city, residential, highway, rural/other"),
    (frames({"scene": 3}), "expected a name for scene, got 3"),
    ([{"name": "a.jpg"}, {"labels": []}], "frame 2: expected an object with a \"name\""),
    ([{"name": "a.jpg", "attributes": ["clear"]}], "frame 1 ('a.jpg'): \"attributes\" must be an object"),
    ({"frames": [{"name": "a.jpg"}, {"name": "a.jpg"}]}, "frame 1 and frame 2 both name image 'a'"),
])
def test_bad_label_json(tmp_path, content, problem):
    path = tmp_path / "det_train.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(DataError) as e:
        read_label_frames(path)
    assert str(e.value).startswith(str(path)) and problem in str(e.value) and "\n" not in str(e.value)


def test_bad_file_in_the_label_tree_stops_prepare(tmp_path, bdd_with_labels):
    from semsegdiff.data import prepare

    (bdd_with_labels / "labels/det_20/det_train.json").write_text(json.dumps(frames({"weather": "sunny"})))
    with pytest.raises(DataError, match=r"det_20/det_train.json frame 1 \('img0.jpg'\): 'sunny' is not a weather"):
        prepare(bdd_with_labels, tmp_path / "cache", size=16, progress=False)
    assert not (tmp_path / "cache").exists()
