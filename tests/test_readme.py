"""The README and the docs/ pages work: their Python blocks run, their command lines parse and pass the settings'
rules, and every link reaches a file (and a heading) that exists."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch
from conftest import TINY, tiny_cfg

from semsegdiff.cli import TRAIN_KEYS, _settings, parser
from semsegdiff.config import QUICK, get_profile
from semsegdiff.notebooks import check_parameters, find_notebooks

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README = PAGES[0].read_text()


def blocks(language: str, text: str = README) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def command_lines(pages: list[Path] = PAGES) -> list[list[str]]:
    """Every ``semsegdiff ...`` command in the pages' bash blocks, as argument lists."""
    out = []
    for page in pages:
        for block in blocks("bash", page.read_text()):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                starts = [i for i, w in enumerate(words)
                          if w.endswith("bin/semsegdiff") or w in ("semsegdiff", "semsegdiff.cli")]
                if starts:
                    out.append(words[starts[0] + 1:])
    return out


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def links(page: Path) -> list[tuple[str, str]]:
    """(target, anchor) of every relative link of ``page``, code blocks and inline code left out."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    out = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not re.match(r"[a-z]+://|mailto:", target):
            path, _, anchor = target.partition("#")
            out.append((path, anchor))
    return out


def test_the_readme_has_examples_and_stays_short():
    commands = {c[0] for c in command_lines([PAGES[0]])}
    assert {"synth", "prepare", "train", "generate", "notebooks"} <= commands
    assert len(blocks("python")) >= 1 and len(README.splitlines()) <= 320  # depth goes to docs/


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_reaches_a_file_and_a_heading(page):
    for path, anchor in links(page):
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), f"{page.name}: link to a missing file {path}"
        if anchor and target.suffix == ".md":
            headings = {slug(h) for h in re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", target.read_text(),
                                                                                flags=re.S), flags=re.M)}
            assert anchor in headings, f"{page.name}: no heading #{anchor} in {path or page.name}"


@pytest.mark.parametrize("args", command_lines(), ids=lambda a: " ".join(a)[:70])
def test_command_lines_are_valid(args):
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
def test_python_blocks_run(tmp_path, monkeypatch):
    """Each page's blocks run in order in a fresh folder where a tiny quick-sized model stands in for runs/quick."""
    from semsegdiff.models import train

    monkeypatch.chdir(tmp_path)
    cfg = tiny_cfg(tmp_path, size=QUICK["size"], n_synthetic=24, steps=QUICK["steps"])
    train(cfg, out="runs/quick", progress=False, max_steps=1)
    tiny_unet = {k: TINY[k] for k in ("channels", "channel_mult", "emb_dim", "mask_hidden")}
    upscaler = get_profile("quick-upscaler", **tiny_unet, n_synthetic=24, cache=cfg["cache"], size=2 * QUICK["size"])
    train(upscaler, out="runs/quick-upscaler", progress=False, max_steps=1)  # docs/cascade.md's second stage
    scopes = {}
    for page in PAGES:
        scope: dict = {}
        for code in blocks("python", page.read_text()):
            exec(compile(code, page.name, "exec"), scope)  # noqa: S102 - the documentation's own examples
        scopes[page.name] = scope
    readme = scopes["README.md"]
    assert readme["images"].shape == (4, 3, QUICK["size"], QUICK["size"]) and readme["images"].dtype == torch.uint8
    assert readme["x"].min() >= -1 and readme["x"].max() <= 1 and readme["trajectory"].shape[1] == 6
    assert readme["night"].shape == readme["images"].shape and len(scopes) == len(PAGES)
    cascade = scopes["cascade.md"]
    assert cascade["images"].shape == (2, 3, 64, 64) and cascade["base_images"].shape == (2, 3, 32, 32)
    assert cascade["photo"].shape == (2, 3, 64, 64)
