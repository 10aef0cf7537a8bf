"""Figures of the ablation (seaborn): accuracy against size, robustness curves, per-joint and per-action errors.

Each function takes results (a results file path, its loaded dict, a :class:`ResultStore` or a list of records),
draws a new figure in the project's figure style (:mod:`ehfusion.style`) and returns it; ``path=`` also saves it
atomically (format from the suffix). Error bars and bands are one standard deviation over seeds. Legends sit outside
the data (beside or below the axes), so they never cover a bar or a curve.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter
import numpy as np
import seaborn as sns

from ..style import styled
from .results import MODEL_LABELS, MODEL_ORDER, per_action_frame, per_joint_frame, robustness_frame, summarise

__all__ = ["plot_accuracy_vs_parameters", "plot_robustness", "plot_per_joint", "plot_per_action"]

_UNITS = {"noise": "Gaussian 2D noise, sigma (pixels)", "dropout": "missing joints (fraction, filled in time)"}


def _save(fig, path):
    if path is not None:
        from ..visualisation import save_figure

        save_figure(fig, Path(path))
    return fig


def _palette(models) -> dict:
    colours = sns.color_palette("deep", len(MODEL_ORDER) + 4)
    order = list(MODEL_ORDER) + sorted(set(models) - set(MODEL_ORDER))
    return {m: colours[i % len(colours)] for i, m in enumerate(order)}


def _present(frame) -> list[str]:
    return [m for m in dict.fromkeys(frame["model"])]


@styled
def plot_accuracy_vs_parameters(results, metric: str = "P1", *, per_frame_macs: bool = False, compare=None,
                                compare_label: str = "other size", path=None):
    """Mean error over seeds (error bar: one standard deviation) against parameters (or MACs per output frame).

    ``compare``: results of the same models at another size (e.g. narrower layers), drawn as hollow markers and joined
    to each model's point, so a move to the lower left shows a gain that is not just a bigger model.
    """
    summary = summarise(results)
    size = "macs_per_frame" if per_frame_macs else "params"
    palette = _palette(summary["model"])
    fig, ax = plt.subplots(figsize=(9.5, 4.5))
    for _, row in summary.iterrows():
        std = row[f"{metric} std"]
        ax.errorbar(row[size], row[f"{metric} mean"], yerr=0 if np.isnan(std) else std, fmt="o", ms=8, capsize=4,
                    color=palette[row["model"]], label=f"{row['label']} (n={row['seeds']})")
    if compare is not None:
        other = summarise(compare).set_index("model")
        for _, row in summary.iterrows():
            if row["model"] not in other.index:
                continue
            o = other.loc[row["model"]]
            if o[size] == row[size]:
                continue  # the same model at both sizes (e.g. the baseline): nothing to join
            colour = palette[row["model"]]
            std = o[f"{metric} std"]
            ax.errorbar(o[size], o[f"{metric} mean"], yerr=0 if np.isnan(std) else std, fmt="o", ms=8, capsize=4,
                        mfc="white", color=colour)
            ax.plot([o[size], row[size]], [o[f"{metric} mean"], row[f"{metric} mean"]], ls=":", color=colour)
        ax.plot([], [], "o", mfc="white", color="grey", label=compare_label)
    ax.set_xscale("log")
    millions = FuncFormatter(lambda value, _: f"{value / 1e6:.1f}M")  # 2.2M, not 2.2 x 10^6 (labels overlap)
    ax.xaxis.set_major_formatter(millions)
    ax.xaxis.set_minor_formatter(millions)
    ax.set(xlabel="multiply-accumulates per output frame" if per_frame_macs else "parameters",
           ylabel=f"{metric} (mm, test subjects)", title=f"{metric} against model size (lower left is better)")
    _pad_limits(ax)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return _save(fig, path)


def _pad_limits(ax, fraction: float = 0.08) -> None:
    """Leave a margin around the data (points and error bars) so none sits on the axis edge (log axes in log space)."""
    ax.relim()
    ax.autoscale_view()
    for get, set_, scale in ((ax.get_xlim, ax.set_xlim, ax.get_xscale()), (ax.get_ylim, ax.set_ylim, ax.get_yscale())):
        low, high = get()
        if scale == "log":
            low, high = np.log10(low), np.log10(high)
            pad = (high - low) * fraction
            set_(10 ** (low - pad), 10 ** (high + pad))
        else:
            pad = (high - low) * fraction
            set_(low - pad, high + pad)


def _legend_below(fig, axes, ncol: int = 3) -> None:
    """One legend for every panel, below them, with the models' readable names."""
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    fig.legend(handles, [MODEL_LABELS.get(label, label) for label in labels], loc="lower center", ncol=ncol,
               bbox_to_anchor=(0.5, 0.0), fontsize=8)


def _legend_beside(ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, [MODEL_LABELS.get(label, label) for label in labels], fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))


@styled
def plot_robustness(results, metric: str = "P1", *, path=None):
    """Error against noise level and against the fraction of missing joints, one line per model."""
    frame = robustness_frame(results)
    if frame.empty:
        raise ValueError("the results hold no robustness curves (the runs were made with robustness off)")
    palette = _palette(frame["model"])
    kinds = [k for k in ("noise", "dropout") if (frame["perturbation"] == k).any()]
    fig, axes = plt.subplots(1, len(kinds), figsize=(6 * len(kinds), 4.2), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        part = frame[frame["perturbation"] == kind]
        sns.lineplot(data=part, x="level", y=metric, hue="model", hue_order=_present(part), palette=palette,
                     errorbar="sd", marker="o", ax=ax)
        ax.set(xlabel=_UNITS[kind], ylabel=f"{metric} (mm)", title=f"robustness to {kind}")
        ax.grid(True, alpha=0.3)
    rows = -(-len(_present(frame)) // 3)
    _legend_below(fig, list(axes[0]))
    fig.tight_layout(rect=(0, 0.06 * rows + 0.02, 1, 1))
    return _save(fig, path)


@styled
def plot_per_joint(results, *, path=None):
    """P1 per joint (mean over seeds, bar: one standard deviation), one colour per model."""
    frame = per_joint_frame(results)
    if frame.empty:
        raise ValueError("the results hold no per-joint errors")
    joints = list(dict.fromkeys(frame["joint"]))
    fig, ax = plt.subplots(figsize=(13, 4.5))
    sns.barplot(data=frame, x="joint", y="P1", hue="model", order=joints, hue_order=_present(frame),
                palette=_palette(frame["model"]), errorbar="sd", ax=ax)
    ax.set(xlabel="", ylabel="P1 (mm)", title="error per joint (test subjects, mean over actions)")
    ax.tick_params(axis="x", rotation=45)
    _legend_beside(ax)
    fig.tight_layout()
    return _save(fig, path)


@styled
def plot_per_action(results, metric: str = "P1", *, path=None):
    """``metric`` per action (mean over seeds, bar: one standard deviation), one colour per model."""
    frame = per_action_frame(results)
    if frame.empty:
        raise ValueError("the results hold no per-action errors")
    actions = sorted(dict.fromkeys(frame["action"]))
    fig, ax = plt.subplots(figsize=(13, 4.5))
    sns.barplot(data=frame, x="action", y=metric, hue="model", order=actions, hue_order=_present(frame),
                palette=_palette(frame["model"]), errorbar="sd", ax=ax)
    ax.set(xlabel="", ylabel=f"{metric} (mm)", title=f"{metric} per action (test subjects)")
    ax.tick_params(axis="x", rotation=45)
    _legend_beside(ax)
    fig.tight_layout()
    return _save(fig, path)
