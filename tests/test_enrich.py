"""semsegdiff enrich: the exported dataset read back by plain PIL and by open_dataset, resumed after a kill, made on two
processes, in the Cityscapes layout, and every bad input refused before any image is made."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_cfg
from PIL import Image

from semsegdiff.cli import main
from semsegdiff.data import open_dataset
from semsegdiff.data.attribute_files import read_attributes
from semsegdiff.enrich import enrich

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, Path]:
    """(a BDD100K-layout folder of 32 rendered scenes with instance maps and attributes, a tiny model trained on it)."""
    from semsegdiff.data.synthetic import write_dataset
    from semsegdiff.models import train

    tmp = tmp_path_factory.mktemp("enrich")
    source = write_dataset(tmp / "bdd", n=32, size=16, seed=4, val_fraction=0.25, progress=False)
    return source, train(tiny_cfg(tmp, data=str(source)), out=tmp / "run", progress=False, max_steps=1)


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in (".semsegdiff", "README.md", ".lock")}


def test_the_export_is_the_source_layout_with_real_and_generated_pairs(world, tmp_path):
    source, ckpt = world
    before = _snapshot(source)
    out = enrich(ckpt, source, tmp_path / "enriched", n="2x", ablate_steps=2, progress=False, cache=tmp_path / "c")
    assert _snapshot(source) == before  # nothing in the source is written
    # a plain reader (PIL and the file names, no semsegdiff code) finds every pair of the train split
    images = {p.stem: p for p in (out / "images/10k/train").glob("*.jpg")}
    labels = {p.stem: p for p in (out / "labels/sem_seg/masks/train").glob("*.png")}
    manifest = pd.read_csv(out / "enrichment.csv", keep_default_na=False)
    real = {p.stem for p in (source / "images/10k/train").glob("*.jpg")}
    generated = {Path(p).stem for p in manifest["image"]}
    assert set(images) == set(labels) == real | generated and not real & generated
    assert len(manifest) == 2 * len(real) and set(manifest["step"]) == {"hard", "rare", "cond"}
    for _, row in manifest.iterrows():
        label = np.asarray(Image.open(out / row["label"]))
        assert label.dtype == np.uint8 and label.shape == (16, 16) and set(np.unique(label)) <= set(range(19)) | {255}
        assert (label == 255).mean() >= row["filtered"] - 1e-6  # the filter's pixels are ignore in the label
        assert Image.open(out / row["image"]).size == (16, 16)
    assert manifest["filtered"].sum() > 0 and (manifest.loc[manifest["step"] == "rare", "inserted"] != "").all()
    # the real pairs are the source's files, linked; val is untouched
    for split in ("train", "val"):
        for p in (source / "images/10k" / split).glob("*.jpg"):
            assert os.path.samefile(p, out / "images/10k" / split / p.name)
    assert {p.name for p in (out / "images/10k/val").iterdir()} == {p.name for p in (source / "images/10k/val").iterdir()}
    # semsegdiff's own reader sees the same pairs, instance maps beside every mask, and the conditions asked
    ds = open_dataset(out)
    assert {s.name for s in ds.splits["train"]} == set(images) and ds.instances == "bdd100k"
    assert not ds.missing_instances()
    codes = read_attributes(ds)
    cond = manifest[manifest["step"] == "cond"]
    assert all(codes.rows[Path(r["image"]).stem][:2].tolist() == [r["time"], r["weather"]] for _, r in cond.iterrows())
    assert (cond[["time", "weather"]].to_numpy().max(1) > 0).all()
    card = (out / "README.md").read_text()
    assert "## The recipe" in card and "semsegdiff enrich --checkpoint" in card and "hard links" in card


def test_a_killed_export_resumes_to_the_same_bytes(world, tmp_path, monkeypatch):
    from semsegdiff.enrich import chunks, layouts

    source, ckpt = world
    args = dict(n="20", recipe={"all": 1, "rare": 1}, filter=0, progress=False, cache=tmp_path / "c")
    whole = enrich(ckpt, source, tmp_path / "whole", **args)
    monkeypatch.setattr(chunks, "CHUNK", 6)
    write, calls = layouts.Layout.write, []

    def dies(self, *a, **k):
        calls.append(1)
        if len(calls) == 9:  # in the middle of the second chunk
            raise KeyboardInterrupt
        return write(self, *a, **k)

    monkeypatch.setattr(layouts.Layout, "write", dies)
    with pytest.raises(KeyboardInterrupt):
        enrich(ckpt, source, tmp_path / "resumed", **args)
    assert not (tmp_path / "resumed").exists() and (tmp_path / ".resumed.enriching").is_dir()
    monkeypatch.setattr(layouts.Layout, "write", write)
    resumed = enrich(ckpt, source, tmp_path / "resumed", **args)
    assert _snapshot(resumed) == _snapshot(whole) and not (tmp_path / ".resumed.enriching").exists()


def test_two_processes_write_the_bytes_of_one(world, tmp_path):
    source, ckpt = world
    args = dict(n="6", recipe={"all": 1}, filter=0, real="none", progress=False, cache=tmp_path / "c")
    one = enrich(ckpt, source, tmp_path / "one", **args)
    two = enrich(ckpt, source, tmp_path / "two", devices=2, **args)
    assert _snapshot(one) == _snapshot(two) and len(_snapshot(one)) > 12


def test_a_cityscapes_export_reads_back_through_the_official_label_ids(world, cityscapes_dir, tmp_path):
    from semsegdiff.labels import cityscapes_lut

    _, ckpt = world
    out = enrich(ckpt, cityscapes_dir, tmp_path / "cs", n="3", recipe={"all": 1}, filter=0, progress=False,
                 cache=tmp_path / "c")
    ds = open_dataset(out)
    generated = [s for s in ds.splits["train"] if "semsegdiff" in s.name]
    assert len(generated) == 3 and all(s.mask.parent.name == "semsegdiff" for s in generated)
    for s in generated:
        label_ids = np.asarray(Image.open(s.mask))
        _, mask = ds.read(s)
        assert np.array_equal(cityscapes_lut()[label_ids], mask)
        assert (s.mask.parent / s.mask.name.replace("labelIds", "color")).is_file()


BAD = [
    (["--recipe", "{hard: 1, blur: 1}"], "enrich_recipe (--recipe): unknown 'blur'"),
    (["--n", "0"], "enrich_n (--n): '0' must be between 1 and"),
    (["--n", "123456789012"], "enrich_n (--n): '123456789012' must be between 1 and"),
    (["--n", "lots"], "expected a multiple of the real train images such as 10x"),
    (["--conditions", "{night: -1}"], "the share of 'night' must be a number >= 0"),
    (["--real", "move"], "enrich_real (--real): 'move' is not one of link, copy, none"),
]


@pytest.mark.parametrize("extra,says", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_settings_are_one_line_before_any_image(world, tmp_path, capsys, extra, says):
    source, ckpt = world
    assert main(["enrich", "--checkpoint", str(ckpt), "--data", str(source), "--out", str(tmp_path / "e"), *extra]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err) and says in err[-1], err
    assert not any(tmp_path.iterdir())


def test_bad_places_are_refused_before_any_image(world, tmp_path, capsys):
    import torch

    from semsegdiff.data.synthetic import write_dataset

    source, ckpt = world
    base = ["enrich", "--checkpoint", str(ckpt), "--n", "2", "--recipe", "{all: 1}", "--filter", "0"]

    def line(*args) -> str:
        assert main([*base, *map(str, args)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert "Traceback" not in "\n".join(err)
        return err[-1]

    assert "the output overlaps the source" in line("--data", source, "--out", source / "enriched")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    assert "already exists and is not empty" in line("--data", source, "--out", mine)
    val_only = write_dataset(tmp_path / "valonly", n=8, size=16, seed=1, progress=False)
    os.rename(val_only / "images/10k/train", val_only / "images/10k/test")
    os.rename(val_only / "labels/sem_seg/masks/train", val_only / "labels/sem_seg/masks/test")
    assert "has no train split to enrich" in line("--data", val_only, "--out", tmp_path / "x")
    other = torch.load(ckpt, weights_only=True)
    other["hyper_parameters"]["num_classes"] = 11
    torch.save(other, tmp_path / "eleven.ckpt")
    assert main(["enrich", "--checkpoint", str(tmp_path / "eleven.ckpt"), "--data", str(source), "--out",
                 str(tmp_path / "y")]) == 1
    assert "has 11 classes" in capsys.readouterr().err
    done = enrich(ckpt, source, tmp_path / "done", n="2", recipe={"all": 1}, filter=0, progress=False,
                  cache=tmp_path / "c")
    assert "is a finished enriched dataset" in line("--data", source, "--out", done)
    assert (mine / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "done", "eleven.ckpt", "mine", "valonly"]


def test_the_export_takes_the_best_supported_arm_or_with_one_seed_the_best_gain():
    from semsegdiff.enrich.study import best_recipe

    table = pd.DataFrame({"arm": ["real", "real+gen", "real+gen hard", "gen only"], "n_mult": [0.0, 1.0, 2.0, 1.0],
                          "threshold": [None, None, None, None], "delta": [None, 0.020, 0.012, 0.05],
                          "ci_low": [None, -0.001, 0.004, 0.03], "ci_high": [None, 0.04, 0.02, 0.07]})
    best = best_recipe(table)  # the higher lower bound wins over the higher gain; gen only drops the real images
    assert (best["arm"], best["recipe"], best["n"]) == ("real+gen hard", {"hard": 1.0}, "2x")
    assert "[+0.40, +2.00] (the highest lower bound)" in best["summary"]
    one_seed = best_recipe(table.assign(ci_low=None, ci_high=None))  # the rehearsal's one seed per arm
    assert one_seed["arm"] == "real+gen" and "no interval supports it" in one_seed["summary"]
