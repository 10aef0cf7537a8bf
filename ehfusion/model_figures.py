"""Figures of the architecture: the group/fusion diagram, the encodings of a clip, the receptive field.

Every function takes an optional ``ax`` (or creates a figure), returns what it drew on and never calls ``plt.show()``.
Group colours are :func:`ehfusion.style.group_colours` (shades of the body-side colours, torso grey), as in
:func:`ehfusion.visualisation.joint_colours`; boxes use light tints of them so their labels stay readable.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from . import style
from .skeleton import Skeleton, get_skeleton
from .models.encodings import encode_window, reference_index
from .models.fusion import OPERATORS_BY_VARIANT

__all__ = ["group_colours", "draw_architecture", "draw_nddr", "plot_encodings", "draw_receptive_field",
           "plot_parameter_breakdown"]

_OPERATOR_LABELS = {"fc": "FC block", "nddr": "NDDR layer"}


def group_colours(skeleton: Skeleton | str) -> list:
    """One colour per joint group (the project's group colours: left blue shades, right red shades, torso grey)."""
    return style.group_colours(skeleton)


def _tint(colour, amount: float = 0.6) -> tuple:
    """``colour`` mixed with white (``amount`` of white): the same hue, light enough for black text."""
    return tuple(c + (1.0 - c) * amount for c in to_rgb(colour))


def _new_ax(ax, figsize):
    if ax is not None:
        return ax
    return Figure(figsize=figsize).add_subplot(1, 1, 1)


def _box(ax, x, y, w, h, text, colour="#f2f2f2", edge="#555555", fontsize=7.5, bold=False):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=colour, edgecolor=edge, linewidth=1.0))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, weight="bold" if bold else "normal")


def _arrow(ax, start, end, colour="#555555", width=0.8, style="-|>", rad=0.0, alpha=1.0):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=7, color=colour, linewidth=width,
                                 connectionstyle=f"arc3,rad={rad}", alpha=alpha, shrinkA=1, shrinkB=1))


@style.styled
def draw_architecture(skeleton: Skeleton | str = "h36m", fusion: str = "heterogeneous", ax=None,
                      latent: int = 256, angle_features: int = 64, camera_features: int = 64):
    """Block diagram of EHFusion for a layout: per group encoders, the fusion paths and operators, the decoders."""
    skeleton = get_skeleton(skeleton)
    skeleton.require_groups()
    groups = skeleton.groups
    colours = group_colours(skeleton)
    tints = [_tint(c) for c in colours]
    ax = _new_ax(ax, (12, 6.5))
    n = len(groups)
    rows = {i: n - 1 - i for i in range(n)}  # torso at the top
    L, A, K = latent, angle_features, camera_features
    x_in, x_enc, x_feat, x_fuse, x_dec, x_out = 0.6, 2.35, 4.0, 6.3, 8.9, 10.9
    for i, group in enumerate(groups):
        y = rows[i] * 1.25
        names = ", ".join(skeleton.joint_names[j] for j in group.joints)
        _box(ax, x_in, y, 1.1, 0.8, f"{group.name}\n{len(group)} joints", tints[i], edge=colours[i], bold=True)
        ax.text(x_in, y - 0.52, names, ha="center", va="top", fontsize=5.2, color="#333333", wrap=True)
        _box(ax, x_enc, y + 0.22, 1.55, 0.36, f"local TCN ({6 * len(group)} ch in)", "#dfe9f5")
        _box(ax, x_enc, y - 0.22, 1.55, 0.36, f"angle TCN ({len(group)} ch in)", "#e8f2df")
        _arrow(ax, (x_in + 0.55, y + 0.1), (x_enc - 0.78, y + 0.22))
        _arrow(ax, (x_in + 0.55, y - 0.1), (x_enc - 0.78, y - 0.22))
        _box(ax, x_feat, y + 0.22, 0.9, 0.32, f"local {L}", tints[i], edge=colours[i])
        _box(ax, x_feat, y - 0.22, 0.9, 0.32, f"angle {A}", "#e8f2df")
        _arrow(ax, (x_enc + 0.78, y + 0.22), (x_feat - 0.45, y + 0.22))
        _arrow(ax, (x_enc + 0.78, y - 0.22), (x_feat - 0.45, y - 0.22))
        if fusion != "none":
            operator = OPERATORS_BY_VARIANT[fusion][group.kind]
            shared = sum(g.kind == group.kind for g in groups) > 1
            label = _OPERATOR_LABELS[operator] + (" (shared)" if shared else "")
            _box(ax, x_fuse, y, 1.7, 0.55, f"fusion\n{label}\n{(n - 1) * L} -> {L}", "#fbe5d6", fontsize=7)
            # the other groups' local features flow in (coloured by their source)
            for j in range(n):
                if j != i:
                    yj = rows[j] * 1.25 + 0.22
                    _arrow(ax, (x_feat + 0.45, yj), (x_fuse - 0.85, y + 0.12 * (j - i) / n), colours[j], 0.6,
                           rad=0.0, alpha=0.55)
            _arrow(ax, (x_fuse + 0.85, y), (x_dec - 1.0, y), "#c55a11")
        inputs = "local, global,\nangle, camera" + (", fused" if fusion != "none" else "")
        _box(ax, x_dec, y, 2.0, 0.75, f"decoder (FC block)\n{inputs}", "#eeeeee", fontsize=7)
        _arrow(ax, (x_feat + 0.45, y + 0.22), (x_dec - 1.0, y + 0.2), colours[i], 0.8, rad=-0.15)
        _arrow(ax, (x_feat + 0.45, y - 0.22), (x_dec - 1.0, y - 0.2), "#6a9a3a", 0.8, rad=0.15)
        _box(ax, x_out, y, 1.1, 0.45, f"{len(group)} x 3D", tints[i], edge=colours[i], bold=True)
        _arrow(ax, (x_dec + 1.0, y), (x_out - 0.55, y))
    top = (n - 1) * 1.25 + 1.15
    _box(ax, x_enc, top, 1.9, 0.45, f"global FC encoder\nreference frame, {2 * skeleton.num_joints} -> {L}", "#f5e6f7")
    _box(ax, x_fuse, top, 1.7, 0.45, f"camera embedding\nintrinsics -> {K}", "#f5e6f7")
    for x0 in (x_enc, x_fuse):
        _arrow(ax, (x0 + 0.5, top - 0.23), (x_dec - 0.3, (n - 1) * 1.25 + 0.3), "#8e44ad", 0.8, rad=-0.1)
    ax.text(x_dec, top, "global and camera\nfeatures go to every decoder", ha="center", va="center", fontsize=7,
            color="#8e44ad")
    ax.set_xlim(-0.2, 11.6)
    ax.set_ylim(-1.0, top + 0.5)
    ax.set_axis_off()
    title = {"heterogeneous": "EHFusion: heterogeneous fusion "
                              "(FC block for the torso, one shared NDDR layer for the limbs)",
             "fc": "fusion variant 'fc': FC blocks for torso and limbs", "nddr": "fusion variant 'nddr': NDDR layers",
             "none": "no fusion: each group decoded from its own, global, angle and camera features"}[fusion]
    ax.set_title(title, fontsize=10)
    return ax


@style.styled
def plot_encodings(window, skeleton: Skeleton | str = "h36m", causal: bool = False, fig: Figure | None = None,
                   fps: float | None = None) -> Figure:
    """Heat maps (joints x frames) of the four encodings of one window ``(T, J, 2)`` of normalised keypoints.

    Joints are listed group by group; the reference frame is marked.
    """
    skeleton = get_skeleton(skeleton)
    x = torch.as_tensor(np.asarray(window, np.float32))
    if x.dim() != 3 or x.shape[1:] != (skeleton.num_joints, 2):
        raise ValueError(f"window must be (frames, {skeleton.num_joints}, 2), got {tuple(x.shape)}")
    enc = encode_window(x[None], skeleton.root, causal)
    order = [j for g in skeleton.groups for j in g.joints] if skeleton.groups else list(range(skeleton.num_joints))
    ref = reference_index(x.shape[0], causal)
    panels = [
        ("raw x (normalised)", enc.raw[0, :, order, 0], "coolwarm"),
        ("positional: x - x(root)", enc.positional[0, :, order, 0], "coolwarm"),
        ("temporal: |x(t) - x(reference)| (raw coordinates)", enc.temporal[0, :, order].norm(dim=-1), "magma"),
        ("motion angle: exp(angle - pi)", enc.angle[0, :, order], "viridis"),
    ]
    fig = fig or Figure(figsize=(12, 6.5))
    axes = fig.subplots(2, 2, sharex=True, sharey=True)
    frames = np.arange(x.shape[0]) if fps is None else np.arange(x.shape[0]) / fps
    for ax, (title, values, cmap) in zip(axes.ravel(), panels):
        values = values.T.numpy()
        if cmap == "coolwarm":
            limit = float(np.abs(values).max()) or 1.0
            image = ax.imshow(values, aspect="auto", cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest",
                              extent=(frames[0], frames[-1], len(order) - 0.5, -0.5))
        else:
            image = ax.imshow(values, aspect="auto", cmap=cmap, interpolation="nearest",
                              extent=(frames[0], frames[-1], len(order) - 0.5, -0.5))
        fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
        ax.axvline(frames[ref], color="white", linewidth=1.2, linestyle="--")
        ax.set_title(title, fontsize=9)
        boundary = 0
        for g in skeleton.groups[:-1]:
            boundary += len(g)
            ax.axhline(boundary - 0.5, color="black", linewidth=0.6)
    for ax in axes[:, 0]:
        ax.set_yticks(range(len(order)))
        ax.set_yticklabels([skeleton.joint_names[j] for j in order], fontsize=6)
    for ax in axes[1]:
        ax.set_xlabel("frame" if fps is None else "time (s)")
    fig.suptitle(f"The four encodings of one {x.shape[0]}-frame window (dashed: the reference frame"
                 f"{', last frame: causal' if causal else ', centre'}); joints grouped as the model groups them",
                 fontsize=10)
    return fig


@style.styled
def draw_receptive_field(filter_widths: Sequence[int], causal: bool = False, ax=None):
    """Which input frames one output frame sees, layer by layer (dilated form: dilation = product of earlier widths)."""
    widths = tuple(int(w) for w in filter_widths)
    frames = math.prod(widths)
    ax = _new_ax(ax, (min(16, 4 + frames * 0.25), 1.2 + 0.9 * len(widths)))
    # positions used at each level, from the output down to the input
    used = [{frames - 1 if causal else frames // 2}]
    dilations = [math.prod(widths[:i]) for i in range(len(widths))]
    for level in reversed(range(len(widths))):
        width, dilation = widths[level], dilations[level]
        below = set()
        for p in used[-1]:
            last = p if causal else p + (width // 2) * dilation
            below.update(last - k * dilation for k in range(width))
        used.append(below)
    used = used[::-1]  # used[0] = input frames, used[-1] = the output
    for level, positions in enumerate(used):
        y = level
        ax.scatter(range(frames), [y] * frames, s=6, color="#cccccc", zorder=1)
        ax.scatter(sorted(positions), [y] * len(positions), s=16, color="#1f77b4" if level < len(used) - 1
                   else "#d62728", zorder=3)
        label = "input frames" if level == 0 else ("output" if level == len(used) - 1 else f"layer {level}")
        ax.text(-1.0, y, label, ha="right", va="center", fontsize=8)
    for level in range(1, len(used)):
        width = widths[level - 1]
        dilation = dilations[level - 1]
        for p in used[level]:
            last = p if causal else p + (width // 2) * dilation
            for k in range(width):
                ax.plot([p, last - k * dilation], [level, level - 1], color="#1f77b4", linewidth=0.6, alpha=0.6,
                        zorder=2)
    ax.set_xlim(-frames * 0.18 - 2, frames + 0.5)
    ax.set_ylim(-0.6, len(used) - 0.4)
    ax.set_yticks([])
    step = max(1, frames // 10)
    ax.set_xticks(range(0, frames, step))
    ax.set_xlabel("frame in the window")
    for spine in ("left", "right", "top"):
        ax.spines[spine].set_visible(False)
    ax.set_title(f"Receptive field of filter widths {widths}: {frames} frames, "
                 f"{'causal (output = last frame)' if causal else 'output = centre frame'}", fontsize=9)
    return ax


@style.styled
def draw_nddr(skeleton: Skeleton | str = "h36m", limb: int = 1, latent: int = 256, parts: int = 4, ax=None):
    """How the NDDR layer builds one limb's fused feature from the other groups' local features.

    The other groups' features are concatenated (``4L`` numbers for five groups), ``parts`` parallel ``1x1``
    convolutions each reduce them to ``L / parts`` channels (BatchNorm + ReLU), and the pieces are concatenated to
    ``L``: a learned, discriminative dimensionality reduction of the concatenated features (NDDR, Gao et al. 2019).
    """
    skeleton = get_skeleton(skeleton)
    skeleton.require_groups()
    groups = skeleton.groups
    colours = group_colours(skeleton)
    ax = _new_ax(ax, (11, 4.2))
    others = [i for i in range(len(groups)) if i != limb]
    names = [g.name.replace("_", " ") for g in groups]
    L = latent
    for row, g in enumerate(others):
        y = 3.2 - row * 0.8
        _box(ax, 0.9, y, 1.5, 0.55, f"{names[g]}\nlocal feature ({L})", colour=_tint(colours[g]), edge=colours[g],
             fontsize=7)
        _arrow(ax, (1.68, y), (2.6, 2.0))
    _box(ax, 3.3, 2.0, 1.3, 2.6, f"concatenate\nthe other\ngroups\n({len(others) * L})", fontsize=7.5)
    for k in range(parts):
        y = 3.05 - k * 0.7
        _arrow(ax, (3.98, 2.0), (4.95, y))
        _box(ax, 5.9, y, 1.85, 0.5, f"1x1 conv {len(others) * L}->{L // parts}\n+ BatchNorm + ReLU", fontsize=6.8)
        _arrow(ax, (6.85, y), (7.75, 2.0))
    _box(ax, 8.4, 2.0, 1.25, 1.3, f"concatenate\n({L})", fontsize=7.5)
    _arrow(ax, (9.05, 2.0), (9.55, 2.0))
    _box(ax, 10.35, 2.0, 1.5, 0.8, f"fused feature\nof the {names[limb]} ({L})", colour=_tint(colours[limb]),
         edge=colours[limb], fontsize=7.5,
         bold=True)
    ax.text(5.9, 0.35, f"{parts} parallel 1x1 convolutions = one {len(others) * L}->{L} linear map with stacked "
            "weights; one layer shared by the four limbs, BatchNorm statistics per limb",
            ha="center", fontsize=7.5, style="italic")
    ax.set(xlim=(0, 11.2), ylim=(0, 3.7))
    ax.axis("off")
    ax.set_title(f"NDDR fusion for the {names[limb]}", fontsize=10)
    return ax


@style.styled
def plot_parameter_breakdown(table, ax=None, title: str = "Where EHFusion's parameters are"):
    """Stacked bars of the parameters of each model part (millions), one bar per EHFusion row of
    :func:`ehfusion.models.introspection.model_table`'s table.

    Parts without parameters in any row are left out; parts too small to see at this scale (under 1 % of the largest
    bar) keep their bar and say their size in the legend, so no part is invisible without notice.
    """
    import matplotlib

    rows = table[table["architecture"] == "ehfusion"] if "architecture" in table else table
    if "name" in rows:
        rows = rows.set_index("name")
    parts = rows.filter(like="params.").drop(columns="params.total", errors="ignore")
    parts = parts.loc[:, (parts > 0).any()] / 1e6
    if parts.empty:
        raise ValueError("the table has no EHFusion rows with params.* columns: build it with model_table(configs)")
    parts.columns = [c.removeprefix("params.").replace("_", " ").replace(".", ": ") for c in parts.columns]
    ax = _new_ax(ax, (11, 0.5 * len(parts) + 1.8))
    palette = matplotlib.colormaps["tab10"].colors
    left = np.zeros(len(parts))
    largest = float(parts.sum(axis=1).max())
    positions = np.arange(len(parts))
    for k, column in enumerate(parts.columns):
        values = parts[column].to_numpy()
        small = values.max() < 0.01 * largest
        label = f"{column} ({values.max() * 1e3:.1f} k, too small to see)" if small else column
        ax.barh(positions, values, left=left, color=palette[k % len(palette)], label=label, height=0.6)
        left += values
    for y, total in zip(positions, left):
        ax.text(total, y, f" {total:.1f} M", va="center", fontsize=8)
    ax.set_yticks(positions, list(parts.index))
    ax.invert_yaxis()
    ax.set_xlim(0, largest * 1.12)
    ax.set_xlabel("parameters (millions)")
    ax.set_ylabel("")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    ax.grid(axis="x")
    return ax
