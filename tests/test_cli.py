"""The command line: synth -> prepare -> info, and errors that name the file."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

from semsegdiff.attributes import ATTRIBUTES, UNKNOWN
from semsegdiff.cli import main
from semsegdiff.data import open_dataset, open_prepared


def test_synth_prepare_info(tmp_path, capsys):
    raw, cache = tmp_path / "synth", tmp_path / "cache"
    assert main(["synth", str(raw), "--n", "16", "--size", "32", "--seed", "3", "--val-fraction", "0.25"]) == 0
    ds = open_dataset(raw)
    assert ds.format == "bdd100k" and {k: len(v) for k, v in ds.splits.items()} == {"train": 12, "val": 4}
    assert main(["prepare", str(raw), str(cache), "--size", "16"]) == 0
    p = open_prepared(cache)
    assert p.masks("train").shape == (12, 16, 16) and p.meta["source_format"] == "bdd100k"
    assert main(["info", str(cache)]) == 0 and main(["info", str(raw)]) == 0
    out = capsys.readouterr().out
    assert "prepared cache of a bdd100k dataset" in out and "road" in out and "train: 12 pairs" in out
    assert out.count("attributes.csv: 16 of 16 images") == 3  # prepare, info of both: every scene has attributes
    shown = printed_attribute_counts(out)  # the prepared cache's, printed first
    for j, attribute in enumerate(ATTRIBUTES):  # per split: images per value, unknown included
        for c, value in enumerate([UNKNOWN, *ATTRIBUTES[attribute]]):
            assert shown[attribute, value] == [int((p.attributes(s)[:, j] == c).sum()) for s in ("train", "val")]


def printed_attribute_counts(out: str) -> dict[tuple[str, str], list[int]]:
    """{(attribute, value): [train, val]} from the first attribute table ``info`` printed."""
    table, attribute = {}, None
    for line in out.split("images per value")[1].splitlines()[3:]:
        m = re.match(r"^(\S+)? +(\S+) +(\d+) +(\d+)$", line)
        if not m:
            break
        attribute = m[1] or attribute
        table[attribute, m[2]] = [int(m[3]), int(m[4])]
    return table


def test_info_reports_attribute_files(tmp_path, bdd_dir, capsys):
    shutil.copytree(Path(__file__).parent / "fixtures/bdd_attributes/labels", bdd_dir / "labels", dirs_exist_ok=True)
    assert main(["info", str(bdd_dir)]) == 0
    out = capsys.readouterr().out
    assert "labels/bdd100k_labels_images_train.json: 2 of 4 images (1 of its 3 rows name no image)" in out
    assert "labels/det_20/det_val.json: 1 of 4 images" in out
    assert "1 of 4 images named by no attribute file: unknown" in out
    shown = printed_attribute_counts(out)
    assert shown["scene", "city"] == [1, 0] and shown["scene", "residential"] == [0, 1]
    assert shown["scene", "unknown"] == [2, 0] and shown["weather", "cloudy"] == [1, 1]


def test_prepare_reference_fixture(tmp_path, reference_dir):
    assert main(["prepare", str(reference_dir), str(tmp_path / "c"), "--size", "64", "--val-fraction", "0.25"]) == 0
    masks = open_prepared(tmp_path / "c").masks("train")
    assert masks.shape == (3, 64, 64) and np.asarray(masks).max() < 19


def test_errors_name_the_file(tmp_path, reference_dir, capsys):
    bad = sorted((reference_dir / "images").iterdir())[0]
    bad.write_bytes(b"junk")
    assert main(["prepare", str(reference_dir), str(tmp_path / "c")]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("semsegdiff prepare: error:") and str(bad) in last and "not a JPEG" in last
    assert not (tmp_path / "c").exists()
    assert main(["prepare", str(tmp_path / "missing"), str(tmp_path / "c")]) == 1
    assert "missing: dataset folder does not exist" in capsys.readouterr().err
