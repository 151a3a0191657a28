"""Hostile-but-fair input to every command: one clean line naming the file or flag, no traceback, no lost data.

Each row of ``BAD`` is (arguments built from a workspace, expected exit status, text the
error line must contain). The workspace holds datasets, masks, checkpoints and an earlier
training run; after every command each of its files must still be there, unchanged.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FIXTURE
from torchvision.io import encode_png

from semsegdiff.cli import main

pytestmark = pytest.mark.gpu  # must also pass on a GPU: runs on CUDA where present (pytest -m gpu)


def _png(path: Path, array: np.ndarray) -> None:
    t = torch.from_numpy(np.ascontiguousarray(array))
    path.write_bytes(encode_png(t[None] if t.ndim == 2 else t.permute(2, 0, 1)).numpy().tobytes())


@pytest.fixture(scope="module")
def template(tmp_path_factory, tiny_checkpoint) -> Path:
    """The inputs every row may use (copied afresh for each row)."""
    ws = tmp_path_factory.mktemp("template")
    shutil.copytree(FIXTURE, ws / "ref")
    masks = np.zeros((16, 16), np.uint8)
    masks[8:] = 13
    (ws / "masks").mkdir()
    for i in range(2):
        _png(ws / "masks" / f"m{i}.png", masks)
    (ws / "masks32").mkdir()
    _png(ws / "masks32" / "big.png", np.zeros((32, 32), np.uint8))
    (ws / "masks_bad_id").mkdir()
    _png(ws / "masks_bad_id" / "m.png", np.full((16, 16), 40, np.uint8))
    (ws / "masks_twins").mkdir()
    _png(ws / "masks_twins" / "road.png", masks)
    _png(ws / "masks_twins" / "Road.PNG", masks)
    shutil.copy(tiny_checkpoint, ws / "model.ckpt")
    (ws / "empty.ckpt").write_bytes(b"")
    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    ckpt["hyper_parameters"]["channels"] = "wide"  # edited by hand
    torch.save(ckpt, ws / "edited.ckpt")
    run = ws / "run" / "diffusion" / "checkpoints"
    run.mkdir(parents=True)
    shutil.copy(tiny_checkpoint, run / "last.ckpt")
    (ws / "run" / "diffusion" / "metrics.csv").write_text("epoch,step,train_loss_step\n0,0,0.5\n")
    (ws / "empty_last" / "diffusion" / "checkpoints").mkdir(parents=True)
    (ws / "empty_last" / "diffusion" / "checkpoints" / "last.ckpt").write_bytes(b"")
    (ws / "file.txt").write_text("a file, not a folder")
    _png(ws / "photo.png", np.zeros((16, 16, 3), np.uint8))
    (ws / "userdir").mkdir()
    (ws / "userdir" / "thesis.tex").write_text("precious")
    (ws / "badcache").mkdir()
    (ws / "badcache" / "meta.json").write_text('{"size": "big"}')
    np.save(ws / "badcache" / "train_masks.npy", np.zeros((1, 4, 4), np.uint8))
    for name, edit in {"ref_twins": "twins", "ref_mismatch": "mismatch", "ref_colour": "colour",
                       "ref_cmap": "cmap", "ref_valonly": "valonly"}.items():
        _broken_reference(ws / "ref", ws / name, edit)
    return ws


def _broken_reference(src: Path, dst: Path, edit: str) -> None:
    """A copy of the reference layout with one fault."""
    shutil.copytree(src, dst)
    images, masks = sorted((dst / "images").iterdir()), sorted((dst / "masks").iterdir())
    if edit == "twins":  # a.jpg and a.png: which one is the image of a.png?
        shutil.copy(images[0], images[0].with_suffix(".JPEG"))
    elif edit == "mismatch":
        _png(masks[0], np.zeros((64, 64, 3), np.uint8) + np.array([7, 8, 9], np.uint8))
    elif edit == "colour":
        rgb = np.zeros((128, 128, 3), np.uint8) + np.array([7, 8, 9], np.uint8)
        rgb[5, 7] = (1, 2, 3)
        _png(masks[0], rgb)
    elif edit == "cmap":
        (dst / "colormap.json").write_text('{"road": [128, 64]}')
    elif edit == "valonly":
        (dst / "val").mkdir()
        for sub in ("images", "masks"):
            shutil.move(dst / sub, dst / "val" / sub)


W = "{ws}"  # placeholder for the workspace path in the rows below (commands run in the workspace)
NB = "{nb}"  # the repository's notebooks folder
TINY_DATA = ["--size", "16", "--channel-mult", "[1,2]", "--n-synthetic", "24", "--cache", f"{W}/cache"]
BAD = [
    # synth
    (["synth", f"{W}/s", "--n", "-1"], 1, "--n-synthetic"),
    (["synth", f"{W}/s", "--size", "3"], 1, "--size"),
    (["synth", f"{W}/s", "--size", "100000"], 1, "--size"),
    (["synth", f"{W}/s", "--val-fraction", "1.5"], 1, "--val-fraction"),
    (["synth", f"{W}/s", "--seed", "abc"], 1, "--seed"),
    (["synth", f"{W}/file.txt"], 1, "file.txt: is a file"),
    (["synth", f"{W}/file.txt/sub"], 1, "file.txt is a file"),
    (["synth", f"{W}/userdir", "--n", "4", "--size", "16"], 1, "userdir: already exists"),
    (["synth", f"{W}/userdir", "--n", "4", "--size", "16", "--overwrite"], 1, "was not written by semsegdiff"),
    # prepare
    (["prepare", f"{W}/missing", f"{W}/c"], 1, "missing: dataset folder does not exist"),
    (["prepare", f"{W}/ref", f"{W}/ref", "--overwrite"], 1, "overlaps the input"),
    (["prepare", f"{W}/ref", f"{W}/ref/cache"], 1, "overlaps the input"),
    (["prepare", f"{W}/ref", f"{W}", "--overwrite"], 1, "overlaps the input"),
    (["prepare", f"{W}/ref", f"{W}/c", "--size", "0"], 1, "--size"),
    (["prepare", f"{W}/ref", f"{W}/c", "--workers", "0"], 1, "--workers"),
    (["prepare", f"{W}/ref", f"{W}/c", "--val-fraction", "-0.1"], 1, "--val-fraction"),
    (["prepare", f"{W}/ref_cmap", f"{W}/c"], 1, "colormap.json: colour of 'road'"),
    (["prepare", f"{W}/ref_twins", f"{W}/c"], 1, "map to the same name"),
    (["prepare", f"{W}/ref_mismatch", f"{W}/c", "--size", "16"], 1, "but its mask"),
    (["prepare", f"{W}/ref_colour", f"{W}/c", "--size", "16"], 1, "at pixel (x=7, y=5)"),
    (["prepare", f"{W}/ref_valonly", f"{W}/c"], 1, "has no train split"),
    # info
    (["info", f"{W}/missing"], 1, "missing: dataset folder does not exist"),
    (["info", f"{W}/file.txt"], 1, "file.txt: not a folder"),
    (["info", f"{W}/badcache"], 1, "meta.json: not the meta.json of a prepared cache"),
    # train
    (["train", "--lr", "5e-4x"], 1, "lr (--lr): '5e-4x' is not a number"),
    (["train", "--channel-mult", "[1,2"], 1, "--channel-mult"),
    (["train", "--epochs", "0"], 1, "--epochs"),
    (["train", "--batch-size", "-4"], 1, "--batch-size"),
    (["train", "--p-uncond", "1.5"], 1, "--p-uncond"),
    (["train", "--guidance", "nan"], 1, "--guidance"),
    (["train", "--injection", "concat"], 1, "--injection"),
    (["train", "--sampler", "euler"], 1, "--sampler"),
    (["train", "--sampler", "lcm", *TINY_DATA], 1, "lcm samples a distilled student"),
    # distill
    (["distill", "--checkpoint", f"{W}/missing.ckpt"], 1, "missing.ckpt: checkpoint file not found"),
    (["distill", "--checkpoint", f"{W}/empty.ckpt"], 1, "the file is empty"),
    (["distill", "--checkpoint", f"{W}/model.ckpt", "--distill-grid", "7"], 1, "must divide the teacher's"),
    (["distill", "--checkpoint", f"{W}/model.ckpt", "--distill-iters", "0"], 1, "--distill-iters"),
    (["distill", "--checkpoint", f"{W}/model.ckpt", "--distill-guidance", "[2]"], 1, "--distill-guidance"),
    (["distill", "--checkpoint", f"{W}/model.ckpt", "--out", f"{W}/file.txt"], 1, "file.txt: is a file"),
    (["distill", "--checkpoint", f"{W}/model.ckpt", "--steps", "0"], 1, "--steps"),
    (["train", "--devices", "0"], 1, "--devices"),
    (["train", "--size", "30"], 1, "must be a multiple of 4"),
    (["train", "--attn-levels", "5"], 1, "--attn-levels"),
    (["train", "--profile", "nope"], 2, "--profile"),
    (["train", "--bogus", "1"], 2, "--bogus"),
    (["train", "--out", f"{W}/run", "--data", f"{W}/dataa", *TINY_DATA], 1, "dataa: dataset folder does not exist"),
    (["train", "--out", f"{W}/file.txt", *TINY_DATA], 1, "file.txt: is a file"),
    (["train", "--out", f"{W}/ref/run", "--data", f"{W}/ref", *TINY_DATA], 1, "overlaps the dataset"),
    (["train", "--out", f"{W}/empty_last", "--resume", *TINY_DATA], 1, "last.ckpt: not a checkpoint: the file is empty"),
    (["train", "--out", f"{W}/run", "--resume", *TINY_DATA, "--channels", "16"], 1, "channels: checkpoint 8, now 16"),
    # generate
    (["generate", "--checkpoint", f"{W}/missing.ckpt", "--masks", f"{W}/masks", "--out", f"{W}/g"], 1,
     "missing.ckpt: checkpoint file not found"),
    (["generate", "--checkpoint", f"{W}/empty.ckpt", "--masks", f"{W}/masks", "--out", f"{W}/g"], 1,
     "empty.ckpt: not a checkpoint: the file is empty"),
    (["generate", "--checkpoint", f"{W}/edited.ckpt", "--masks", f"{W}/masks", "--out", f"{W}/g"], 1,
     "edited.ckpt: the settings stored in the checkpoint are invalid: channels"),
    (["generate", "--checkpoint", f"{W}/model.ckpt", "--masks", f"{W}/nomasks", "--out", f"{W}/g"], 1,
     "nomasks: mask folder not found"),
    (["generate", "--checkpoint", f"{W}/model.ckpt", "--masks", f"{W}/masks", "--out", f"{W}/g", "--steps", "0"], 1,
     "--steps"),
    (["generate", "--checkpoint", f"{W}/model.ckpt", "--masks", f"{W}/masks", "--out", f"{W}/g", "--guidance",
      "inf"], 1, "--guidance"),
    (["generate", "--checkpoint", f"{W}/model.ckpt", "--masks", f"{W}/masks", "--out", f"{W}/g", "--per-mask", "0"],
     1, "--per-mask"),
    (["generate", "--checkpoint", f"{W}/model.ckpt", "--masks", f"{W}/masks", "--out", f"{W}/masks/g"], 1,
     "overlaps the input"),
    (["generate", "--checkpoint", f"{W}/model.ckpt", "--masks", f"{W}/masks", "--out", f"{W}/userdir",
      "--overwrite"], 1, "was not written by semsegdiff"),
    (["generate", "--checkpoint", f"{W}/model.ckpt", "--masks", f"{W}/masks32", "--out", f"{W}/g"], 1,
     "pass --resize"),
    (["generate", "--checkpoint", f"{W}/model.ckpt", "--masks", f"{W}/masks_bad_id", "--out", f"{W}/g"], 1,
     "m.png: class id 40 at pixel (x=0, y=0)"),
    (["generate", "--checkpoint", f"{W}/model.ckpt", "--masks", f"{W}/masks_twins", "--out", f"{W}/g"], 1,
     "map to the same name"),
    # edit, evaluate, ablate
    (["edit", "--checkpoint", f"{W}/model.ckpt", "--image", f"{W}/ref_mismatch/images/x.jpg", "--mask",
      f"{W}/masks/m0.png", "--edited-mask", f"{W}/masks/m1.png", "--out", f"{W}/e"], 1, "x.jpg: cannot read file"),
    (["edit", "--checkpoint", f"{W}/model.ckpt", "--image", f"{W}/photo.png", "--mask", f"{W}/masks/m0.png",
      "--edited-mask", f"{W}/masks/m1.png", "--out", f"{W}/e"], 1, "is the same as"),
    (["edit", "--checkpoint", f"{W}/model.ckpt", "--image", f"{W}/photo.png", "--mask", f"{W}/masks32/big.png",
      "--edited-mask", f"{W}/masks/m1.png", "--out", f"{W}/e"], 1, "big.png: the mask is 32x32 but the image"),
    (["edit", "--checkpoint", f"{W}/model.ckpt", "--image", f"{W}/photo.png", "--mask", f"{W}/masks/m0.png",
      "--edited-mask", f"{W}/masks/m1.png", "--out", f"{W}/e", "--dilate", "-1"], 1, "--dilate"),
    (["evaluate", "--checkpoint", f"{W}/missing.ckpt"], 1, "missing.ckpt: checkpoint file not found"),
    (["evaluate", "--checkpoint", f"{W}/model.ckpt", "--judge", f"{W}/empty.ckpt"], 1,
     "empty.ckpt: not a judge checkpoint: the file is empty"),
    (["evaluate", "--checkpoint", f"{W}/model.ckpt", "--masks", "1"], 1, "--eval-masks"),
    (["ablate", "--checkpoint", f"{W}/model.ckpt", "--ablate-arms", "[real, magic]"], 1, "'magic' is not one of"),
    (["ablate", "--checkpoint", f"{W}/model.ckpt", "--ablate-n", "[0]"], 1, "--ablate-n"),
    (["ablate", "--checkpoint", f"{W}/empty.ckpt"], 1, "empty.ckpt: not a checkpoint: the file is empty"),
    (["ablate", "--checkpoint", f"{W}/model.ckpt", "--out", f"{W}/userdir"], 1,
     "userdir: was not written by semsegdiff (no .semsegdiff marker; it holds thesis.tex), so an ablation study"),
    (["ablate", "--checkpoint", f"{W}/model.ckpt", "--out", f"{W}/userdir", "--overwrite"], 1,
     "userdir: was not written by semsegdiff"),
    (["ablate", "--checkpoint", f"{W}/model.ckpt", "--out", f"{W}/file.txt"], 1, "file.txt: is a file"),
    (["ablate", "--checkpoint", f"{W}/model.ckpt", "--out", f"{W}"], 1, "overlaps the input"),
    # notebooks
    (["notebooks", "run", "--notebooks", NB, "-p", "nosuch=1"], 1, "unknown notebook parameter nosuch"),
    (["notebooks", "run", "--notebooks", NB, "-p", "overrides={lr: abc}"], 1, "lr (--lr): 'abc' is not a number"),
    (["notebooks", "run", "--notebooks", NB, "-p", "overrides=[1, 2]"], 1, "overrides"),
    (["notebooks", "run", "--notebooks", NB, "-p", "epochs=0"], 1, "--epochs"),
    (["notebooks", "run", "--notebooks", NB, "-p", "overrides={lr: 5e-4"], 1, "-p overrides"),
    (["notebooks", "run", "--notebooks", NB, "-p", "size"], 1, "-p expects key=value"),
    (["notebooks", "run", "--notebooks", NB, "--only", "zzz"], 1, "no notebook matches"),
    (["notebooks", "run", "--notebooks", NB, "--out", NB], 1, "inside the notebooks folder"),
    (["notebooks", "run", "--notebooks", f"{W}/userdir"], 1, "userdir: holds no notebooks (*.ipynb), so there are no notebooks to run; pass --notebooks"),
]
if not torch.cuda.is_available():
    BAD += [
        (["train", "--accelerator", "cuda"], 1, "--accelerator cuda: no CUDA GPU"),
        (["generate", "--checkpoint", f"{W}/model.ckpt", "--masks", f"{W}/masks", "--out", f"{W}/g", "--device",
          "cuda"], 1, "--device cuda: no CUDA GPU"),
    ]


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*")
            if p.is_file()}


def test_the_table_covers_every_command():
    assert len(BAD) >= 40
    assert {row[0][0] for row in BAD} == {"synth", "prepare", "info", "train", "distill", "generate", "edit", "evaluate", "ablate",
                                         "notebooks"}


@pytest.mark.parametrize("args,status,expected", BAD, ids=[" ".join(r[0])[:60] for r in BAD])
def test_bad_input_gives_one_clean_line(args, status, expected, template, tmp_path, capsys, monkeypatch):
    ws = Path(shutil.copytree(template, tmp_path / "ws"))
    monkeypatch.chdir(ws)  # default outputs (runs/, data/) would land in the workspace, never in the repository
    before = _snapshot(ws)
    notebooks = str(Path(__file__).resolve().parent.parent / "notebooks")
    code = main([a.replace(W, str(ws)).replace(NB, notebooks) for a in args])
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == status, err
    assert "Traceback" not in err
    assert lines and lines[-1].startswith("semsegdiff") and "error:" in lines[-1], err
    assert expected in lines[-1], lines[-1]
    after = _snapshot(ws)
    assert {k: after.get(k) for k in before} == before  # every input file still there, unchanged
    assert not [p for p in ws.rglob("*.tmp")], "a temporary file was left behind"
