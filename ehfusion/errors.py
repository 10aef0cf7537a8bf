"""The errors ehfusion raises for bad inputs: one type per kind of problem, each with a message that says what to do.

Every message names the file (or option), what was found, what was expected and how to fix it. Command lines print
these as one line and exit with status 2 (``--debug`` shows the traceback instead). All of them are ``ValueError``
subclasses, so code that caught ``ValueError`` before keeps working (:class:`OutputPathError` is an ``OSError`` too).

=========================  ==========================================================================================
error                      raised for
=========================  ==========================================================================================
:class:`DataFileError`     a VideoPose3D ``.npz`` that is corrupt, truncated or not structured as VideoPose3D's
:class:`KeypointFileError` a 2D keypoint file (``.json``, ``.npy``, ``.npz``) that cannot be read as keypoints
:class:`CheckpointError`   a checkpoint that is corrupt, foreign, malformed or describes an implausibly large model
:class:`OutputPathError`   a place to write that is not usable (a file where a folder is needed, a full disk, ...)
:class:`ParameterError`    a notebook parameter or option with an unknown name or a value of the wrong kind
=========================  ==========================================================================================
"""
from __future__ import annotations

import os

__all__ = [
    "EHFusionError",
    "DataFileError",
    "KeypointFileError",
    "CheckpointError",
    "OutputPathError",
    "ParameterError",
    "write_error",
]


class EHFusionError(ValueError):
    """A problem with an input the user gave (a file, a folder, an option); the message says how to fix it."""


class DataFileError(EHFusionError):
    """A VideoPose3D data file (``data_3d_*.npz`` / ``data_2d_*.npz``) that cannot be used."""


class KeypointFileError(EHFusionError):
    """A file of 2D keypoints that cannot be read as one person's keypoint sequence."""


class CheckpointError(EHFusionError):
    """A checkpoint file that is unreadable, not ehfusion's, or whose metadata breaks the checkpoint schema."""


class OutputPathError(EHFusionError, OSError):
    """A path to write to that cannot be used; nothing was written there and an existing file is unchanged.

    Also an ``OSError``, so code that guards a write with ``except OSError`` keeps working.
    """


class ParameterError(EHFusionError):
    """A parameter (of a notebook or a command) with an unknown name or a value of the wrong kind."""


def write_error(path: str | os.PathLike, what: str, error: OSError, fix: str | None = None) -> OutputPathError:
    """An :class:`OutputPathError` for an ``OSError`` raised while writing ``what`` to ``path``.

    The message says that the previous version (if any) is unchanged, since every write goes through a temporary file
    that replaces the target only when complete (:func:`ehfusion.io.atomic_write`).
    """
    reason = error.strerror or str(error)
    if fix is None:
        fix = "free some space or choose another place" if error.errno == 28 else \
            "check that the folder exists, is a folder and is writable, or choose another place"
    return OutputPathError(f"could not write {what} {os.fspath(path)} ({reason}); nothing was written and any "
                           f"previous version is unchanged; {fix}")
