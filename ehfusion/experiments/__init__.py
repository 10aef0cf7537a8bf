"""Experiments: the ablation runner, robustness to corrupted 2D inputs, result tables and figures.

>>> from ehfusion.experiments import robustness_curves, summarise
>>> curves = robustness_curves(model, test_sequences)             # doctest: +SKIP
>>> summarise("results/experiments_det.json")                     # doctest: +SKIP

Command line: ``python -m ehfusion.experiments run --keypoints det --seeds 0 1`` (see ``--help``).
"""
from .results import (
    MODEL_LABELS,
    MODEL_ORDER,
    ResultStore,
    load_results,
    merge_results,
    paired_differences,
    per_action_frame,
    per_joint_frame,
    robustness_frame,
    runs_frame,
    summarise,
    write_tables,
)
from .robustness import (
    DEFAULT_DROPOUT_RATES,
    DEFAULT_SIGMAS_PX,
    add_pixel_noise,
    drop_joints,
    fill_dropped,
    image_width_of,
    perturb_sequence,
    pixels_to_normalised,
    robustness_curves,
)
from .runner import (
    MAPPABLE,
    MODELS,
    ExperimentConfig,
    default_results_path,
    evaluate_model,
    load_experiment_data,
    run_experiments,
    stage_epochs,
)

__all__ = [
    "MODELS",
    "MODEL_ORDER",
    "MODEL_LABELS",
    "MAPPABLE",
    "ExperimentConfig",
    "run_experiments",
    "load_experiment_data",
    "evaluate_model",
    "stage_epochs",
    "default_results_path",
    "ResultStore",
    "load_results",
    "merge_results",
    "summarise",
    "paired_differences",
    "runs_frame",
    "robustness_frame",
    "per_joint_frame",
    "per_action_frame",
    "write_tables",
    "robustness_curves",
    "DEFAULT_SIGMAS_PX",
    "DEFAULT_DROPOUT_RATES",
    "pixels_to_normalised",
    "image_width_of",
    "add_pixel_noise",
    "drop_joints",
    "fill_dropped",
    "perturb_sequence",
]
