"""Safe file output: atomic writes, folders that appear only when complete, and no lost data.

- Everything is written under a temporary name next to its target, then renamed into place.
- Outputs get the permissions the umask gives (not the 0600/0700 of temporary files).
- Temporary files and folders left by a killed command (their process is gone) are removed
  the next time something is written next to them.
- A folder this tool writes carries a marker file listing the files it wrote, with their size and hash;
  ``overwrite`` replaces only such a folder, only when it holds nothing else and none of those files
  changed since (a user's file, or a user's edit of one of ours, is never deleted),
  and never one that equals, contains or lies inside an input of the same command.
- A folder that several commands fill over time (an ablation study, a training run) is held by one
  process at a time (:func:`hold`, an OS lock released when the process ends, however it ends;
  the other ranks of a DDP run share their rank zero's hold).
- A folder being written by one process is refused to a second (its live temporary folder says so),
  and the final rename looks again: a folder that appeared or changed meanwhile is never replaced.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import OutputError

MARKER = ".semsegdiff"  # written into every output folder: "this tool wrote it, --overwrite may replace it"
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def output_mode(folder: bool = False) -> int:
    """The permissions a new file (or folder) gets under the process's umask."""
    return (0o777 if folder else 0o666) & ~_UMASK
_TMP = re.compile(r"^\..+\.(\d+)-[^.]*\.(tmp|old)(\.[^.]*)?$")  # .<name>.<pid>-<random>.tmp[.ext]


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}-"


def _writers(path: Path) -> list[int]:
    """Live processes other than this one that are writing ``path`` (their temporary folders beside it)."""
    if not path.parent.is_dir():
        return []
    own = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)-[^.]*\.tmp$")
    pids = {int(m.group(1)) for e in path.parent.iterdir() if (m := own.match(e.name))}
    return sorted(pid for pid in pids if pid != os.getpid() and _alive(pid))


def clean_stale(folder: Path) -> None:
    """Remove temporary files/folders in ``folder`` whose writing process no longer exists."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        m = _TMP.match(entry.name)
        if not m or _alive(int(m.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _check_parent(path: Path) -> None:
    """No part of the path above ``path`` is a file, and the nearest existing folder is writable."""
    for p in path.parents:
        if p.exists():
            if not p.is_dir():
                raise OutputError(f"{path}: cannot write here, {p} is a file, not a folder")
            if not os.access(p, os.W_OK | os.X_OK):
                raise OutputError(f"{path}: the folder {p} is not writable")
            return


def _make_parent(path: Path) -> None:
    _check_parent(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{path}: cannot create the folder {path.parent} ({e.strerror or e})") from None
    clean_stale(path.parent)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder, expected a file path")
    _make_parent(path)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, output_mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def snapshot(src: str | os.PathLike, path: str | os.PathLike) -> Path:
    """``path`` atomically made a copy of the file ``src`` as it is now: a hard link where the filesystem allows
    (no second copy on disk; every file here is replaced by rename, never written in place), else a copy."""
    with atomic_path(path) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
    return Path(path)


def require_space(folder: str | os.PathLike, need: int, what: str) -> None:
    """Before long work: an :class:`OutputError` when the disk of ``folder`` (or its nearest existing parent) has less
    than ``need`` bytes free for ``what``, instead of a failure at its first save, hours later."""
    near = next(p for p in (Path(folder).absolute(), *Path(folder).absolute().parents) if p.exists())
    free = shutil.disk_usage(near).free
    if free < need:
        raise OutputError(f"{folder}: {size_text(free)} free on its disk, and {what} needs about {size_text(need)}; "
                          "free some space or choose another output folder")


def size_text(n: float) -> str:
    """Bytes as a person reads them: GB from 0.1 GB up, else MB."""
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def overlaps(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether one of the two paths equals or contains the other (after resolving links)."""
    a, b = Path(a).resolve(), Path(b).resolve()
    return a == b or a in b.parents or b in a.parents


def check_output(path: str | os.PathLike, *, overwrite: bool = False, inputs: Iterable[str | os.PathLike] = (),
                 flag: str = "--overwrite", container: bool = False) -> Path:
    """Check, before any work, that the folder ``path`` may be written; raise :class:`OutputError` if not.

    It must not be a file, and must not equal, contain or lie inside any of ``inputs``. An
    existing non-empty folder needs ``overwrite``, and then only one this tool wrote (marker);
    a ``container`` (a folder that collects outputs in subfolders) may hold anything.
    """
    path = Path(path)
    for source in inputs:
        if source is not None and Path(source).exists() and overlaps(path, source):
            raise OutputError(f"{path}: the output overlaps the input {source} (the same folder, or one inside "
                              "the other); choose an output folder outside it")
    _check_parent(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: is a file, expected an output folder")
    if path.is_dir() and not container and any(path.iterdir()):
        if not overwrite:
            raise OutputError(f"{path}: already exists and is not empty (pass {flag} to replace it)")
        if not (path / MARKER).is_file():
            raise OutputError(f"{path}: was not written by semsegdiff (no {MARKER} marker file), so {flag} will "
                              "not replace it; delete it yourself or choose another output folder")
        changed = changed_files(path)
        foreign = sorted(set(foreign_files(path)) - set(changed))
        if changed:
            shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
            raise OutputError(f"{path}: {shown} changed since semsegdiff wrote {'it' if len(changed) == 1 else 'them'} "
                              f"(edited by hand?), so {flag} will not replace the folder; copy your edits elsewhere "
                              "or choose another output folder")
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise OutputError(f"{path}: holds files semsegdiff did not write ({shown}), so {flag} will not replace "
                              "it; move them out or choose another output folder")
    return path


def marker(folder: str | os.PathLike) -> dict | None:
    """The marker of a folder semsegdiff wrote (what wrote it, when, which files), or None."""
    try:
        info = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MARKER)


def digest(path: str | os.PathLike) -> str:
    """``<size>:<sha256>`` of a file's bytes: what a marker records of each file it lists."""
    return f"{Path(path).stat().st_size}:{file_fingerprint(path)}"


def changed_files(folder: str | os.PathLike, names: Iterable[str] | None = None) -> list[str]:
    """Files the marker of ``folder`` lists whose bytes are no longer what semsegdiff wrote (a user edited them), of
    ``names`` or of every listed file; [] for markers older than the digests (they recorded names only)."""
    folder, info = Path(folder), marker(folder) or {}
    digests = info.get("digests")
    if not isinstance(digests, dict):
        return []
    changed = []
    for name in sorted(digests if names is None else set(names) & set(digests)):
        p = folder / name
        if not p.is_file():
            continue
        recorded = str(digests[name])
        if not recorded.startswith(f"{p.stat().st_size}:") or digest(p) != recorded:  # the size first: no hashing
            changed.append(name)
    return changed


def foreign_files(folder: str | os.PathLike) -> list[str]:
    """Files in a marked folder that are not what its marker lists: files it does not list, and listed files whose
    bytes changed since (a user's edits); [] for markers older than the lists."""
    info = marker(folder) or {}
    if not isinstance(info.get("files"), list):
        return []
    return sorted((set(_files_in(Path(folder))) - set(info["files"])) | set(changed_files(folder)))


def mark(folder: Path, **info) -> None:
    """Write the marker file that says semsegdiff wrote ``folder``: what wrote it, when, and the files it holds with
    their size and hash (``--overwrite`` treats a listed file whose bytes changed as the user's)."""
    info = {"written_by": "semsegdiff", "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": socket.gethostname(),
            **info}
    if "files" not in info:  # a folder written whole; one that commands fill over time (files None) is not hashed:
        info["files"] = _files_in(folder)  # its parts carry their own markers (a study lists its tables' digests)
        info["digests"] = {f: digest(folder / f) for f in info["files"]}
    (folder / MARKER).write_text(json.dumps(info, default=str) + "\n")


def claim(folder: str | os.PathLike, kind: str, *, legacy: Callable[[Path], bool] = lambda p: False,
          flag: str = "--out", inputs: Iterable[str | os.PathLike] = (), create: bool = True) -> Path:
    """Check that ``folder`` may be a folder of ``kind`` that commands fill over time (a run, a study, tables), and
    mark it so: new or empty, one semsegdiff marked as such a folder, or one of an earlier version (which wrote no
    marker) that ``legacy`` recognises by its content, never by a file name alone. :class:`OutputError` otherwise:
    a user's folder is never written into."""
    folder = check_output(folder, inputs=inputs, container=True, flag=flag)
    entries = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    info = marker(folder)
    if info is not None and isinstance(info.get("files"), list):
        raise OutputError(f"{folder}: is the finished output of a semsegdiff command ({len(info['files'])} files), not "
                          f"a folder that {'an' if kind[0] in 'aeiou' else 'a'} {kind} adds to; choose another {flag}")
    if info is None and [e for e in entries if not e.endswith(".lock")] and not legacy(folder):
        shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
        article = "an" if kind[0] in "aeiou" else "a"
        raise OutputError(f"{folder}: was not written by semsegdiff (no {MARKER} marker; it holds {shown}), so "
                          f"{article} {kind} will not write into it; choose a new or empty {flag}")
    if create and info is None and _launched_rank() == 0:
        _make_parent(folder / MARKER)
        mark(folder, kind=kind, files=None)
    return folder


def describe(folder: str | os.PathLike) -> str:
    """``path (N files semsegdiff wrote at TIME)``: what replacing ``folder`` removes, for messages."""
    info = marker(folder) or {}
    return f"{folder} ({len(_files_in(Path(folder)))} files semsegdiff wrote at {info.get('time', 'an earlier time')})"


@contextlib.contextmanager
def hold(folder: str | os.PathLike, what: str, lock: str = ".lock") -> Iterator[None]:
    """Hold ``folder`` for this process (an exclusive OS lock on ``folder/<lock>``, released however the process ends);
    :class:`OutputError` naming the holder when another process holds it. The other ranks of a DDP run (started by
    Lightning, torchrun or SLURM with their rank in the environment) share the hold of rank zero."""
    folder = Path(folder)
    if _launched_rank() != 0:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise OutputError(f"{folder}: {holder} is using this folder; wait for it to finish or choose another "
                              "output folder") from None
        f.seek(0)
        f.truncate()
        f.write(f"{what} (pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%H:%M:%S')})")
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)


def _launched_rank() -> int:
    """This process's global rank as its launcher set it (0 outside DDP, and in the process that starts the others)."""
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "NODE_RANK"):
        value = os.environ.get(key, "0")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 0


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool = False, inputs: Iterable[str | os.PathLike] = (),
               say: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``path`` only when the block succeeds.

    :func:`check_output` runs first, so a finished result or a user's folder is never
    clobbered by accident; a failed or killed run leaves nothing behind (the next run
    removes the leftovers of a killed one). ``say`` is told what a replacement removes.
    """
    path = check_output(path, overwrite=overwrite, inputs=inputs)
    _make_parent(path)
    tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(path), suffix=".tmp", dir=path.parent))
    try:
        others = _writers(path)
        if others:
            raise OutputError(f"{path}: another process (pid {others[0]}) is writing this folder now; wait for it to "
                              "finish or choose another output folder")
        before = _state(path)
        yield tmp
        mark(tmp)
        for p in [tmp, *tmp.rglob("*")]:  # mkdtemp/mkstemp make 0700/0600; give the umask's permissions
            if not p.is_symlink():
                os.chmod(p, output_mode(p.is_dir()))
        now = _state(path)
        if now != before:  # written by someone else meanwhile: theirs stays, this result is dropped
            raise OutputError(f"{path}: {'appeared' if before is None else 'changed'} while this command ran (another "
                              "process wrote it); it was left as it is and this command's result was not kept")
        if now is not None:
            check_output(path, overwrite=overwrite, inputs=inputs)  # again: no user file added meanwhile
            if say is not None:
                say(f"replacing {describe(path)}")
            old = path.with_name(f".{path.name}.{os.getpid()}-replaced.old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.rename(tmp, path)  # onto nothing, or an empty folder; a folder with files in it is refused
            except OSError as e:
                raise OutputError(f"{path}: appeared while this command ran (another process wrote it); it was left "
                                  f"as it is and this command's result was not kept ({e.strerror})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _state(path: Path) -> str | None:
    """What ``path`` is now, to notice a change: None when absent or an empty folder, else its marker (or a
    listing of its files when it has none)."""
    if not path.is_dir() or not any(path.iterdir()):
        return None
    try:
        return (path / MARKER).read_text()
    except OSError:
        return "unmarked: " + ",".join(_files_in(path))


def file_fingerprint(path: str | Path) -> str:
    """SHA-256 of a file's bytes (checkpoints are read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
