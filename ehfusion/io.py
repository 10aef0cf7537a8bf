"""Small file helpers: atomic writes, so that an interrupted process never leaves a half-written file behind."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temporary file beside ``path``; on success it replaces ``path`` in one step, on error it is removed.

    >>> with atomic_write("model.bin") as f:   # doctest: +SKIP
    ...     torch.save(state, f)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the permissions a plain open() would
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_savez(path: str | os.PathLike, compressed: bool = True, **arrays) -> None:
    """``np.savez[_compressed]`` through :func:`atomic_write` (the file name is kept exactly as given)."""
    import numpy as np

    with atomic_write(path) as handle:
        (np.savez_compressed if compressed else np.savez)(handle, **arrays)


def writable_folder(path: str | os.PathLike, option: str) -> Path:
    """``path`` as a folder to write into, created if missing.

    A file in the way, or a folder that cannot be created, is an :class:`~ehfusion.errors.OutputPathError` that names
    ``option`` (the command-line flag or parameter the path came from).
    """
    from .errors import OutputPathError

    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{path} ({option}) is an existing file, but a folder is expected; pass a folder "
                              "(it is created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputPathError(f"cannot create the folder {path} ({option}): {err.strerror or err}; pass a folder "
                              "you can write to") from None
    return path
