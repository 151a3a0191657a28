"""No lost data: atomic outputs, the overwrite marker, stale temporaries, permissions, caches keyed by fingerprint."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import numpy as np
import pytest
from conftest import tiny_cfg

from semsegdiff.data import ensure_dataset, open_prepared
from semsegdiff.errors import OutputError
from semsegdiff.files import MARKER, atomic_dir, atomic_path, check_output, clean_stale, snapshot
from semsegdiff.models import run_paths, train


def test_outputs_get_the_umask_permissions_not_those_of_temporary_files(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "out") as tmp:
            (tmp / "sub").mkdir()
            (tmp / "sub" / "a.txt").write_text("x")
        with atomic_path(tmp_path / "b.txt") as tmp:
            tmp.write_text("y")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "out") == 0o755 and mode(tmp_path / "out/sub") == 0o755
    assert mode(tmp_path / "out/sub/a.txt") == 0o644 and mode(tmp_path / "b.txt") == 0o644
    assert (tmp_path / "out" / MARKER).is_file()


def test_overwrite_replaces_only_what_semsegdiff_wrote(tmp_path):
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "v1").write_text("1")
    with pytest.raises(OutputError, match="already exists and is not empty"):
        check_output(tmp_path / "out")
    with atomic_dir(tmp_path / "out", overwrite=True) as tmp:
        (tmp / "v2").write_text("2")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [MARKER, "v2"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(OutputError, match="was not written by semsegdiff"):
        with atomic_dir(mine, overwrite=True):
            pass
    assert (mine / "notes.txt").read_text() == "keep"


@pytest.mark.parametrize("out", ["src", "src/inside", "."])
def test_an_output_never_overlaps_an_input(tmp_path, out):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.png").write_bytes(b"x")
    with pytest.raises(OutputError, match="overlaps the input"):
        check_output(tmp_path / out, overwrite=True, inputs=[tmp_path / "src"])


def test_a_failed_block_leaves_nothing_and_a_killed_one_is_cleaned_next_time(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "out") as tmp:
            (tmp / "half").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    # a command killed with SIGKILL cannot clean up: its temporaries carry its (now dead) pid
    code = ("import os, sys; from semsegdiff.files import atomic_dir\n"
            "cm = atomic_dir(sys.argv[1]); tmp = cm.__enter__(); (tmp / 'half').write_text('x'); os._exit(9)")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], check=False)
    stale = [p.name for p in tmp_path.iterdir()]
    assert len(stale) == 1 and stale[0].startswith(".out.") and stale[0].endswith(".tmp")
    live = tmp_path / f".x.{os.getpid()}-abc.tmp"  # this process is alive: its temporaries stay
    live.mkdir()
    clean_stale(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [live.name]


def test_training_again_moves_the_earlier_run_aside(tmp_path):
    cfg = tiny_cfg(tmp_path, epochs=1, preview_every=5)
    out = tmp_path / "run"
    first = train(cfg, out=out, progress=False, max_steps=1)
    first_bytes = first.read_bytes()
    train(cfg, out=out, progress=False, max_steps=2)
    [previous] = list(run_paths(out)["previous"].iterdir())
    assert (previous / "diffusion.ckpt").read_bytes() == first_bytes  # never deleted
    assert (previous / "diffusion" / "metrics.csv").is_file()
    assert (out / "diffusion.ckpt").is_file() and (out / "diffusion" / "metrics.csv").is_file()


def test_prepared_cache_follows_its_raw_dataset_and_split_settings(tmp_path, reference_dir):
    kw = dict(size=16, cache="cache", root=tmp_path, progress=False)
    a = ensure_dataset(reference_dir, val_fraction=0.25, seed=0, **kw)
    assert ensure_dataset(reference_dir, val_fraction=0.25, seed=0, **kw).root == a.root  # reused
    b = ensure_dataset(reference_dir, val_fraction=0.5, seed=0, **kw)  # another split: another cache
    assert b.root != a.root and b.meta["splits"]["val"]["images"] == 2 and a.meta["splits"]["val"]["images"] == 1
    c = ensure_dataset(reference_dir, val_fraction=0.25, seed=1, **kw)
    assert c.root != a.root and c.meta["splits"]["val"]["names"] != a.meta["splits"]["val"]["names"]
    # the raw data changes: one mask repainted (same size, newer mtime) -> prepared again
    mask = sorted((reference_dir / "masks").iterdir())[0]
    data = mask.read_bytes()
    mask.write_bytes(data)
    os.utime(mask, ns=(mask.stat().st_atime_ns, mask.stat().st_mtime_ns + 10**9))
    d = ensure_dataset(reference_dir, val_fraction=0.25, seed=0, **kw)
    assert d.root != a.root and d.meta["fingerprint"] != a.meta["fingerprint"]
    assert np.array_equal(open_prepared(d.root).masks("train"), open_prepared(a.root).masks("train"))


@pytest.mark.parametrize("links", [True, False])
def test_a_snapshot_keeps_the_bytes_it_was_taken_of(tmp_path, monkeypatch, links):
    """A student's steps-N.ckpt: a hard link (no second copy on disk), or a copy where links fail; the source
    replaced afterwards (as every output is, by rename) leaves the snapshot as it was."""
    if not links:
        monkeypatch.setattr("semsegdiff.files.os.link", lambda *a: (_ for _ in ()).throw(OSError("no links")))
    src = tmp_path / "diffusion.ckpt"
    src.write_bytes(b"first")
    kept = snapshot(src, tmp_path / "steps-1.ckpt")
    assert (kept.stat().st_ino == src.stat().st_ino) is links
    with atomic_path(src) as tmp:
        tmp.write_bytes(b"second")
    assert kept.read_bytes() == b"first" and src.read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["diffusion.ckpt", "steps-1.ckpt"]
