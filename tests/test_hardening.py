"""The hostile new user, class by class (issue 26): each case a small real run, asserting what is left on disk.

Classes: 1 ownership of output folders, 2 masks read by content, 3 resumes that do what they say,
4 attribute files of any shape, 5 the Python API's edges, 6 several devices from the command
line, 7 messages. Every case asserts the outcome (the error line, or what was trained or
written) and that the user's files are untouched.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FIXTURE, ROOT, tiny_cfg, tiny_flags
from torchvision.io import encode_jpeg

from semsegdiff.cli import main
from semsegdiff.errors import DataError, OutputError, SettingError
from semsegdiff.files import atomic_dir

pytestmark = pytest.mark.gpu  # must also pass on a GPU: runs on CUDA where present (pytest -m gpu)


def _one_line(capsys, code: int, *args: str) -> str:
    assert main(list(args)) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


def _jpeg_named_png(path: Path, mask: np.ndarray) -> Path:
    rgb = torch.from_numpy(np.stack([mask * 10] * 3)).contiguous()
    path.write_bytes(encode_jpeg(rgb).numpy().tobytes())
    return path


def _mine(folder: Path, name: str = "notes.txt") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("mine")
    return folder / name


# --- 1. ownership: a folder semsegdiff did not write is never written into, replaced or deleted -----------------

def test_a_users_table_is_not_taken_for_a_study(tmp_path, capsys):
    from semsegdiff.eval.study_folder import open_study

    for name in ("table.md", "runs.csv"):  # a file name alone never claims a folder
        out = tmp_path / name.replace(".", "_")
        notes = _mine(out, name)
        with pytest.raises(OutputError, match="was not written by semsegdiff"):
            open_study(out)
        assert notes.read_text() == "mine" and sorted(p.name for p in out.iterdir()) == [name]


def test_overwrite_removes_only_what_the_markers_list(tmp_path):
    from semsegdiff.eval.study_folder import open_study

    out = tmp_path / "study"
    open_study(out)  # new: created and marked
    with atomic_dir(out / "low" / "runs" / "real-seed0") as tmp:
        (tmp / "result.json").write_text("{}")
    notes = _mine(out / "low" / "runs" / "real-seed0")  # the user's notes inside a run folder of ours
    with pytest.raises(OutputError, match="nothing was removed: move them out first"):
        open_study(out, overwrite=True, say=lambda s: None)
    assert notes.read_text() == "mine" and (out / "low/runs/real-seed0/result.json").is_file()
    notes.rename(tmp_path / "kept.txt")
    top = _mine(out, "README.txt")  # beside the regimes: kept, not removed
    said = []
    open_study(out, overwrite=True, say=said.append)
    assert not (out / "low").exists() and top.read_text() == "mine" and said


def test_two_writers_of_one_new_folder(tmp_path):
    out = tmp_path / "gen"
    code = (f"import sys, time; from semsegdiff.files import atomic_dir\n"
            f"with atomic_dir({str(out)!r}) as tmp:\n"
            f"    (tmp / 'a.png').write_text('first'); print('writing', flush=True); time.sleep(30)\n")
    first = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "writing"
        with pytest.raises(OutputError, match=rf"another process \(pid {first.pid}\) is writing this folder"):
            with atomic_dir(out):
                pass
    finally:
        first.kill()
        first.wait()
    with pytest.raises(OutputError, match="appeared while this command ran"):  # someone else's folder, meanwhile
        with atomic_dir(out) as tmp:
            (tmp / "ours.png").write_text("ours")
            _mine(out, "theirs.txt")
    assert sorted(p.name for p in out.iterdir()) == ["theirs.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen"]  # no temporary left


def test_train_and_distill_never_write_into_a_users_folder(tmp_path, tiny_checkpoint, capsys):
    notes = _mine(tmp_path / "thesis")
    line = _one_line(capsys, 1, "train", "--out", str(tmp_path / "thesis"), "--no-progress",
                     *tiny_flags(tmp_path, data=str(FIXTURE), batch_size=2))
    assert "thesis: was not written by semsegdiff" in line and "training run" in line
    line = _one_line(capsys, 1, "distill", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "thesis"),
                     "--no-progress")
    assert "thesis: was not written by semsegdiff" in line
    loose = tmp_path / "downloads"  # a checkpoint in a user's folder: nothing is written beside it
    loose.mkdir()
    (loose / "model.ckpt").write_bytes(tiny_checkpoint.read_bytes())
    line = _one_line(capsys, 1, "evaluate", "--checkpoint", str(loose / "model.ckpt"), "--no-progress")
    assert "downloads: holds model.ckpt but was not written by semsegdiff" in line and "--out" in line
    assert notes.read_text() == "mine" and sorted(p.name for p in (tmp_path / "thesis").iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in loose.iterdir()) == ["model.ckpt"]


def test_a_run_the_disk_cannot_hold_is_refused_before_any_work(tmp_path, tiny_checkpoint, capsys, monkeypatch):
    """Train and distill check the free disk against their checkpoints first: not a crash at a save hours in."""
    from collections import namedtuple

    from semsegdiff.config import get_profile
    from semsegdiff.models.cost import checkpoint_bytes

    assert abs(checkpoint_bytes(get_profile("paper")) - 1_155_215_226) < 0.01 * 1_155_215_226  # last.ckpt measured
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("semsegdiff.files.shutil.disk_usage", lambda p: usage(10**9, 10**9, 10**4))
    line = _one_line(capsys, 1, "train", "--out", str(tmp_path / "run"), "--no-progress",
                     *tiny_flags(tmp_path, data=str(FIXTURE), batch_size=2))
    assert f"{tmp_path / 'run'}: 0.0 MB free on its disk, and this training run (checkpoints of" in line
    line = _one_line(capsys, 1, "distill", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "student"),
                     "--no-progress")
    assert "student: 0.0 MB free on its disk, and this distillation (checkpoints of" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing made: no run folder, no prepared data


# --- 2. masks are read by their content ----------------------------------------------------------------------

def test_a_jpeg_named_png_is_refused_by_every_mask_reader(tmp_path, reference_dir, capsys):
    from semsegdiff import masks
    from semsegdiff.data.formats import read_mask_folder

    mask = np.zeros((16, 16), np.uint8)
    mask[8:] = 13
    folder = tmp_path / "masks"
    folder.mkdir()
    bad = _jpeg_named_png(folder / "m.png", mask)
    for read in (lambda: read_mask_folder(folder), lambda: masks.read(bad)):  # generate's and edit's readers
        with pytest.raises(DataError, match=f"{bad}: masks must be PNG files, but this file's bytes are JPEG"):
            read()
    first = sorted((reference_dir / "masks").iterdir())[0]  # prepare: a colour mask of the reference layout
    first.write_bytes(encode_jpeg(torch.zeros(3, 128, 128, dtype=torch.uint8)).numpy().tobytes())
    line = _one_line(capsys, 1, "prepare", str(reference_dir), str(tmp_path / "cache"))
    assert f"{first}: masks must be PNG files" in line and not (tmp_path / "cache").exists()


# --- 3. resumes do what they say -----------------------------------------------------------------------------

@pytest.mark.slow
def test_a_resumed_distillation_trains_the_steps_it_was_asked_for(tmp_path, tiny_checkpoint, capsys):
    from semsegdiff.models import read_checkpoint

    out = tmp_path / "student"
    base = ["distill", "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--no-progress"]
    assert main([*base, "--max-steps", "2"]) == 0
    assert main([*base, "--max-steps", "5", "--resume"]) == 0
    ckpt = read_checkpoint(out / "diffusion.ckpt")
    assert ckpt["global_step"] == 5 and ckpt["hyper_parameters"]["distill_lr"] == 2e-4
    capsys.readouterr()
    line = _one_line(capsys, 1, *base, "--max-steps", "8", "--resume", "--distill-lr", "1e-3")
    assert "1 setting differs from what trained it (distill_lr: checkpoint 0.0002, now 0.001)" in line
    assert read_checkpoint(out / "diffusion.ckpt")["global_step"] == 5  # nothing trained, nothing recorded


def test_a_resumed_training_refuses_settings_it_was_not_trained_with(tmp_path, capsys):
    out = tmp_path / "run"
    flags = tiny_flags(tmp_path, data=str(FIXTURE), batch_size=2, epochs=1)
    assert main(["train", "--out", str(out), "--no-progress", *flags]) == 0
    capsys.readouterr()
    line = _one_line(capsys, 1, "train", "--out", str(out), "--no-progress", "--resume", *flags, "--lr", "0.1")
    assert "--resume continues the same run" in line and "lr: checkpoint 0.001, now 0.1" in line


# --- 4. attribute files of any shape -------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    (json.dumps({"images": []}), "expected a BDD100K label file, a JSON list of frames"),
    (json.dumps([{"labels": []}]), 'frame 1: expected an object with a "name"'),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    (json.dumps([{"name": "x.jpg", "attributes": {"weather": "w" * 10**6}}]), "is not a weather"),
])
def test_label_files_of_an_unexpected_shape(tmp_path, text, expected):
    from semsegdiff.data import read_label_frames

    path = tmp_path / "labels.json"
    path.write_text(text)
    with pytest.raises(DataError, match=expected) as e:
        read_label_frames(path)
    assert str(path) in str(e.value) and len(str(e.value)) < 400  # one line, whatever the file's size


def test_a_csv_with_a_huge_field(tmp_path):
    from semsegdiff.data import read_attribute_csv

    path = tmp_path / "attributes.csv"
    path.write_text("name,time,weather,scene\n" + "x" * 300_000 + ",day,,\n")
    with pytest.raises(DataError, match=f"{path}: not a readable CSV table"):
        read_attribute_csv(path)


# --- 5. the Python API's edges -------------------------------------------------------------------------------

def test_generate_at_its_edges(tiny_checkpoint):
    from semsegdiff.models import load_checkpoint

    model = load_checkpoint(tiny_checkpoint)
    masks = np.zeros((2, 16, 16), np.uint8)
    assert tuple(model.generate(masks[:0], steps=2).shape) == (0, 3, 16, 16)  # zero masks: nothing to make
    assert torch.equal(model.generate(masks, steps=2, seed=np.int64(3)), model.generate(masks, steps=2, seed=3))
    assert torch.equal(model.generate(masks, steps=2, seed=np.array([3, 4])), model.generate(masks, steps=2, seed=3))
    for seed, expected in [(1.5, "expected a whole number or one per mask"), (2**63, "a seed is a whole number"),
                           ([1, -1], r"seed\[1\]"), (True, "expected a whole number"), ([1], "got 1 seeds for 2")]:
        with pytest.raises(SettingError, match=expected):
            model.generate(masks, steps=2, seed=seed)
    with pytest.raises(SettingError, match="attrs and time: give the codes"):
        model.generate(masks, steps=2, attrs=np.zeros((2, 3)), time="night")
    with pytest.raises(SettingError, match=r"attrs: expected integer codes of shape \(2, 3\)"):
        model.generate(masks, steps=2, attrs=np.zeros(6, np.int64))
    with pytest.raises(SettingError, match="row 1 has time code 9"):
        model.generate(masks, steps=2, attrs=np.array([[0, 0, 0], [9, 0, 0]]))
    with pytest.raises(DataError, match=r"init: expected 2 uint8 photos of 16x16"):
        model.generate(masks, steps=2, init=np.zeros((1, 16, 16, 3), np.uint8), keep=np.ones((1, 16, 16), bool))


def test_absurd_sizes_are_refused_before_allocating(tmp_path):
    from semsegdiff import masks
    from semsegdiff.data.synthetic import write_dataset

    with pytest.raises(SettingError, match="more than the 67,108,864"):
        masks.resize(np.zeros((4, 4), np.uint8), 100_000)
    with pytest.raises(SettingError, match="n_synthetic 10000000 scenes at size 2048: needs about"):
        write_dataset(tmp_path / "huge", n=10_000_000, size=2048)
    assert not (tmp_path / "huge").exists()


# --- 6. several devices from the command line ----------------------------------------------------------------

@pytest.mark.slow
def test_ablate_on_two_devices_from_the_command_line_makes_the_sets_of_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as the subprocess runs
    from semsegdiff.models import train

    ckpt = train(tiny_cfg(tmp_path, n_synthetic=48), out=tmp_path / "run", progress=False, max_steps=2)
    common = ["--checkpoint", str(ckpt), "--ablate-arms", "[real, real+gen]", "--ablate-steps", "2", "--steps", "2",
              "--ablate-seeds", "1", "--generate-only", "--no-progress", "--device", "cpu"]
    assert main(["ablate", *common, "--devices", "1", "--out", str(tmp_path / "study1")]) == 0  # in this process
    done = subprocess.run([sys.executable, "-m", "semsegdiff.cli", "ablate", *common, "--devices", "2", "--out",
                           str(tmp_path / "study2")], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    sets = []
    for devices in (1, 2):
        [images] = (tmp_path / f"study{devices}" / "low" / "sets").glob("gen-*/images.npy")  # one generated set each
        sets.append(np.load(images))
    assert "MEMBER: 2/2" in done.stderr and np.array_equal(*sets)


# --- 7. messages ---------------------------------------------------------------------------------------------

def test_a_gpu_profile_without_a_gpu_says_how_long_and_how_to_go_on():
    from semsegdiff.config import get_profile
    from semsegdiff.errors import SettingError
    from semsegdiff.models.cost import check_cost

    small = {**get_profile("gpu"), "batch_size": 2}  # memory that fits: the time is what is said
    with pytest.raises(SettingError, match=r"no CUDA GPU here.*hours on this CPU.*--profile quick.*--allow-slow true"):
        check_cost(small, 7000, device="cpu", precision="bf16-mixed")
    going = check_cost({**small, "allow_slow": True}, 7000, device="cpu", precision="bf16-mixed")
    assert "hours on this CPU" in going and "Going on: --allow-slow true was given" in going
    assert check_cost(get_profile("quick"), 1750, device="cpu", precision="bf16-mixed") is None
    capped = check_cost(small, 7000, device="cpu", precision="bf16-mixed", max_steps=2)  # seconds, not 36 hours
    assert "2 steps of 2 images" in capped and "hours" not in capped
    assert check_cost(get_profile("gpu"), 7000, device="cuda", precision="bf16-mixed") is None


def test_distill_steps_beyond_the_grid_are_refused_at_distill_time(tiny_checkpoint, tmp_path, capsys):
    line = _one_line(capsys, 1, "distill", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "s"),
                     "--steps", "60")
    assert "distill --steps): 60 is more than the 50 timesteps of distill_grid" in line
    assert not (tmp_path / "s").exists()


def test_evaluate_names_its_flag_and_the_real_limit(tiny_checkpoint, tmp_path, capsys):
    run = tmp_path / "run"  # the fixture's model, trained on the 4 real pairs: 1 val image
    run.mkdir()
    (run / "diffusion.ckpt").write_bytes(tiny_checkpoint.read_bytes())
    line = _one_line(capsys, 1, "evaluate", "--checkpoint", str(run / "diffusion.ckpt"), "--masks", "5",
                     "--no-progress")
    assert "eval_masks (--masks): 5 masks asked for, but the val split" in line and "has 1" in line
    assert sorted(p.name for p in run.iterdir()) == ["diffusion.ckpt"]  # nothing written before the check


def test_a_setting_given_twice_to_the_notebooks_is_refused_before_any_runs(tmp_path, capsys):
    line = _one_line(capsys, 1, "notebooks", "run", "--only", "02", "--out", str(tmp_path), "-p", "epochs=3",
                     "-p", "overrides={epochs: 4}")
    assert "-p epochs: also given inside -p overrides; give each setting in one place" in line
    line = _one_line(capsys, 1, "notebooks", "run", "--only", "05", "--out", str(tmp_path), "-p", "arms=[real]",
                     "-p", "overrides={ablate_arms: [real, real+gen]}")
    assert "-p arms: also given inside -p overrides" in line
    assert not any(tmp_path.iterdir())
    from semsegdiff.config import resolve

    with pytest.raises(SettingError, match="ablate_seeds: given both as the notebook parameter seeds and in overrides"):
        resolve("quick", {"ablate_seeds": 2}, ablate_seeds=3)
    assert resolve("quick", {"ablate_seeds": 2}, defaults={"ablate_seeds": 5}, ablate_seeds=None)["ablate_seeds"] == 2


def test_info_into_a_closed_pipe_ends_quietly():
    done = subprocess.run(f"{sys.executable} -m semsegdiff.cli info {FIXTURE} | true; echo ${{PIPESTATUS[0]}}",
                          shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "141" and done.stderr == ""  # the reader left first: no traceback


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("jobs", [1, 2])  # 2: the notebook runs in a worker thread, which no signal reaches
def test_a_terminated_notebook_run_leaves_no_kernel(tmp_path, jobs):
    proc = subprocess.Popen([sys.executable, "-m", "semsegdiff.cli", "notebooks", "run", "--only", "02", "--out",
                             str(tmp_path / "runs"), "-p", f"root={tmp_path}", "--jobs", str(jobs)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def kernels() -> list[str]:  # the kernels this run started (ipykernel is told its parent's pid)
        mine = f"JPY_PARENT_PID={proc.pid}".encode()
        found = []
        for env in Path("/proc").glob("[0-9]*/environ"):
            try:
                if mine in env.read_bytes().split(b"\0"):
                    found.append(env.parent.name)
            except OSError:
                pass  # gone, or another user's
        return found

    deadline = time.time() + 120
    while not kernels() and time.time() < deadline:
        time.sleep(0.5)
    assert kernels(), "the kernel never started"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "semsegdiff notebooks: interrupted" in out
    time.sleep(2)
    assert kernels() == []
