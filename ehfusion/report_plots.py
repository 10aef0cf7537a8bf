"""Figures for training runs and evaluation results: training curves, per-action bars and per-joint errors.

Each function draws into a new figure (or the given axes), in the project's figure style (:mod:`ehfusion.style`), and
returns the ``matplotlib.figure.Figure``; save it with :func:`ehfusion.visualisation.save_figure` (atomic) or pass
``path=``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence as SequenceOf
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import pandas as pd
import seaborn as sns

from .evaluation import METRICS, EvaluationResult
from .style import styled
from .training import TrainConfig, history_frame

__all__ = [
    "plot_schedules",
    "plot_training_curves",
    "plot_stage_curves",
    "plot_per_action",
    "plot_per_joint",
    "results_long_frame",
]


def _save(fig, path):
    if path is not None:
        from .visualisation import save_figure

        save_figure(fig, Path(path))
    return fig


def _as_results(results: EvaluationResult | Mapping[str, EvaluationResult]) -> dict[str, EvaluationResult]:
    if isinstance(results, EvaluationResult):
        return {results.branch: results}
    if not results:
        raise ValueError("no evaluation results to plot")
    return dict(results)


@styled
def plot_schedules(config: TrainConfig, *, path=None):
    """The learning rate and the BatchNorm momentum that each epoch of ``config`` uses."""
    epochs = list(range(1, config.epochs + 1))
    lr = [config.lr * config.lr_decay ** (e - 1) for e in epochs]
    momentum = [config.bn_momentum(e - 1) for e in epochs]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    axes[0].plot(epochs, lr, marker="o", ms=3, color="black")
    axes[0].set(title=f"learning rate: {config.lr:g} x {config.lr_decay:g}^(epoch-1)", xlabel="epoch")
    axes[0].ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    axes[1].plot(epochs, momentum, marker="o", ms=3, color="tab:purple")
    axes[1].set(title=f"BatchNorm momentum: {config.bn_momentum_start:g} -> {config.bn_momentum_end:g}",
                xlabel="epoch", yscale="log")
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return _save(fig, path)


@styled
def plot_training_curves(history: SequenceOf[dict] | pd.DataFrame, *, title: str | None = None,
                         best_epoch: int | None = None, path=None):
    """Training loss and validation P1 per branch (mm) against the epoch, and the learning rate.

    ``history`` is ``Trainer.history`` / ``checkpoint.meta["history"]`` or its DataFrame. The best epoch (lowest
    validation P1 of the last ``val_p1_*`` column, or ``best_epoch``) is marked.
    """
    frame = history if isinstance(history, pd.DataFrame) else history_frame(history)
    if frame.empty:
        raise ValueError("the training history is empty: train at least one epoch")
    train_cols = [c for c in frame.columns if c.startswith("train_")]
    val_cols = [c for c in frame.columns if c.startswith("val_p1_")]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), gridspec_kw={"width_ratios": [3, 3, 2]})
    palette = sns.color_palette("deep")
    for i, col in enumerate(train_cols):
        axes[0].plot(frame.index, frame[col], marker="o", ms=3, color=palette[i], label=col.removeprefix("train_"))
    axes[0].set(title="training loss (MPJPE)", xlabel="epoch", ylabel="mm")
    for i, col in enumerate(val_cols):
        axes[1].plot(frame.index, frame[col], marker="o", ms=3, color=palette[i], label=col.removeprefix("val_p1_"))
    if val_cols:
        best = best_epoch if best_epoch is not None else int(frame[val_cols[-1]].idxmin())
        axes[1].axvline(best, color="grey", ls="--", lw=1, label=f"best epoch ({best})")
    else:
        axes[1].text(0.5, 0.5, "no validation\n(--no-eval)", ha="center", va="center", transform=axes[1].transAxes)
    axes[1].set(title="validation P1 (flip TTA)", xlabel="epoch", ylabel="mm")
    for ax in axes[:2]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(title="branch", fontsize=8)
        ax.grid(alpha=0.3)
    axes[2].plot(frame.index, frame["lr"], color="black")
    axes[2].set(title="learning rate", xlabel="epoch")
    axes[2].ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    axes[2].grid(alpha=0.3)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


@styled
def plot_stage_curves(histories: Mapping[str, SequenceOf[dict]], *, title: str | None = None, path=None):
    """Training loss and validation P1 of consecutive stages on one epoch axis, each stage shaded.

    ``histories`` maps a stage label (``"stage 1"``...) to its history, in training order. Every branch of every stage
    is drawn (stage 1 trains ``unfused``, stages 2 and 3 ``fused``).
    """
    if not histories:
        raise ValueError("no stage histories to plot")
    fig, axes = plt.subplots(1, 2, figsize=(13, 3.8))
    palette = sns.color_palette("deep")
    offset = 0
    for index, (label, history) in enumerate(histories.items()):
        frame = history if isinstance(history, pd.DataFrame) else history_frame(history)
        if frame.empty:
            continue
        epochs = frame.index + offset
        for ax in axes:
            ax.axvspan(offset + 0.5, offset + len(frame) + 0.5, color=palette[index % len(palette)], alpha=0.08)
            ax.text(offset + 0.5 + len(frame) / 2, 1.0, label, transform=ax.get_xaxis_transform(), ha="center",
                    va="bottom", fontsize=9)
        for prefix, ax in (("train_", axes[0]), ("val_p1_", axes[1])):
            for col in [c for c in frame.columns if c.startswith(prefix)]:
                branch = col[len(prefix):]
                ax.plot(epochs, frame[col], marker="o", ms=3, color=palette[0 if branch == "unfused" else 1],
                        label=branch if ax.get_legend_handles_labels()[1].count(branch) == 0 else None)
        offset += len(frame)
    axes[0].set(ylabel="mm", xlabel="epoch (all stages)")
    axes[0].set_title("training loss (MPJPE)", pad=16)
    axes[1].set(ylabel="mm", xlabel="epoch (all stages)")
    axes[1].set_title("validation P1 (flip TTA)", pad=16)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(title="branch", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def results_long_frame(results: EvaluationResult | Mapping[str, EvaluationResult]) -> pd.DataFrame:
    """Per-action metrics of several labelled results in long form: columns label, action, metric, mm."""
    frames = []
    for label, result in _as_results(results).items():
        part = result.per_action.melt(id_vars=["action"], value_vars=list(METRICS), var_name="metric", value_name="mm")
        part.insert(0, "label", label)
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


@styled
def plot_per_action(results: EvaluationResult | Mapping[str, EvaluationResult], metric: str = "P1", *,
                    ax=None, title: str | None = None, path=None):
    """Grouped bars: ``metric`` (mm) per action for each labelled result, with the average over actions last."""
    if metric not in METRICS:
        raise KeyError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    results = _as_results(results)
    long = results_long_frame(results)
    long = long[long["metric"] == metric]
    averages = pd.DataFrame([{"label": k, "action": "Average", "metric": metric, "mm": r.overall[metric]}
                             for k, r in results.items()])
    long = pd.concat([long, averages], ignore_index=True)
    # about 0.25 inch per bar, between 6 and 11 inches wide (the legend goes beside the axes)
    width = min(11.0, max(6.0, 1.5 + 0.25 * long["action"].nunique() * max(1, len(results))))
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(width, 4))
    sns.barplot(data=long, x="action", y="mm", hue="label", ax=ax, palette="deep")
    _finish_bars(fig, ax, len(results), f"{metric} (mm)", title or f"{metric} per action (mean over actions last)",
                 rotation=45)
    return _save(fig, path)


@styled
def plot_per_joint(results: EvaluationResult | Mapping[str, EvaluationResult], *, ax=None,
                   title: str | None = None, path=None):
    """Bars of MPJPE per joint (mm, averaged over actions) for each labelled result, joints grouped by body part."""
    results = _as_results(results)
    frames = []
    for label, result in results.items():
        part = result.per_joint.copy()
        part.insert(0, "label", label)
        frames.append(part)
    long = pd.concat(frames, ignore_index=True)
    # the skeleton's group order (torso first), and the joint order within each group
    first = list(results.values())[0].per_joint
    order = [j for g in dict.fromkeys(first["group"]) for j in first.loc[first["group"] == g, "joint"]]
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(10, 4))
    sns.barplot(data=long, x="joint", y="P1", hue="label", order=order, ax=ax, palette="deep")
    _finish_bars(fig, ax, len(results), "P1 (mm)", title or "error per joint (mean over actions)", rotation=60)
    return _save(fig, path)


def _finish_bars(fig, ax, series: int, ylabel: str, title: str, rotation: int) -> None:
    """Shared finish of the bar charts: legend outside (or none for one series), slanted labels, light grid."""
    if series > 1:
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1.0), title=None, frameon=False)
    elif ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.set(xlabel="", ylabel=ylabel, title=title)
    ax.tick_params(axis="x", rotation=rotation)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
