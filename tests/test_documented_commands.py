"""Every ``semsegdiff`` command line of the README and docs/ runs end to end here, at tiny sizes, and is judged by what
it wrote: the documentation's commands are the ones a new user types first (issue 36).

Each line runs as written, through :func:`semsegdiff.cli.main`, in a sandbox folder laid out as the docs assume
(``data/bdd100k``, ``my_masks/``, ``photo.png``, and the ``runs/`` earlier lines make), with these changes:

- tiny sizes appended where the line does not set them (:data:`TINY`: a 16 px U-Net of 8 channels, one optimizer
  step, 2 sampling steps, a 1-epoch judge, 1-step segmenters on the low regime);
- :data:`REPLACE`: ``--devices N`` runs on one CPU process, ``--num-nodes N`` on one machine (several processes:
  ``test_ddp_two_processes_on_cpu``, ``test_ablate_on_two_devices_from_the_command_line_makes_the_sets_of_one``),
  and counts above what the tiny data holds are lowered (``synth --n``, ``evaluate --masks``);
- ``notebooks run --profile paper`` runs notebook 01 with tiny parameters (``--only 01``) on the BDD100K-layout
  folder; what every line gives the notebooks it names (parameters, overrides) is resolved here, and each notebook
  runs with tiny parameters on the quick profile in ``test_notebooks.py``.

A documented line that no chain below knows fails :func:`test_every_documented_line_is_run`: add it to a chain.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_readme import PAGES, blocks

from semsegdiff.cli import main
from semsegdiff.data import is_prepared, open_dataset, open_prepared
from semsegdiff.models import load_checkpoint

pytestmark = pytest.mark.slow

TINY = {  # flag -> value, appended to a line of that command that does not give the flag
    "model": {"--size": "16", "--n-synthetic": "64", "--channels": "8", "--channel-mult": "[1, 2]", "--emb-dim": "32",
              "--mask-hidden": "8", "--attn-levels": "1", "--num-res-blocks": "1", "--batch-size": "8",
              "--n-preview": "2", "--steps": "2", "--num-workers": "0", "--max-steps": "1", "--ckpt-every": "1"},
    "distill": {"--distill-iters": "1", "--batch-size": "4", "--max-steps": "1", "--distill-grid": "10"},
    "evaluate": {"--masks": "4", "--per-mask": "1", "--judge-epochs": "1", "--judge-batch-size": "8"},
    "enrich": {"--n": "1x", "--ablate-steps": "2"},
    "ablate": {"--ablate-steps": "1", "--ablate-seeds": "1", "--ablate-gen-seeds": "1", "--ablate-n": "[0.5]",
               "--ablate-regimes": "[low]", "--ablate-low-fraction": "0.5", "--steps": "2", "--filter-thresholds":
               "[1.25]", "--ablate-arch": "unet_resnet18"},
}
REPLACE = {  # command -> flag -> the value it runs with here (one process on one machine; counts the tiny data has)
    "*": {"--devices": "1", "--num-nodes": "1"}, "synth": {"--n": "24"}, "evaluate": {"--masks": "8"},
    "enrich": {"--n": "16"},
    "ablate": {"--ablate-steps": "1", "--ablate-n": "[0.5]"},
}
QUIET = ("train", "distill", "generate", "evaluate", "ablate", "enrich")  # commands with --no-progress


def documented() -> list[tuple[str, list[str]]]:
    """(page, argv) of every semsegdiff command line in the pages' bash blocks, continuation lines joined."""
    out = []
    for page in PAGES:
        for block in blocks("bash", page.read_text()):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                starts = [i for i, w in enumerate(words) if w.endswith("bin/semsegdiff") or w == "semsegdiff"]
                if starts:
                    out.append((page.name, words[starts[0] + 1:]))
    return out


def chain_of(argv: list[str]) -> str:
    """Which sandbox a line runs in: data (synth, prepare, info), quick and paper (a model and what uses it),
    notebooks."""
    if argv[0] in ("synth", "prepare", "info"):
        return "data"
    if argv[0] == "notebooks":
        return "notebooks"
    text = " ".join(argv)
    return "paper" if "--profile paper" in text or "runs/paper" in text else "quick"


def tiny(argv: list[str], sandbox: Path) -> list[str]:
    """The line as it runs here: :data:`REPLACE`'s values, :data:`TINY`'s flags appended, $PWD the sandbox."""
    argv = [a.replace("$PWD", str(sandbox)) for a in argv]
    for flag, value in {**REPLACE["*"], **REPLACE.get(argv[0], {})}.items():
        if flag in argv:
            argv[argv.index(flag) + 1] = value
    extra = {"train": TINY["model"], "distill": TINY["distill"], "evaluate": TINY["evaluate"],
             "ablate": TINY["ablate"], "enrich": TINY["enrich"]}.get(argv[0], {})
    if argv[0] == "train" and "quick-upscaler" in argv:  # x2 from the tiny base's 16 px
        extra = {**extra, "--size": "32", "--train-crop": "16"}
    argv += [x for flag, value in extra.items() if flag not in argv for x in (flag, value)]
    return argv + (["--no-progress"] if argv[0] in QUIET else [])


def lines(chain: str) -> list[tuple[str, list[str]]]:
    seen, out = set(), []
    for page, argv in documented():
        if chain_of(argv) == chain and " ".join(argv) not in seen:
            seen.add(" ".join(argv))
            out.append((page, argv))
    return sorted(out, key=lambda x: ORDER.index(x[1][0]))  # stable: a page's order within a command


ORDER = ["synth", "prepare", "info", "train", "distill", "generate", "edit", "evaluate", "ablate", "enrich",
         "notebooks"]


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A folder laid out as the docs assume: a tiny BDD100K-layout dataset, masks, a photo and its masks."""
    from semsegdiff import masks as mask_edits
    from semsegdiff.data.synthetic import write_dataset

    monkeypatch.chdir(tmp_path)
    root = write_dataset(tmp_path / "data/bdd100k", n=64, size=16, seed=3, val_fraction=0.125, progress=False)
    dataset = open_dataset(root)
    (tmp_path / "my_masks").mkdir()
    for s in dataset.splits["val"][:3]:
        (tmp_path / "my_masks" / s.mask.name).write_bytes(s.mask.read_bytes())
    image, mask = dataset.read(dataset.splits["val"][0])
    from PIL import Image

    Image.fromarray(image).save(tmp_path / "photo.png")
    mask_edits.write(tmp_path / "m.png", mask)
    mask_edits.write(tmp_path / "m2.png", mask_edits.rectangle(mask, "car", (9, 3), (13, 8)))
    return tmp_path


def run(argv: list[str], sandbox: Path, capsys) -> str:
    """Run one line; its standard output (a failure shows the line and what it printed)."""
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, f"semsegdiff {shlex.join(argv)} -> {code}\n{out.out[-2000:]}\n{out.err[-2000:]}"
    return out.out


def check(argv: list[str], out: str, sandbox: Path) -> None:
    """What a line must have written, by command."""
    flag = lambda f, default=None: argv[argv.index(f) + 1] if f in argv else default  # noqa: E731
    command, run_dir = argv[0], sandbox / (flag("--out") or f"runs/{flag('--profile', 'quick')}")
    if command == "synth":
        ds = open_dataset(sandbox / argv[1])
        assert sum(len(s) for s in ds.splits.values()) == 24 and ds.instances == "bdd100k"
    elif command == "prepare":
        prepared = open_prepared(sandbox / argv[2])
        assert is_prepared(sandbox / argv[2]) and prepared.size == json.loads(json.dumps(prepared.meta["size"]))
        assert "prepared bdd100k dataset" in out and "(height x width)" in out
    elif command == "info":
        assert "prepared cache of a bdd100k dataset" in out and "road" in out
    elif command == "train":
        model = load_checkpoint(run_dir / "diffusion.ckpt")
        assert model.cfg["profile"] == flag("--profile", "quick") and "checkpoint: " in out
        assert model.cfg["attributes"] == (flag("--attributes", "true") == "true"
                                           if model.cfg["profile"] in ("quick", "quick-upscaler") else False)
    elif command == "distill":
        student = load_checkpoint(sandbox / flag("--checkpoint")).is_student or \
            load_checkpoint(Path(flag("--checkpoint")).parent / "student/diffusion.ckpt").is_student
        assert student and "student checkpoint:" in out
    elif command in ("generate", "edit"):
        folder = sandbox / flag("--out")
        if command == "edit":
            assert {p.name for p in folder.iterdir()} >= {"image.png", "mask.png", "region.png", "manifest.json"}
            return
        manifest = pd.read_csv(folder / "manifest.csv", keep_default_na=False)
        per_mask = int(flag("--per-mask", 1))
        assert len(manifest) == 3 * per_mask and all((folder / n).is_file() for n in manifest["image"])
        if "--upscale" in argv:  # the cascade: images at the upscaler's frame
            assert (manifest["upscaler"] == flag("--upscale")).all() and "aug_level" in manifest
        for key in ("time", "weather"):
            assert set(manifest[key]) == {flag(f"--{key}", "")}
    elif command == "evaluate":
        folder = sandbox / (flag("--out") or Path(flag("--checkpoint")).parent / "eval")
        [tables] = [p for p in folder.iterdir() if (p / "table.csv").is_file()]
        assert "consistency" in pd.read_csv(tables / "table.csv").to_string()
    elif command == "ablate":
        study = sandbox / (flag("--out") or Path(flag("--checkpoint")).parent / "ablation")
        if "--generate-only" in argv:
            assert list((study / "low/sets").glob("*/images.npy")) and "generated sets cached" in out
        else:
            runs = pd.read_csv(study / "runs.csv")
            arms = flag("--ablate-arms")
            assert arms is None or set(runs["arm"]) == {a.strip() for a in arms.strip("[]").split(",")}
    elif command == "enrich":
        ds, manifest = open_dataset(sandbox / flag("--out")), pd.read_csv(sandbox / flag("--out") / "enrichment.csv")
        assert {Path(p).stem for p in manifest["image"]} <= {s.name for s in ds.splits["train"]} and len(manifest)
        assert "wrote the enriched dataset" in out
    elif command == "notebooks":
        assert (sandbox / flag("--out", "runs") / flag("--profile", "quick") / "01_class_distribution.ipynb").is_file()


def test_every_documented_line_is_run():
    lines_ = documented()
    assert len(lines_) >= 30  # the docs' commands: if this drops, a page lost its examples
    assert {argv[0] for _, argv in lines_} >= {"synth", "prepare", "info", "train", "distill", "generate", "edit",
                                                "evaluate", "ablate", "enrich", "notebooks"}
    assert all(chain_of(argv) in CHAINS for _, argv in lines_)


CHAINS = ("data", "quick", "paper", "notebooks")


@pytest.mark.parametrize("chain", ["data", "quick", "paper"])
def test_the_documented_commands_run_and_write_what_they_say(chain, sandbox, capsys):
    done = []
    for page, argv in lines(chain):
        argv = tiny(argv, sandbox)
        target = sandbox / argv[argv.index("--out") + 1] if "--out" in argv else None
        if argv[0] in ("generate", "edit") and target.exists():  # an earlier line's folder: kept unless asked
            assert main(argv) == 1 and "already exists and is not empty (pass --overwrite" in capsys.readouterr().err
            argv.append("--overwrite")
        out = run(argv, sandbox, capsys)
        check(argv, out, sandbox)
        done.append(argv[0])
    assert done, f"no documented {chain} commands"


@pytest.mark.notebook
def test_the_documented_notebook_runs(sandbox, capsys):
    """Every line's parameters resolve for the notebooks it names; the lines that run every notebook run 01 here."""
    import yaml

    from semsegdiff.notebooks import check_parameters, find_notebooks

    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    ran = 0
    for page, argv in lines("notebooks"):
        argv = tiny(argv, sandbox)
        only = [argv[i + 1] for i, a in enumerate(argv) if a == "--only"]
        given = {k: yaml.safe_load(v) for k, _, v in (argv[i + 1].partition("=") for i, a in enumerate(argv)
                                                       if a == "-p")}
        profile = argv[argv.index("--profile") + 1] if "--profile" in argv else "quick"
        check_parameters(find_notebooks(notebooks, only or None), {"profile": profile, **given})
        if only or profile == "quick":
            continue  # 02 and 06, and every notebook on the quick profile, run with tiny parameters in test_notebooks
        argv = [*argv, "--notebooks", str(notebooks), "--only", "01", "-p", "n_synthetic=40", "-p", "size=32",
                "-p", "n_examples=4", "--no-progress"]
        out = run(argv, sandbox, capsys)
        check(argv, out, sandbox)
        table = pd.read_csv(sandbox / "figures" / ("" if profile == "quick" else profile) / "01_class_distribution.csv")
        assert np.isfinite(table["pixel_share"]).all() and set(table["split"]) == {"train", "val"}
        ran += 1
    assert ran == 1  # notebooks run --profile paper: notebook 01 on the BDD100K-layout folder
