"""Reading a PyTorch file the user named (a checkpoint, a weights file) safely, with errors in our words.

Every file goes through ``torch.load(weights_only=True)``: tensors and plain values only, never code. A
file that is not a PyTorch file at all (text, an image, random bytes), one that is truncated, and one
whose pickle holds other objects are each said in one line naming the file; torch's own advice (to load
with ``weights_only=False``, which would run whatever code the file holds) never reaches the user.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError

ZIP = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6
PICKLE = b"\x80"  # the legacy format: a bare pickle (protocol 2 and up)


def _what_bytes(head: bytes) -> str:
    """What the first bytes of a file that is not a PyTorch file look like, for the message."""
    known = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"%PDF": "a PDF document",
             b"\x1f\x8b": "a gzip archive", b"{": "JSON text", b"[": "JSON text", b"<": "HTML or XML text"}
    for sig, name in known.items():
        if head.startswith(sig):
            return name
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "neither a zip archive nor a pickle"
    return f"text ({text.strip().splitlines()[0][:40]!r} ...)" if text.strip() else "blank text"


def load(path: str | Path, what: str = "checkpoint", flag: str = "") -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``; a :class:`CheckpointError` naming the file (and
    ``flag``, the option that named it) that says in our words why it is not a ``what``."""
    path = Path(path)
    named = f" ({flag})" if flag else ""
    if not path.exists():
        raise CheckpointError(f"{path}: {what}{'' if what.endswith('file') else ' file'} not found{named}")
    if not path.is_file():
        raise CheckpointError(f"{path}{named}: is a folder, not a {what}")
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as e:
        raise CheckpointError(f"{path}{named}: cannot read the file ({e.strerror or e})") from None
    if not head:
        raise CheckpointError(f"{path}{named}: not a {what}: the file is empty")
    if not (head.startswith(ZIP) or head.startswith(PICKLE)):
        raise CheckpointError(f"{path}{named}: not a {what}: a PyTorch file is a zip archive or a pickle, and this "
                              f"file's bytes are {_what_bytes(head)}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused an object: a pickle of code, not of tensors
        raise CheckpointError(f"{path}{named}: not a {what} semsegdiff can read safely: it holds Python objects other "
                              "than tensors and plain values, and they are not loaded (loading them would run code "
                              "from the file); semsegdiff never writes such files") from None
    except (zipfile.BadZipFile, EOFError, RuntimeError, ValueError, OSError, KeyError, AttributeError, TypeError,
            IndexError, UnicodeDecodeError, MemoryError):  # whatever a damaged archive or pickle raises inside torch
        size = path.stat().st_size
        raise CheckpointError(f"{path}{named}: not a readable {what}: the file ({size:,} bytes) is truncated or "
                              "damaged (copied while it was written?); copy it again or use another") from None
