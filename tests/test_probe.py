"""The hostile new user, round 4 (issue 36): a row per class, each a small real run asserting what came out.

Classes: 1 documented commands and their output folders (the commands themselves: test_documented_commands.py),
2 optional data never blocks the required path, 3 one mask reader, 4 an input that changes nothing says so,
5 the marker knows its files by content, 6 cost before work and signals, 7 messages.
"""
from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, tiny_flags
from PIL import Image

from semsegdiff import masks
from semsegdiff.cli import main
from semsegdiff.errors import CheckpointError, DataError

pytestmark = pytest.mark.gpu  # must also pass on a GPU


def _ran(capsys, code: int, *args: str) -> tuple[str, str]:
    """(stdout, the last line of stderr) of one command that must return ``code``, with no traceback."""
    got = main([str(a) for a in args])
    out = capsys.readouterr()
    assert got == code, out.err[-3000:]
    assert "Traceback" not in out.err
    return out.out, (out.err.strip().splitlines() or [""])[-1]


# --- 1. a command's output folder: new, one it wrote, with --overwrite ---------------------------------------------

@pytest.fixture(scope="module")
def synthetic_model(tmp_path_factory) -> Path:
    """A tiny model trained for one step on 48 rendered scenes (6 val masks: enough for evaluate)."""
    from conftest import tiny_cfg

    from semsegdiff.models import train

    tmp = tmp_path_factory.mktemp("probe_model")
    return train(tiny_cfg(tmp), out=tmp / "run", progress=False, max_steps=1)


def test_evaluate_into_a_new_folder_again_and_with_overwrite(synthetic_model, tmp_path, capsys):
    """The docs' evaluate --out NEW trained its judge into NEW, then refused NEW as not its own (and every rerun)."""
    args = ["evaluate", "--checkpoint", synthetic_model, "--out", tmp_path / "NEW", "--masks", "4", "--per-mask", "1",
            "--judge-epochs", "1", "--no-progress"]
    out, _ = _ran(capsys, 0, *args)
    [tables] = [p for p in (tmp_path / "NEW").iterdir() if (p / "table.csv").is_file()]
    assert (tmp_path / "NEW/judge.ckpt").is_file() and f"tables: {tables}" in out
    _, line = _ran(capsys, 1, *args)  # the same set again: its tables are kept unless asked
    assert f"{tables}: already exists and is not empty (pass --overwrite" in line
    _ran(capsys, 0, *args, "--overwrite")  # the judge and the images read back, the tables written again
    assert (tables / "table.csv").is_file() and len(list((tmp_path / "NEW").glob("judge*"))) == 2
    (tables / "table.md").write_text("my notes on the table")
    _, line = _ran(capsys, 1, *args, "--overwrite")
    assert "table.md changed since semsegdiff wrote it" in line
    assert (tables / "table.md").read_text() == "my notes on the table"


# --- 2. optional data never blocks the required path ----------------------------------------------------------------

@pytest.fixture
def partly_instanced(tmp_path) -> Path:
    """A BDD100K folder of rendered scenes whose instance maps miss two of its masks."""
    from semsegdiff.data.synthetic import write_dataset

    root = write_dataset(tmp_path / "bdd", n=16, size=16, seed=5, progress=False)
    for split in ("train", "val"):
        next((root / "labels/ins_seg/bitmasks" / split).iterdir()).unlink()
    return root


def test_instance_maps_for_some_masks_are_reported_and_refused_only_where_needed(partly_instanced, tmp_path, capsys):
    out, _ = _ran(capsys, 0, "info", partly_instanced)
    assert "instances: BDD100K bitmasks for 14 of 16 masks (none for" in out
    out, _ = _ran(capsys, 0, "prepare", partly_instanced, tmp_path / "cache", "--size", "16")
    assert "for 14 of 16 masks" in out
    flags = tiny_flags(tmp_path, data=str(partly_instanced), epochs=1)
    out, _ = _ran(capsys, 0, "train", *flags, "--out", tmp_path / "run", "--max-steps", "1", "--no-progress")
    assert (tmp_path / "run/diffusion.ckpt").is_file()  # quick and paper never use instances
    _, line = _ran(capsys, 1, "train", *flags, "--instance-edges", "true", "--out", tmp_path / "edges")
    assert "instance_edges needs an instance map for every mask, but 2 of its 16 masks have none" in line
    assert not (tmp_path / "edges").exists()


# --- 3. one mask reader, one set of rules ---------------------------------------------------------------------------

def _raw_png(path: Path, rows: list[bytes], width: int, depth: int, colour_type: int) -> Path:
    """A PNG written byte by byte (Pillow writes neither 2- or 4-bit grey nor 16-bit colour)."""
    import struct
    import zlib

    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
    ihdr = struct.pack(">IIBBBBB", width, len(rows), depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                     chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + r for r in rows))) + chunk(b"IEND", b""))
    return path


def _png(path: Path, array: np.ndarray, mode: str | None = None, bits: int | None = None) -> Path:
    if bits in (2, 4):  # values packed into bytes, the first pixel in the high bits
        packed = ["".join(format(int(v), f"0{bits}b") for v in r) for r in array]
        return _raw_png(path, [int(b.ljust(-(-len(b) // 8) * 8, "0"), 2).to_bytes(-(-len(b) // 8), "big")
                               for b in packed], array.shape[1], bits, 0)
    Image.fromarray(array.astype(bool) if mode == "1" else array, None if mode == "1" else mode).save(path)
    return path


MASK = np.zeros((8, 8), np.uint8)
MASK[4:, :4], MASK[4:, 4:] = 1, 3  # sidewalk, wall


def _cases(tmp: Path) -> dict[str, tuple[Path, object]]:
    """name: (file, the ids it must read as, or the words of its refusal)."""
    from semsegdiff.labels import ids_to_colors

    pal = Image.fromarray(MASK, "P")
    pal.putpalette([0, 0, 0, 10, 10, 10, 20, 20, 20, 30, 30, 30])
    pal.save(tmp / "palette.png")
    colour = ids_to_colors(MASK)
    return {
        "1-bit": (_png(tmp / "bit.png", MASK == 1, "1"), (MASK == 1).astype(np.uint8)),
        "2-bit": (_png(tmp / "two.png", MASK, bits=2), MASK),
        "4-bit": (_png(tmp / "four.png", MASK, bits=4), MASK),
        "8-bit": (_png(tmp / "eight.png", MASK, "L"), MASK),
        "16-bit": (_png(tmp / "sixteen.png", MASK.astype(np.uint16)), MASK),
        "16-bit instance map": (_png(tmp / "ids.png", MASK.astype(np.uint16) * 1000 + 7),
                                "value 1007 at pixel (x=0, y=4) is no class id"),
        "grey + alpha": (_png(tmp / "la.png", np.stack([MASK, np.full_like(MASK, 9)], -1), "LA"), MASK),
        "palette of ids": (tmp / "palette.png", MASK),
        "RGB colours": (_png(tmp / "rgb.png", colour, "RGB"), MASK),
        "RGBA colours": (_png(tmp / "rgba.png", np.concatenate([colour, np.zeros((8, 8, 1), np.uint8)], -1), "RGBA"),
                         MASK),
        "RGBA of ids": (_png(tmp / "rgba_ids.png", np.stack([MASK] * 3 + [np.full_like(MASK, 255)], -1), "RGBA"),
                        "an 8-bit RGBA PNG read as colours: colour (0, 0, 0)"),
        "16-bit RGB": (_rgb16(tmp / "rgb16.png"), "is a 16-bit RGB PNG; a mask is"),
    }


def test_every_mask_reader_reads_each_kind_of_png_alike(tmp_path):
    from semsegdiff.data.formats import read_mask_folder
    from semsegdiff.data.mask_files import read_mask
    from semsegdiff.painter_state import PainterState

    readers = {"masks.read": masks.read, "edit and prepare": read_mask, "painter": lambda p: PainterState(p).mask,
               "generate": lambda p: read_mask_folder(_alone(p))[1][0]}
    for name, (path, expected) in _cases(tmp_path).items():
        for reader, read in readers.items():
            if isinstance(expected, str) and name != "RGBA of ids":
                with pytest.raises(DataError) as e:
                    read(path)
                assert str(path.name) in str(e.value) and "\n" not in str(e.value), (name, reader)
                continue
            if isinstance(expected, str):  # black is ignore in a colour mask: 0, 1, 3 are no class colours
                with pytest.raises(DataError, match="its three channels are equal everywhere: if they hold train ids"):
                    read(path)
                continue
            got = read(path)
            assert got.dtype == np.uint8 and np.array_equal(got, expected), (name, reader, np.unique(got))


def _rgb16(path: Path) -> Path:
    """A 16-bit RGB PNG (colour type 2, depth 16) of 8x8 black pixels."""
    return _raw_png(path, [bytes(8 * 6)] * 8, 8, 16, 2)


def _alone(path: Path) -> Path:
    folder = path.parent / f"folder-{path.stem}"
    folder.mkdir(exist_ok=True)
    (folder / path.name).write_bytes(path.read_bytes())
    return folder


# --- 4. an input that changes nothing says so -----------------------------------------------------------------------

def test_inputs_that_change_nothing_say_so(tiny_checkpoint, tmp_path, capsys):
    from semsegdiff.data.synthetic import write_dataset

    root = write_dataset(tmp_path / "bdd", n=8, size=16, seed=2, val_fraction=0.25, progress=False)
    masks_dir, maps = root / "labels/sem_seg/masks/val", root / "labels/ins_seg/bitmasks/val"
    base = ["generate", "--checkpoint", tiny_checkpoint, "--masks", masks_dir, "--no-progress"]
    _ran(capsys, 0, *base, "--out", tmp_path / "plain")
    out, _ = _ran(capsys, 0, *base, "--out", tmp_path / "with", "--instances", maps)
    assert "trained without instance_edges, so the instance maps do not condition the images" in out
    plain = sorted((tmp_path / "plain").glob("*.png"))
    assert all(p.read_bytes() == (tmp_path / "with" / p.name).read_bytes() for p in plain)  # as the note says
    from conftest import FIXTURE, tiny_cfg

    from semsegdiff.models import train

    plain_model = train(tiny_cfg(tmp_path, data=str(FIXTURE), attributes=False, batch_size=2), out=tmp_path / "na",
                        progress=False, max_steps=1)
    base[2] = plain_model
    _, line = _ran(capsys, 1, *base, "--out", tmp_path / "g", "--attribute-guidance", "4")
    assert "attribute_guidance (--attribute-guidance):" in line and "trained without attributes" in line
    _, line = _ran(capsys, 1, *base, "--out", tmp_path / "g", "--condition-guidance", "{night: 1}")
    assert "condition_guidance (--condition-guidance):" in line and "trained without attributes" in line
    out, _ = _ran(capsys, 0, "prepare", root, tmp_path / "cache", "--size", "16", "--val-fraction", "0.5")
    assert "note: --val-fraction split a layout that has no splits" in out and "it was not used" in out


# --- 5. the marker knows its files by content -----------------------------------------------------------------------

def test_overwrite_keeps_a_hand_edited_file_of_ours(tiny_checkpoint, tmp_path, capsys):
    masks_dir = tmp_path / "m"
    masks_dir.mkdir()
    masks.write(masks_dir / "a.png", np.zeros((16, 16), np.uint8))
    args = ["generate", "--checkpoint", tiny_checkpoint, "--masks", masks_dir, "--out", tmp_path / "g", "--no-progress"]
    _ran(capsys, 0, *args)
    _ran(capsys, 0, *args, "--overwrite")  # unchanged: replaced
    manifest = tmp_path / "g/manifest.csv"
    manifest.write_text(manifest.read_text() + "my,note\n")
    _, line = _ran(capsys, 1, *args, "--overwrite")
    assert "manifest.csv changed since semsegdiff wrote it (edited by hand?)" in line
    assert manifest.read_text().endswith("my,note\n")


def test_an_executed_notebook_edited_since_is_moved_aside_not_overwritten(tmp_path):
    from semsegdiff.files import claim
    from semsegdiff.notebooks import keep_edited, record

    out = claim(tmp_path / "runs/quick", "notebook run")
    copy = out / "02_train_diffusion.ipynb"
    copy.write_text('{"cells": []}')
    record(copy)  # as the runner does after each notebook
    keep_edited(copy)
    assert copy.is_file()  # unchanged: the runner's own, replaced by the next run
    copy.write_text('{"cells": ["my analysis"]}')
    keep_edited(copy)
    [moved] = (out / "previous").glob("*/02_train_diffusion.ipynb")
    assert not copy.exists() and "my analysis" in moved.read_text()


# --- 6. cost before work, and signals -------------------------------------------------------------------------------

def test_hours_on_a_cpu_need_a_flag_and_memory_that_does_not_fit_is_refused_before_any_data(tmp_path, capsys,
                                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, line = _ran(capsys, 1, "train", "--profile", "gpu", "--accelerator", "cpu")
    assert "allow_slow (--allow-slow): no CUDA GPU here" in line and "hours on this CPU" in line
    assert "nothing was started" in line and "--allow-slow true" in line
    _, line = _ran(capsys, 1, "train", "--profile", "gpu", "--accelerator", "cpu", "--allow-slow", "true")
    assert "batch_size (--batch-size): a step of 128 images of 128 px" in line and "GiB available" in line
    fits = int(line.split("--batch-size ")[-1].split()[0])
    assert 1 <= fits < 128
    assert not any(tmp_path.iterdir())  # nothing rendered, prepared or claimed


def test_a_study_of_hours_on_a_cpu_needs_the_flag_too(synthetic_model, tmp_path, capsys):
    _, line = _ran(capsys, 1, "ablate", "--checkpoint", synthetic_model, "--profile", "paper", "--out", tmp_path / "s")
    assert "allow_slow (--allow-slow): no CUDA GPU here, and profile 'paper' trains 290 segmenters" in line
    assert not (tmp_path / "s").exists()


def test_sigterm_to_a_training_with_dataloader_workers_ends_it_as_interrupted(tmp_path):
    flags = tiny_flags(tmp_path, epochs=10_000, num_workers=2, n_synthetic=64, data="synthetic")
    proc = subprocess.Popen([sys.executable, "-m", "semsegdiff.cli", "train", "--profile", "reference", *flags,
                             "--out", str(tmp_path / "run"), "--no-progress"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        if len(children) >= 4:  # the train and the val loaders' 2 persistent workers each: no more forks to come
            break
        time.sleep(0.3)
    assert proc.poll() is None, proc.communicate()[0][-3000:]
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGTERM)  # as a scheduler or `timeout` does: the whole process group
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out[-3000:]
    assert "semsegdiff train: interrupted" in out and "Traceback" not in out and "killed by signal" not in out


# --- 7. messages ----------------------------------------------------------------------------------------------------

def test_a_file_that_is_not_a_checkpoint_is_said_so_in_our_words(tmp_path):
    from semsegdiff.models import read_checkpoint

    text, code, cut = tmp_path / "last.ckpt", tmp_path / "code.ckpt", tmp_path / "cut.ckpt"
    text.write_text("hello, this is not a checkpoint\n")
    torch.save({"x": Path("any object")}, code)  # what a safe load refuses: a pickle of a class
    torch.save({"state_dict": {"w": torch.zeros(1000)}, "hyper_parameters": {}}, cut)
    cut.write_bytes(cut.read_bytes()[:600])
    with zipfile.ZipFile(tmp_path / "odd.ckpt", "w") as z:
        z.writestr("a/data.pkl", pickle.dumps({"x": 1}))
    for path, says in ((text, "not a checkpoint: a PyTorch file is a zip archive or a pickle, and this file's bytes "
                              "are text ('hello, this is not a checkpoint'"),
                       (code, "it holds Python objects other than tensors and plain values"),
                       (cut, "is truncated or damaged"), (tmp_path / "odd.ckpt", "is truncated or damaged")):
        with pytest.raises(CheckpointError) as e:
            read_checkpoint(path)
        assert says in str(e.value) and "weights_only" not in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_sizes_read_height_by_width_with_their_fix_and_nothing_found_says_where(tiny_checkpoint, tmp_path, capsys,
                                                                                 monkeypatch):
    wide = tmp_path / "wide"
    wide.mkdir()
    masks.write(wide / "a.png", np.zeros((16, 16), np.uint8))
    masks.write(wide / "b.png", np.zeros((16, 28), np.uint8))
    _, line = _ran(capsys, 1, "generate", "--checkpoint", tiny_checkpoint, "--masks", wide, "--out", tmp_path / "g")
    assert "mask is 16x28 but a.png is 16x16 (height x width); pass --resize" in line
    monkeypatch.chdir(tmp_path)
    _, line = _ran(capsys, 1, "notebooks", "run")
    assert f"{tmp_path / 'notebooks'}: does not exist" in line and "pass --notebooks" in line
    assert str(ROOT / "notebooks") in line
