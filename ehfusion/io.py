"""Small file helpers: atomic writes, so that an interrupted process never leaves a half-written file behind, and
reading NumPy archives whose bytes may be damaged, with one clear error."""
from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import tokenize
import zipfile
import zlib
from collections.abc import Collection
from pathlib import Path
from typing import Iterator

import numpy as np

#: What NumPy raises on damaged ``.npy`` / ``.npz`` bytes: the zip layer, the decompressor, the array header parser and
#: the unpickler (whose errors on garbage are any of these; a well-formed file raises none of them).
DAMAGED_ARCHIVE_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, pickle.UnpicklingError,
                          tokenize.TokenError, SyntaxError, ValueError, TypeError, AttributeError, ImportError,
                          KeyError, IndexError, OverflowError, MemoryError, RecursionError)

#: The first bytes of a zip archive (``np.savez`` writes one): a local file header, or the end record of an empty one.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


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


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (at most 200 characters), or ``"no detail"``."""
    return str(error).splitlines()[0][:200] if str(error) else "no detail"


def read_npz(path: str | os.PathLike, error: type[Exception], fix: str, *, allow_pickle: bool = False,
             keys: Collection[str] | None = None) -> tuple[list[str], dict]:
    """The entry names of an ``.npz`` archive and its arrays (only those in ``keys`` when given).

    A file that cannot be opened, is not a zip archive or has damaged bytes raises ``error`` (e.g. a
    :class:`~ehfusion.errors.DataFileError`) with a message that names the file, what was found and ``fix``.
    ``allow_pickle`` only for trusted files: unpickling can run code.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise error(f"{path} cannot be opened ({exc.strerror or exc}); check the path and its permissions") from None
    if head not in ZIP_MAGIC:
        found = "an empty file" if not head else f"a file starting with {head!r}"
        raise error(f"{path} is not an .npz archive: found {found}, expected a zip archive (np.savez); {fix}")
    try:
        with np.load(path, allow_pickle=allow_pickle) as archive:
            return list(archive.files), {k: archive[k] for k in archive.files if keys is None or k in keys}
    except DAMAGED_ARCHIVE_ERRORS as exc:
        raise error(f"{path} is a damaged or truncated .npz archive ({type(exc).__name__}: {first_line(exc)}); "
                    f"{fix}") from None

