"""Distilled students (semsegdiff distill) on tiny real runs: checkpoints, sampling, resume, refusals.

Whether a student matches its teacher is tested on a trained model in test_training.py
(test_distilled_student_matches_its_teacher_in_few_steps).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from semsegdiff.cli import main
from semsegdiff.errors import SettingError
from semsegdiff.models import CheckpointError, distill, ensure_student, load_checkpoint, read_checkpoint, run_paths

pytestmark = pytest.mark.gpu  # must also pass on a GPU: runs on CUDA where present (pytest -m gpu)


@pytest.fixture(scope="module")
def student(tiny_checkpoint, tmp_path_factory) -> Path:
    """A student of the tiny model, distilled for 3 steps."""
    return distill(tiny_checkpoint, out=tmp_path_factory.mktemp("student") / "run", progress=False, distill_iters=3)


def test_student_is_a_checkpoint_that_samples_in_few_steps(student, tiny_checkpoint):
    model, teacher = load_checkpoint(student), load_checkpoint(tiny_checkpoint)
    assert model.is_student and not teacher.is_student
    assert (model.cfg["sampler"], model.cfg["steps"]) == ("lcm", 4)  # the student's sampler is its default
    hp = read_checkpoint(student)["hyper_parameters"]
    assert hp["teacher_path"] == str(tiny_checkpoint) and len(hp["teacher"]) == 64  # sha256 of the teacher
    assert read_checkpoint(student)["global_step"] == 3
    shared = teacher.state_dict()
    moved = [k for k, v in model.state_dict().items() if k in shared and not torch.equal(v, shared[k])]
    assert moved  # trained from the teacher's weights
    log = pd.read_csv(run_paths(student.parent)["metrics"])
    assert np.isfinite(log["train_loss_step"].dropna()).all() and len(log["train_loss_step"].dropna()) == 3

    masks = torch.from_numpy(np.tile(np.arange(16, dtype=np.uint8) % 19, (2, 16, 1)))
    for steps in (1, 2, 4):
        images = model.generate(masks, steps=steps, seed=[5, 6])
        assert images.shape == (2, 3, 16, 16) and images.dtype == torch.uint8
        assert torch.equal(images, model.generate(masks, steps=steps, seed=[5, 6]))  # seeded
        assert not torch.equal(images[0], images[1])
    x, t, cond = torch.randn(2, 3, 16, 16), torch.tensor([500, 500]), torch.zeros(2, 19, 16, 16)
    w1, w3 = (model.model(x, t, cond, guidance=torch.full((2,), w)) for w in (1.0, 3.0))
    assert (w1 - w3).abs().max() > 0  # the guidance scale is an input (3 steps from a zero-initialised layer)
    with pytest.raises(SettingError, match="lcm"):
        model.generate(masks, sampler="dpmsolver++")  # a student's outputs are not a diffusion model's
    with pytest.raises(SettingError, match="distilled student"):
        teacher.generate(masks, sampler="lcm")
    with pytest.raises(SettingError, match="distill_grid"):
        model.generate(masks, steps=51)


def test_student_regenerates_a_region_and_keeps_the_rest(student):
    model = load_checkpoint(student)
    masks = torch.zeros(1, 16, 16, dtype=torch.uint8)
    photo = torch.randint(0, 256, (1, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    keep = torch.ones(1, 16, 16, dtype=torch.bool)
    keep[:, 4:12, 4:12] = False
    out = model.generate(masks, init=photo, keep=keep, steps=2)
    assert torch.equal(out[:, :, keep[0]], photo[:, :, keep[0]])  # every kept pixel is the photo's byte
    assert not torch.equal(out[:, :, ~keep[0]], photo[:, :, ~keep[0]])
    with pytest.raises(SettingError, match="resampling jumps need"):
        model.generate(masks, init=photo, keep=keep, resample=2)


def test_distillation_resumes_and_refuses_another_teacher(tiny_checkpoint, tmp_path):
    out = tmp_path / "student"
    distill(tiny_checkpoint, out=out, progress=False, distill_iters=4, max_steps=2)
    assert read_checkpoint(run_paths(out)["last"])["global_step"] == 2
    final = distill(tiny_checkpoint, out=out, progress=False, distill_iters=4, resume=True)
    assert read_checkpoint(final)["global_step"] == 4  # continued, not restarted
    assert load_checkpoint(final).is_student

    other = tmp_path / "other.ckpt"  # another teacher: the same network, other weights
    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    ckpt["state_dict"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    torch.save(ckpt, other)
    with pytest.raises(CheckpointError, match="distilled from another teacher"):
        distill(other, out=out, progress=False, distill_iters=6, resume=True)
    with pytest.raises(CheckpointError, match="is a distilled student"):
        distill(final, out=tmp_path / "again", progress=False)
    with pytest.raises(SettingError, match="keeps its teacher's network"):
        distill(tiny_checkpoint, out=tmp_path / "wider", progress=False, channels=16)


def test_ensure_student_reuses_continues_or_redistils(tiny_checkpoint, tmp_path, capsys):
    teacher = Path(shutil.copy(tiny_checkpoint, tmp_path / "diffusion.ckpt"))
    cfg = {**load_checkpoint(teacher).cfg, "distill_iters": 2}
    path = ensure_student(cfg, teacher, progress=False)  # none yet: distilled, next to the teacher
    assert path == tmp_path / "student" / "diffusion.ckpt" and read_checkpoint(path)["global_step"] == 2
    assert "(2 optimizer steps)" in capsys.readouterr().out
    written = path.stat().st_mtime_ns
    assert ensure_student(cfg, teacher, progress=False) == path and path.stat().st_mtime_ns == written
    assert "reusing the student" in capsys.readouterr().out
    ensure_student({**cfg, "distill_iters": 3}, teacher, progress=False)  # a longer schedule continues this one
    assert read_checkpoint(path)["global_step"] == 3 and "continuing after 2" in capsys.readouterr().out
    written = path.stat().st_mtime_ns
    ensure_student(cfg, teacher, progress=False)  # a student distilled for longer serves a shorter schedule
    assert path.stat().st_mtime_ns == written and "(3 optimizer steps" in capsys.readouterr().out
    ensure_student({**cfg, "distill_lr": 1e-3}, teacher, progress=False)  # other settings: distilled anew
    assert read_checkpoint(path)["global_step"] == 2 and "moved the earlier run" in capsys.readouterr().out
    ckpt = torch.load(teacher, weights_only=True)  # the teacher retrained in place: its student is made again
    ckpt["state_dict"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    torch.save(ckpt, teacher)
    ensure_student({**cfg, "distill_lr": 1e-3}, teacher, progress=False)
    assert "distilling a student" in capsys.readouterr().out


def test_cli_distill(tiny_checkpoint, tmp_path, capsys):
    teacher = shutil.copy(tiny_checkpoint, tmp_path / "diffusion.ckpt")
    assert main(["distill", "--checkpoint", str(teacher), "--steps", "2", "--distill-iters", "2", "--no-progress",
                 "--distill-guidance", "[1.5, 2.5]"]) == 0
    path = tmp_path / "student" / "diffusion.ckpt"  # next to the teacher by default
    assert f"student checkpoint: {path}" in capsys.readouterr().out
    cfg = load_checkpoint(path).cfg
    assert (cfg["steps"], cfg["distill_guidance"]) == (2, [1.5, 2.5])
    assert main(["distill", "--checkpoint", str(teacher), "--distill-guidance", "[3, 1]"]) == 1
    assert "distill_guidance (--distill-guidance): expected [low, high] with low <= high" in capsys.readouterr().err
    for out in (tmp_path, tmp_path.parent):  # a folder holding the teacher: an earlier run there is never moved
        assert main(["distill", "--checkpoint", str(teacher), "--out", str(out), "--no-progress"]) == 1
        assert f"{out}: holds the teacher" in capsys.readouterr().err
    assert main(["distill", "--checkpoint", str(tmp_path / "missing.ckpt")]) == 1
    assert "missing.ckpt: checkpoint file not found" in capsys.readouterr().err


def test_a_student_series_keeps_each_point_of_one_continued_distillation(tiny_checkpoint, tmp_path):
    from conftest import tiny_cfg

    from semsegdiff.models import student_series

    run = tmp_path / "run"
    run.mkdir()
    teacher = run / "diffusion.ckpt"
    teacher.write_bytes(tiny_checkpoint.read_bytes())
    cfg = tiny_cfg(tmp_path)  # its distillation settings: the quick profile's
    series = student_series(cfg, teacher, [2, 1], root=tmp_path)  # any order: one distillation, continued
    assert [(n, p.name) for n, p, _ in series] == [(1, "steps-1.ckpt"), (2, "steps-2.ckpt")]
    assert [read_checkpoint(p)["global_step"] for _, p, _ in series] == [1, 2]
    minutes = [m for _, _, m in series]
    assert all(np.isfinite(minutes)) and minutes[0] <= minutes[1]  # the distillation's own clock
    kept = [p.stat().st_mtime_ns for _, p, _ in series]
    again = student_series(cfg, teacher, [1, 2], root=tmp_path)  # reused, not distilled again
    assert [p.stat().st_mtime_ns for _, p, _ in again] == kept
