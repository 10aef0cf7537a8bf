"""Progress bars: one place that decides whether a long loop shows one.

:func:`progress_bar` is ``tqdm.auto.tqdm`` (a widget in Jupyter, text in a terminal) with ``enabled=False`` switching it
off. When enabled it leaves ``disable`` to tqdm's default, so ``TQDM_DISABLE=1`` in the environment (set by the
headless course runner) silences every bar without changing any call.
"""
from __future__ import annotations

from tqdm.auto import tqdm

__all__ = ["progress_bar", "write"]


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs):
    """A tqdm bar over ``iterable``, or no bar at all when ``enabled`` is false."""
    if not enabled:
        kwargs["disable"] = True
    return tqdm(iterable, **kwargs)


def write(message: str) -> None:
    """Print a line without breaking an active progress bar."""
    tqdm.write(message)
