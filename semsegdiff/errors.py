"""User errors: problems with what the user gave us, reported as one line naming the file or setting.

The CLI prints a :class:`UserError` as ``semsegdiff <command>: error: <message>`` and exits 1;
anything else is a bug and keeps its traceback. Each class also derives from the built-in
exception a Python caller would expect (``ValueError``, ``FileExistsError``, ...).
"""
from __future__ import annotations


class UserError(Exception):
    """Bad input from the user. The message names the file, flag or setting and what to change."""


class SettingError(UserError, ValueError):
    """A setting (CLI flag, notebook parameter, profile override) of the wrong type or out of range."""


class DataError(UserError, ValueError):
    """Bad input data. The message names the file and the problem."""


class CheckpointError(UserError, ValueError):
    """A checkpoint file that is missing, unreadable or does not fit the request."""


class OutputError(UserError, FileExistsError):
    """An output path that cannot or must not be written (exists, is a file, overlaps an input)."""


class DivergenceError(UserError, FloatingPointError):
    """Training or sampling produced non-finite or exploding values with the given settings."""


class NotebookError(UserError, RuntimeError):
    """A notebook failed or was given unknown parameters; the message names the notebook and the cell."""
