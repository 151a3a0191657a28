"""The README's examples work: its Python blocks run, its command lines parse and pass the settings' rules."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch
from conftest import tiny_cfg

from semsegdiff.cli import TRAIN_KEYS, _settings, parser
from semsegdiff.config import QUICK, get_profile
from semsegdiff.notebooks import check_parameters, find_notebooks

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def command_lines() -> list[list[str]]:
    """Every ``semsegdiff ...`` command in the README's bash blocks, as argument lists."""
    out = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            starts = [i for i, w in enumerate(words) if w.endswith("bin/semsegdiff") or w in ("semsegdiff", "semsegdiff.cli")]
            if starts:
                out.append(words[starts[0] + 1:])
    return out


def test_the_readme_has_examples():
    commands = {c[0] for c in command_lines()}
    assert {"synth", "prepare", "train", "generate", "notebooks"} <= commands
    assert len(blocks("python")) >= 2


@pytest.mark.parametrize("args", command_lines(), ids=lambda a: " ".join(a)[:70])
def test_readme_command_lines_are_valid(args):
    a = parser().parse_args(args)  # exits (fails the test) on an unknown flag or a bad choice
    if a.command == "train":
        get_profile(a.profile, **{k: getattr(a, k) for k in TRAIN_KEYS})
    elif a.command == "generate":
        _settings(a, ["sampler", "steps", "guidance", "per_mask", "seed", "batch_size"])
    elif a.command == "notebooks":
        import yaml

        params = {k: yaml.safe_load(v) for k, _, v in (p.partition("=") for p in a.p or [])}
        check_parameters(find_notebooks(ROOT / "notebooks", a.only), {"profile": a.profile, **params})


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path, monkeypatch):
    """The blocks run in order in a fresh folder where a tiny quick-sized model stands in for runs/quick."""
    from semsegdiff.models import train

    monkeypatch.chdir(tmp_path)
    cfg = tiny_cfg(tmp_path, size=QUICK["size"], n_synthetic=24, steps=QUICK["steps"])
    train(cfg, out="runs/quick", progress=False, max_steps=1)
    scope: dict = {}
    for code in blocks("python"):
        exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own examples
    assert scope["images"].shape == (4, 3, QUICK["size"], QUICK["size"]) and scope["images"].dtype == torch.uint8
    assert scope["x"].min() >= -1 and scope["x"].max() <= 1 and scope["trajectory"].shape[1] == 6
