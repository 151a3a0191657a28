"""Warm start (``init``, ``train --init``): a run that begins from a trained checkpoint, new inputs at zero."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from conftest import FIXTURE, tiny_cfg, tiny_flags

from semsegdiff.cli import main
from semsegdiff.errors import CheckpointError, SettingError
from semsegdiff.files import file_fingerprint
from semsegdiff.models import DiffusionModule, load_checkpoint, read_checkpoint, train
from semsegdiff.models.training import matches
from semsegdiff.models.warm_start import warm_start

pytestmark = pytest.mark.gpu  # must also pass on a GPU: runs on CUDA where present (pytest -m gpu)


def _cfg(tmp_path, tiny_checkpoint, **overrides):
    return tiny_cfg(tmp_path, data=str(FIXTURE), batch_size=2, n_preview=2, **overrides)


def test_a_new_edge_channel_starts_silent_so_the_warm_started_model_draws_what_its_checkpoint_drew(tiny_checkpoint,
                                                                                                     tmp_path):
    source = load_checkpoint(tiny_checkpoint)
    module = DiffusionModule(**_cfg(tmp_path, tiny_checkpoint, instance_edges=True))
    new = warm_start(module.model, tiny_checkpoint)
    assert new == ["mask_in.net.0.weight (+1 input channels at zero)"]
    first = module.model.mask_in.net[0].weight
    assert first.shape[1] == source.model.mask_in.net[0].weight.shape[1] + 1 and not first[:, -1].any()
    masks = np.random.default_rng(0).integers(0, 19, (2, 16, 16)).astype(np.uint8)
    ids = np.zeros((2, 16, 16), np.int32)
    ids[:, :, 8:] = 1  # an instance boundary the source model cannot see: the new channel's weights are zero
    module.eval()
    assert torch.equal(module.generate(masks, seed=3, steps=2, instances=ids), source.generate(masks, seed=3, steps=2))


def test_train_init_records_its_weights_and_is_reused_only_for_the_same_ones(tiny_checkpoint, tmp_path, capsys):
    cfg = _cfg(tmp_path, tiny_checkpoint, instance_edges=True, init=str(tiny_checkpoint))
    path = train(cfg, out=tmp_path / "edges", progress=False, max_steps=2)
    assert "starting from the weights of" in capsys.readouterr().out
    hp = read_checkpoint(path)["hyper_parameters"]
    assert hp["init_sha"] == file_fingerprint(tiny_checkpoint) and hp["init"] == str(tiny_checkpoint)
    moved = shutil.copy(tiny_checkpoint, tmp_path / "moved.ckpt")  # the same weights elsewhere: still a match
    assert matches(path, {**cfg, "init": str(moved)})
    other = read_checkpoint(tiny_checkpoint)
    other["state_dict"] = {k: v + 1 for k, v in other["state_dict"].items()}
    torch.save(other, tmp_path / "other.ckpt")
    assert not matches(path, {**cfg, "init": str(tmp_path / "other.ckpt")})
    assert not matches(path, {**cfg, "init": ""}) and not matches(path, {**cfg, "init": str(tmp_path / "gone.ckpt")})


def test_init_that_cannot_start_the_run_is_refused_before_any_work(tiny_checkpoint, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(CheckpointError, match=r"init \(--init\): .*mask_in.net.0.weight is \(8, 19, 3, 3\) there"):
        train(_cfg(tmp_path, tiny_checkpoint, mask_hidden=4, init=str(tiny_checkpoint)), out=out, progress=False)
    with pytest.raises(SettingError, match="prediction_type 'v_prediction', this run has 'epsilon'"):
        train(_cfg(tmp_path, tiny_checkpoint, prediction_type="epsilon", init=str(tiny_checkpoint)), out=out,
              progress=False)
    with pytest.raises(CheckpointError, match="missing.ckpt"):
        train(_cfg(tmp_path, tiny_checkpoint, init=str(tmp_path / "missing.ckpt")), out=out, progress=False)
    assert not out.exists()


def test_cli_train_init(tiny_checkpoint, tmp_path, capsys):
    flags = tiny_flags(tmp_path, data=str(FIXTURE), batch_size=2, n_preview=2, epochs=1)
    assert main(["train", *flags, "--out", str(tmp_path / "run"), "--init", str(tiny_checkpoint),
                 "--instance-edges", "true"]) == 0
    printed = capsys.readouterr().out
    assert "starting from the weights of" in printed and "mask_in.net.0.weight (+1" in printed  # what is new, named
    assert load_checkpoint(tmp_path / "run" / "diffusion.ckpt").cfg["init"] == str(tiny_checkpoint)


def test_ensure_trained_reads_init_under_its_root_once(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    from semsegdiff.models import ensure_trained

    (tmp_path / "project").mkdir()
    shutil.copy(tiny_checkpoint, tmp_path / "project/base.ckpt")
    monkeypatch.chdir(tmp_path)  # a relative root, as the notebooks' "..": init is joined to it once, not twice
    cfg = _cfg(tmp_path, tiny_checkpoint, instance_edges=True, init="base.ckpt", epochs=1)
    path = ensure_trained(cfg, root="project", progress=False, name="edges")
    assert "starting from the weights of project/base.ckpt" in capsys.readouterr().out
    assert ensure_trained(cfg, root="project", progress=False, name="edges") == path  # reused: the same weights
    assert "reusing" in capsys.readouterr().out
