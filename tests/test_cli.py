"""The command line: synth -> prepare -> info, and errors that name the file."""
from __future__ import annotations

import numpy as np

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
