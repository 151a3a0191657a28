"""The precision setting: resolved by evidence (native bf16 or not), the same in training, sampling and scoring."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import FIXTURE, tiny_cfg, tiny_flags

from semsegdiff import precision
from semsegdiff.cli import main
from semsegdiff.config import check_setting
from semsegdiff.runtime import print_header

pytestmark = pytest.mark.gpu  # must also pass on a GPU: runs on CUDA where present (pytest -m gpu)


@pytest.fixture
def cpu_bf16(monkeypatch):
    """Pretend this CPU does (True) or does not (False) compute bf16 natively."""
    def set_native(native: bool) -> None:
        monkeypatch.setattr(precision, "native_cpu_bf16", lambda: native)
        precision._warn_emulated.cache_clear()
    return set_native


def test_auto_is_bf16_only_where_it_is_native(cpu_bf16):
    cpu_bf16(True)
    assert precision.lightning_precision("auto", "cpu") == "bf16-mixed"
    assert precision.lightning_precision("32", "cpu") == "32-true"
    cpu_bf16(False)
    assert precision.lightning_precision("auto", "cpu") == "32-true"  # emulated bf16 is slower: never chosen
    with pytest.warns(UserWarning, match="no native bf16 .* running in 32 \\(fp32\\) instead"):
        assert precision.lightning_precision("bf16-mixed", "cpu") == "32-true"


def test_an_unknown_precision_names_the_allowed_values(capsys):
    with pytest.raises(Exception, match=r"precision \(--precision\): 'fp16' is not one of auto, 32, bf16-mixed"):
        check_setting("precision", "fp16")
    assert main(["train", "--precision", "fp16", "--no-progress"]) == 1
    assert "'fp16' is not one of auto, 32, bf16-mixed" in capsys.readouterr().err


def test_the_header_says_what_auto_became(cpu_bf16, capsys):
    cpu_bf16(True)
    print_header({"precision": "auto"})
    out = capsys.readouterr().out
    device_says = "bf16-mixed (auto" if not torch.cuda.is_available() else "precision: bf16-mixed"
    assert device_says in out and "precision: auto" not in out


@pytest.mark.parametrize("setting", ["32", "bf16-mixed"])
def test_training_sampling_and_scoring_in_each_precision(tmp_path, setting, cpu_bf16):
    from semsegdiff.eval import load_segmenter, train_segmenter
    from semsegdiff.models import load_checkpoint, read_checkpoint, run_paths

    cpu_bf16(True)  # bf16 runs on any CPU when asked (emulated ones are only slower); here: as if native
    out = tmp_path / "run"
    flags = tiny_flags(tmp_path, data=str(FIXTURE), batch_size=2, epochs=1)
    assert main(["train", "--out", str(out), "--no-progress", "--precision", setting, *flags]) == 0
    ckpt = read_checkpoint(out / "diffusion.ckpt")
    assert ckpt["hyper_parameters"]["precision"] == setting and ckpt["global_step"] > 0
    other = "32" if setting != "32" else "bf16-mixed"  # a run setting: a resume may change it
    assert main(["train", "--out", str(out), "--no-progress", "--resume", "--precision", other,
                 *tiny_flags(tmp_path, data=str(FIXTURE), batch_size=2, epochs=2)]) == 0
    assert read_checkpoint(run_paths(out)["checkpoint"])["hyper_parameters"]["precision"] == other
    model = load_checkpoint(out / "diffusion.ckpt", precision=setting)
    masks = np.zeros((2, 16, 16), np.uint8)
    images = model.generate(masks, steps=2, seed=0)
    assert images.dtype == torch.uint8 and images.shape == (2, 3, 16, 16)
    seg = train_segmenter(tiny_cfg(tmp_path, precision=setting, judge_batch_size=2),
                          (np.zeros((4, 32, 32, 3), np.uint8), np.zeros((4, 32, 32), np.uint8)), None, tmp_path / "seg",
                          progress=False, steps=1)
    judge = load_segmenter(seg, precision=setting)
    blank = np.zeros((2, 32, 32, 3), np.uint8)
    ids, features = judge.predict_ids(blank), judge.features(blank)
    assert ids.dtype == torch.uint8 and ids.shape == (2, 32, 32) and features.dtype == torch.float32


def test_sampling_in_bf16_stays_close_to_fp32(tiny_checkpoint, cpu_bf16):
    from semsegdiff.models import load_checkpoint

    cpu_bf16(True)
    masks = np.zeros((3, 16, 16), np.uint8)
    masks[:, 8:] = 13
    fp32 = load_checkpoint(tiny_checkpoint, precision="32").generate(masks, steps=2, seed=0).float()
    bf16 = load_checkpoint(tiny_checkpoint, precision="bf16-mixed").generate(masks, steps=2, seed=0).float()
    assert (fp32 - bf16).abs().mean() < 2.0  # a few grey levels at most: the same images
