"""The one figure style of the project: fonts, spines, grids and the colours that carry meaning.

Every figure function of the package draws inside :func:`figure_style` (the decorator :func:`styled` does it), and the
notebooks call :func:`use_style` once, so the course's figures share one look. Meaningful colours live here too, so
that a colour means the same thing in every figure:

- body sides: left blue, right red, centre (torso) grey (:data:`SIDE_COLOURS`);
- joint groups: shades of their side's colour, torso grey (:func:`group_colours`), so a left-arm joint is blue whether
  a figure colours by side or by group.

This module only needs matplotlib and the skeleton tables, so every layer may import it.
"""
from __future__ import annotations

import functools

import matplotlib

from .skeleton import Skeleton, get_skeleton

__all__ = ["STYLE", "SIDE_COLOURS", "GROUP_SHADES", "use_style", "figure_style", "styled", "group_colours"]

#: rcParams of every figure: readable small fonts, no top/right spines, light grids, legends without frames.
STYLE = {
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "legend.fontsize": 8.0,
    "legend.frameon": False,
    "figure.titlesize": 11.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlepad": 6.0,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "savefig.bbox": "tight",
    "figure.dpi": 100.0,
}

#: Colour of each body side, shared by every figure of the project.
SIDE_COLOURS = {"left": "#1f77b4", "right": "#d62728", "centre": "#4d4d4d"}
#: Shades for the joint groups of each side, in the order the skeleton lists them (legs, then arms).
GROUP_SHADES = {"left": ("#08519c", "#6baed6", "#3182bd"), "right": ("#a50f15", "#fc9272", "#de2d26"),
                "centre": ("#4d4d4d", "#969696", "#252525")}


def use_style() -> None:
    """Apply :data:`STYLE` to every figure drawn from now on (call it once at the top of a notebook)."""
    matplotlib.rcParams.update(STYLE)


def figure_style():
    """A context in which figures are drawn with :data:`STYLE` (the caller's settings come back afterwards)."""
    return matplotlib.rc_context(STYLE)


def styled(function):
    """Decorator: run a figure function inside :func:`figure_style`."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with figure_style():
            return function(*args, **kwargs)

    return wrapper


def group_colours(skeleton: Skeleton | str) -> list[str]:
    """One colour per joint group (``skeleton.groups`` order): a shade of the group's body-side colour."""
    skeleton = get_skeleton(skeleton)
    used = {"left": 0, "right": 0, "centre": 0}
    colours = []
    for group in skeleton.groups:
        sides = {skeleton.side_of(j) for j in group.joints} - {"centre"}
        side = sides.pop() if len(sides) == 1 else "centre"
        shades = GROUP_SHADES[side]
        colours.append(shades[used[side] % len(shades)])
        used[side] += 1
    return colours
