r"""The ablation: which part of EHFusion helps, under the same training budget, over several seeds.

Models (names used in the results file, in table order):

================= ==========================================================================================
``videopose3d``   the VideoPose3D temporal convolution network (the baseline; no groups, camera ignored)
``no-fusion``     EHFusion without fusion: encoders and plain decoders (= three-stage stage 1)
``fc``            three-stage EHFusion with fully connected fusion for every group
``nddr``          three-stage EHFusion with NDDR fusion for every group
``heterogeneous`` three-stage EHFusion with heterogeneous fusion (FC for the torso, NDDR for the limbs)
``one-stage``     EHFusion with heterogeneous fusion trained in one stage (plain and fused decoders together)
``one-stage-      the same with ``detach_fusion_input=True``: the fused branch's gradient does not reach the
detached``        encoders through the fusion inputs (the release's choice)
================= ==========================================================================================

**Budget.** Every model sees the same number of training windows: ``epochs`` passes over the same fraction
(``subset``, drawn afresh each epoch) of the training windows, at the same batch size. A three-stage model splits its
``epochs`` over its stages by ``stage_split`` (default 50 %, 30 %, 20 %: with 10 epochs, 5 + 3 + 2), and the fc, nddr
and heterogeneous variants of one seed start from the **same** stage-1 model (stage 2 freezes its encoders, stage 3
fine-tunes everything at ``stage3_lr_factor`` times the learning rate). ``no-fusion`` is a stage-1 model given the
**whole** budget (its own run), so that "fusion" and "no fusion" are compared at equal cost; the shorter shared
stage-1 run is only a starting point. The defaults (budget and model sizes) are the recipe of the shipped checkpoints
(``checkpoints/train_shipped.sh``), so those can stand in for the seed-0 runs.

**Selection and test.** Every final model keeps its best epoch by P1 on the validation subject, held out from the
training subjects (the trainer does this); the intermediate stages 1 and 2 of the three-stage recipe keep their last
epoch, as the shipped runs did (``intermediate_selection="best"`` selects them on validation too). The final model is
evaluated **once** on the test subjects: P1, P2, N-MPJPE and MPJVE (mm), per action and per joint, parameters and
multiply-accumulates per output frame, and robustness curves
(:func:`~ehfusion.experiments.robustness.robustness_curves`, on the test sequences of ``robustness_cameras``).

Checkpoints go to ``outputs/experiments/<dataset>_<keypoints>_<key>/`` (not committed; ``key`` changes with the budget
and sizes); each run there resumes where it stopped and a finished run is reused. Results go to ``results/experiments_<keypoints>.json`` (and CSV tables beside
it), one record per (model, seed), written after each record; a re-run skips the records that are there.

Already-trained checkpoints can stand in for seed-0 runs:
``checkpoints={"heterogeneous": "det_three-stage_3_best_epoch.bin", "stage1": "det_three-stage_1_best_epoch.bin"}``
(``stage1`` is the shared stage-1 start of the fusion variants: map it together with a mapped fusion variant, so that
the variants trained for seed 0 start from the same model). Their records say ``"source": "checkpoint"`` and carry the budget the checkpoint was trained with.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence as SequenceOf
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import paths
from ..checkpoints import Checkpoint, load_checkpoint
from ..evaluation import METRICS, evaluate
from ..models import ModelConfig, stage_config
from ..models.introspection import count_macs, parameter_counts, sequence_macs_per_frame
from ..recipe import StageRun, stage_hand_over, train_stage
from .results import MODEL_ORDER, ResultStore, write_tables
from .robustness import DEFAULT_DROPOUT_RATES, DEFAULT_SIGMAS_PX, robustness_curves

__all__ = [
    "MODELS",
    "FUSION_VARIANTS",
    "MAPPABLE",
    "ExperimentConfig",
    "ExperimentData",
    "stage_epochs",
    "default_results_path",
    "motion_split",
    "default_checkpoint_dir",
    "load_experiment_data",
    "run_experiments",
    "evaluate_model",
]

MODELS = MODEL_ORDER
FUSION_VARIANTS = ("fc", "nddr", "heterogeneous")
#: Names accepted in the checkpoint mapping: the models, and the shared stage-1 model of the fusion variants.
MAPPABLE = (*MODELS, "stage1")
#: Fractions of the budget for stages 1, 2, 3 of the three-stage recipe (10 epochs -> 5 + 3 + 2, as shipped).
DEFAULT_STAGE_SPLIT = (0.5, 0.3, 0.2)
#: ExperimentConfig fields that may differ between runs written to one results file.
RUN_ONLY_FIELDS = ("seeds", "models", "device", "threads")
#: The BatchNorm momentum schedule of VideoPose3D's release, used by every result recorded before it was a field.
RELEASE_BN_MOMENTUM = (0.1, 0.001)
#: How the data are split: by subject (the Human3.6M protocol), or also by motion (the dataset's unseen motions are
#: held out of training and validation and are the whole test set).
SPLITS = ("subjects", "motions")
#: ExperimentConfig fields that only change the test evaluation (not the trained weights).
EVALUATION_ONLY_FIELDS = ("robustness", "sigmas_px", "dropout_rates", "robustness_cameras")


@dataclass
class ExperimentConfig:
    """Everything that defines the ablation (the same for every model and seed)."""

    keypoints: str = "det"
    dataset: str = "embedded"
    split: str = "subjects"  # "subjects" (Human3.6M protocol) or "motions" (also hold out the unseen motions)
    seeds: tuple[int, ...] = (0,)
    models: tuple[str, ...] = MODELS
    # ------------------------------------------------------------ budget (identical for every model; the defaults are
    # the shipped checkpoints' recipe, checkpoints/train_shipped.sh, so they can stand in for the seed-0 runs)
    epochs: int = 10
    batch_size: int = 256
    subset: float = 0.5
    lr: float = 1e-3
    lr_decay: float = 0.95
    stage_split: tuple[float, float, float] = DEFAULT_STAGE_SPLIT
    stage3_lr_factor: float = 0.5
    # BatchNorm momentum (start, end) of every model; None: each model's default for the run's length (a constant 0.1
    # for short EHFusion runs, VideoPose3D's decay for the baseline; ehfusion.training.bn_momentum_end_for). Results
    # recorded before this field existed used (0.1, 0.001) for every model.
    bn_momentum: tuple[float, float] | None = None
    intermediate_selection: str = "last"  # stages 1 and 2 of three-stage keep their "last" (or "best") epoch
    # ------------------------------------------------------------ the small CPU model size (the shipped checkpoints'):
    # widths 148 give three-stage EHFusion about the parameters of the VideoPose3D baseline (2.19M against 2.18M)
    filter_widths: tuple[int, ...] = (3, 3, 3)
    channels: int = 148
    latent: int = 148
    hidden: int = 148
    angle_channels: int = 64
    angle_features: int = 32
    camera_features: int = 32
    dropout: float = 0.25
    videopose3d_channels: int = 512
    # ------------------------------------------------------------ data and evaluation
    actions: tuple[str, ...] | None = None
    cameras: tuple[int, ...] | None = None
    val_subjects: tuple[str, ...] | None = None  # default: the dataset's validation subjects (S8)
    flip_tta: bool = True
    robustness: bool = True
    sigmas_px: tuple[float, ...] = DEFAULT_SIGMAS_PX
    dropout_rates: tuple[float, ...] = DEFAULT_DROPOUT_RATES
    robustness_cameras: tuple[int, ...] | None = (0,)
    # ------------------------------------------------------------ machine
    device: str = "auto"
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("seeds", "models", "stage_split", "filter_widths", "sigmas_px", "dropout_rates"):
            setattr(self, name, tuple(getattr(self, name)))
        for name in ("actions", "cameras", "val_subjects", "robustness_cameras", "bn_momentum"):
            if getattr(self, name) is not None:
                setattr(self, name, tuple(getattr(self, name)))
        unknown = [m for m in self.models if m not in MODELS]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
        if not self.seeds:
            raise ValueError("give at least one seed")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.intermediate_selection not in ("last", "best"):
            raise ValueError(f"intermediate_selection must be 'last' or 'best', got {self.intermediate_selection!r}")
        if len(self.stage_split) != 3 or any(f <= 0 for f in self.stage_split):
            raise ValueError(f"stage_split needs three positive fractions (stage 1, 2, 3), got {self.stage_split}")
        stage_epochs(self.epochs, self.stage_split)  # raises for budgets too small to split

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping) -> ExperimentConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("bn_momentum", RELEASE_BN_MOMENTUM)  # written before the field existed
        values.setdefault("split", "subjects")
        return cls(**values)

    def training_key(self) -> str:
        """Eight hex digits that change with every field that shapes the trained weights."""
        fields = {k: v for k, v in self.comparable().items() if k not in EVALUATION_ONLY_FIELDS}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:8]

    def comparable(self) -> dict:
        """The fields that must agree between runs stored in one results file."""
        return {k: v for k, v in self.to_dict().items() if k not in RUN_ONLY_FIELDS}

    # ------------------------------------------------------------ model configurations
    def ehfusion_config(self, fusion: str = "heterogeneous") -> ModelConfig:
        return ModelConfig(
            filter_widths=self.filter_widths, channels=self.channels, latent=self.latent, hidden=self.hidden,
            angle_channels=self.angle_channels, angle_features=self.angle_features,
            camera_features=self.camera_features, dropout=self.dropout, fusion=fusion,
        )

    def model_config(self, model: str, stage: int = 1) -> ModelConfig:
        """The :class:`ModelConfig` of one model of the ablation (of one stage for the three-stage variants)."""
        if model == "videopose3d":
            return ModelConfig(architecture="videopose3d", filter_widths=self.filter_widths,
                               channels=self.videopose3d_channels, dropout=self.dropout)
        if model in ("no-fusion", "stage1"):
            return self.ehfusion_config("none")  # branches ("unfused",): encoders and plain decoders
        if model in FUSION_VARIANTS:
            return stage_config(self.ehfusion_config(model), "three-stage", stage)
        if model == "one-stage":
            return stage_config(self.ehfusion_config("heterogeneous"), "one-stage")
        if model == "one-stage-detached":
            detached = dataclasses.replace(self.ehfusion_config("heterogeneous"), detach_fusion_input=True)
            return stage_config(detached, "one-stage")
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MAPPABLE)}")


def stage_epochs(epochs: int, split: SequenceOf[float] = DEFAULT_STAGE_SPLIT) -> tuple[int, int, int]:
    """Split a budget of ``epochs`` over the three stages by the fractions ``split`` (rounded half up): every stage
    gets at least one epoch and the three add up to ``epochs`` exactly (stage 3 takes the rounding remainder)."""
    if epochs < 3:
        raise ValueError(f"a budget of {epochs} epoch(s) cannot be split over three stages; give at least 3 epochs")
    total = float(sum(split))
    first = max(1, math.floor(epochs * split[0] / total + 0.5))
    second = max(1, math.floor(epochs * split[1] / total + 0.5))
    first = min(first, epochs - 2)
    second = min(second, epochs - first - 1)
    return first, second, epochs - first - second


def default_results_path(keypoints: str, split: str = "subjects") -> Path:
    """``results/experiments_<keypoints>.json``; the unseen-motion split's is ``..._<keypoints>_motions.json``."""
    suffix = "" if split == "subjects" else f"_{split}"
    return paths.REPO_DIR / "results" / f"experiments_{keypoints}{suffix}.json"


def motion_split(dataset, actions=None) -> tuple[list[str], list[str]]:
    """``(seen, unseen)`` action base names of the unseen-motion split (``dataset.spec.unseen_motions`` are unseen)."""
    unseen = set(dataset.spec.unseen_motions)
    if not unseen:
        raise ValueError(f"the {dataset.spec.name} dataset defines no unseen motions; use split='subjects'")
    names = list(actions) if actions else sorted({a.split(" ")[0] for s in dataset.subjects for a in dataset.actions(s)})
    seen, held_out = [a for a in names if a not in unseen], [a for a in names if a in unseen]
    if not seen or not held_out:
        raise ValueError(f"the unseen-motion split needs seen and unseen actions; unseen are {sorted(unseen)}, "
                         f"the chosen actions {names}")
    return seen, held_out


def default_checkpoint_dir(config: ExperimentConfig) -> Path:
    """``outputs/experiments/<dataset>_<keypoints>_<key>``: ``key`` is a short hash of everything that shapes the
    trained weights (budget, sizes, data selection; not the seeds, models or robustness levels), so experiments with
    different settings never share or overwrite each other's checkpoints."""
    return paths.OUTPUT_DIR / "experiments" / f"{config.dataset}_{config.keypoints}_{config.training_key()}"


# ---------------------------------------------------------------------------------------------------------- data
@dataclass
class ExperimentData:
    """The sequences of the ablation: training, validation (best epoch), test, and the robustness subset of test."""

    skeleton: object
    cameras: Mapping
    val_subjects: tuple[str, ...]
    train: list
    validation: list
    test: list
    robustness: list

    @property
    def training_windows(self) -> int:
        return sum(len(s) for s in self.train)


def load_experiment_data(config: ExperimentConfig, dataset=None) -> ExperimentData:
    """Load the dataset (or use ``dataset``, a :class:`~ehfusion.data.PoseDataset`) and split it by subject (and by
    motion for ``split="motions"``: training and validation see no unseen motion, the test set holds only those)."""
    from ..training import split_validation

    if dataset is None:
        from ..data import load_dataset

        dataset = load_dataset(config.dataset, keypoints=config.keypoints)
    train_subjects = list(dataset.split_subjects("train"))
    test_subjects = list(dataset.split_subjects("test"))
    val_subjects = list(config.val_subjects or dataset.split_subjects("validation"))
    train_actions = test_actions = config.actions
    if config.split == "motions":
        train_actions, test_actions = motion_split(dataset, config.actions)
    train_all = dataset.sequences(train_subjects, train_actions, config.cameras)
    train, validation = split_validation(train_all, val_subjects)
    test = dataset.sequences(test_subjects, test_actions, config.cameras)
    if not test:
        raise ValueError(f"no test sequences for subjects {test_subjects} with the chosen actions/cameras")
    robust = test if config.robustness_cameras is None else [s for s in test if s.camera in config.robustness_cameras]
    if config.robustness and not robust:
        raise ValueError(f"no test sequences of cameras {config.robustness_cameras} for the robustness curves; "
                         "choose other robustness_cameras (or None for all)")
    return ExperimentData(dataset.skeleton, dataset.cameras, tuple(val_subjects), train, validation, test, robust)


# ---------------------------------------------------------------------------------------------------------- training
def _train_config(config: ExperimentConfig, data: ExperimentData, seed: int, epochs: int, lr: float,
                  validate: bool = True, architecture: str = "ehfusion"):
    from ..training import TrainConfig, bn_momentum_end_for

    start, end = config.bn_momentum or (0.1, bn_momentum_end_for(epochs, 0.1, architecture=architecture))
    return TrainConfig(
        epochs=epochs, batch_size=config.batch_size, lr=lr, lr_decay=config.lr_decay, seed=seed,
        device=config.device, val_subjects=data.val_subjects, subset=config.subset,
        flip_tta=config.flip_tta, num_threads=config.threads, validate=validate,
        bn_momentum_start=start, bn_momentum_end=end,
    )


# ---------------------------------------------------------------------------------------------------------- evaluation
def evaluate_model(model: torch.nn.Module, data: ExperimentData, config: ExperimentConfig, seed: int = 0,
                   progress: bool = False) -> dict:
    """Test-set numbers of one model: metrics (mm), per action, per joint, sizes and robustness curves.

    Sizes are counted on the CPU; the evaluation runs on ``config.device`` (CUDA when "auto" finds it).
    """
    from ..training import resolve_device

    model = model.cpu().eval()
    out = {
        "params": parameter_counts(model)["total"],
        "macs_per_frame": count_macs(model),
        "macs_per_frame_sequence": sequence_macs_per_frame(model),
        "test_frames": int(sum(len(s) for s in data.test)),
    }
    model.to(resolve_device(config.device))
    try:
        result = evaluate(model, data.test, config.flip_tta, skeleton=data.skeleton, progress=progress)
        out["metrics"] = {m: result.overall[m] for m in METRICS}
        out["per_action"] = result.per_action.to_dict("records")
        out["per_joint"] = result.per_joint.to_dict("records")
        if config.robustness:
            curves = robustness_curves(model, data.robustness, config.sigmas_px, config.dropout_rates, seed=seed,
                                       flip_tta=config.flip_tta, cameras=data.cameras, skeleton=data.skeleton,
                                       progress=progress)
            out["robustness"] = curves.to_dict("records")
            out["robustness_sequences"] = len(data.robustness)
    finally:
        model.cpu()
    return out


def _display_path(path: Path) -> str:
    """A checkpoint path for the results file: relative to the repository when inside it (no machine paths)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(paths.REPO_DIR))
    except ValueError:
        return path.name


# ---------------------------------------------------------------------------------------------------------- mapping
def _check_mapped(name: str, ckpt: Checkpoint, config: ExperimentConfig) -> None:
    """Refuse a mapped checkpoint that is not the kind of model it stands in for."""
    meta, cfg = ckpt.meta, ckpt.config
    if meta.get("keypoints") and meta["keypoints"] != config.keypoints:
        raise ValueError(f"checkpoint {ckpt.name} was trained on {meta['keypoints']!r} keypoints, but these "
                         f"experiments use {config.keypoints!r}; map a checkpoint of the same keypoints")
    expected = {
        "videopose3d": lambda: cfg.architecture == "videopose3d",
        "no-fusion": lambda: cfg.architecture == "ehfusion" and cfg.branches == ("unfused",),
        "stage1": lambda: cfg.architecture == "ehfusion" and cfg.branches == ("unfused",),
        "one-stage": lambda: cfg.architecture == "ehfusion" and cfg.branches == ("unfused", "fused")
        and cfg.fusion == "heterogeneous",
    }
    for variant in FUSION_VARIANTS:
        expected[variant] = (lambda v=variant: cfg.architecture == "ehfusion" and cfg.branches == ("fused",)
                             and cfg.fusion == v and meta.get("stage") == 3)
    if name not in expected:
        raise ValueError(f"cannot map a checkpoint to {name!r}; names: {', '.join(MAPPABLE)}")
    if not expected[name]():
        raise ValueError(f"checkpoint {ckpt.name} ({ckpt.describe()}) is not a {name!r} model; see "
                         f"ehfusion.experiments.runner's docstring for what each name means")


def _load_mapping(mapping: Mapping[str, str] | None, config: ExperimentConfig) -> dict[str, Checkpoint]:
    loaded = {}
    for name, path in (mapping or {}).items():
        if name not in MAPPABLE:
            raise ValueError(f"unknown model {name!r} in the checkpoint mapping; names: {', '.join(MAPPABLE)}")
        ckpt = load_checkpoint(path)
        _check_mapped(name, ckpt, config)
        loaded[name] = ckpt
    return loaded


SIZE_FIELDS = ("architecture", "filter_widths", "channels", "latent", "hidden", "angle_channels", "angle_features",
               "camera_features", "camera_hidden", "dropout", "fusion", "causal")


def size_differences(actual: ModelConfig, expected: ModelConfig) -> dict:
    """``{field: [checkpoint's value, experiment's value]}`` for the model fields that differ."""
    a, e = actual.to_dict(), expected.to_dict()
    fields = [k for k in SIZE_FIELDS if k not in actual.unbuilt_fields]
    return {k: [a[k], e[k]] for k in fields if a.get(k) != e.get(k)}


def checkpoint_budget(meta: Mapping) -> dict:
    """The training budget of a given checkpoint's run, from its metadata: the epochs of each stage (earlier stages from
    ``stage_histories``, the file's own stage from its ``train_config``) and their sum."""
    train = meta.get("train_config", {}) or {}
    earlier = [len(history) for _, history in sorted((meta.get("stage_histories") or {}).items())]
    stage_epochs = [*earlier, train.get("epochs")]
    return {"epochs": None if None in stage_epochs else sum(stage_epochs), "stage_epochs": stage_epochs,
            "batch_size": train.get("batch_size"), "subset": train.get("subset"),
            "note": "as trained for the given checkpoint (may differ from the experiment's budget)"}


# ---------------------------------------------------------------------------------------------------------- runner
class _SeedRuns:
    """The trained stages of one seed, built on demand and shared between the models that need them."""

    def __init__(self, config: ExperimentConfig, data: ExperimentData, seed: int, directory: Path,
                 mapped: Mapping[str, Checkpoint], progress: bool) -> None:
        self.config, self.data, self.seed, self.directory = config, data, seed, directory
        self.mapped = mapped
        self.progress = progress
        self.e1, self.e2, self.e3 = stage_epochs(config.epochs, config.stage_split)
        self._stage1: StageRun | None = None

    def _info(self, strategy: str, stage: int) -> dict:
        return {"strategy": strategy, "stage": stage, "dataset": self.config.dataset,
                "keypoints": self.config.keypoints}

    def _train(self, model_config, epochs, lr, name, info, initialise=None, intermediate=False) -> StageRun:
        validate = not intermediate or self.config.intermediate_selection == "best"
        train_config = _train_config(self.config, self.data, self.seed, epochs, lr, validate,
                                     architecture=model_config.architecture)
        return train_stage(model_config, train_config, self.data.train, self.data.validation,
                           skeleton=self.data.skeleton, directory=self.directory, name=name, run_info=info,
                           initialise=initialise, progress=self.progress)

    def stage1(self) -> StageRun:
        if self._stage1 is None:
            if "stage1" in self.mapped:
                ckpt = self.mapped["stage1"]
                self._stage1 = StageRun(ckpt, int(ckpt.meta.get("epoch", 0)), ckpt.meta.get("best_epoch"), 0.0, True)
            else:
                self._stage1 = self._train(self.config.model_config("stage1"), self.e1, self.config.lr,
                                           f"stage1_seed{self.seed}_best_epoch.bin", self._info("three-stage", 1),
                                           intermediate=True)
        return self._stage1

    def train(self, model: str) -> tuple[Checkpoint, dict]:
        """Train one model of the ablation; returns its best checkpoint and the record fields about training."""
        cfg, lr, seed = self.config, self.config.lr, self.seed
        if model == "videopose3d":
            run = self._train(cfg.model_config(model), cfg.epochs, lr, f"videopose3d_seed{seed}_best_epoch.bin",
                              self._info("baseline", 1))
            return run.checkpoint, self._fields([run], [cfg.epochs])
        if model == "no-fusion":
            run = self._train(cfg.model_config(model), cfg.epochs, lr, f"no-fusion_seed{seed}_best_epoch.bin",
                              self._info("three-stage", 1))
            return run.checkpoint, self._fields([run], [cfg.epochs])
        if model in ("one-stage", "one-stage-detached"):
            run = self._train(cfg.model_config(model), cfg.epochs, lr, f"{model}_seed{seed}_best_epoch.bin",
                              self._info("one-stage", 1))
            return run.checkpoint, self._fields([run], [cfg.epochs])
        if model in FUSION_VARIANTS:
            first = self.stage1()
            second = self._train(
                cfg.model_config(model, 2), self.e2, lr, f"{model}_stage2_seed{seed}_best_epoch.bin",
                self._info("three-stage", 2),
                initialise=stage_hand_over(2, first.checkpoint.state["model_state"]),
                intermediate=True)
            third = self._train(
                cfg.model_config(model, 3), self.e3, lr * cfg.stage3_lr_factor, f"{model}_seed{seed}_best_epoch.bin",
                self._info("three-stage", 3),
                initialise=stage_hand_over(3, second.checkpoint.state["model_state"]))
            fields = self._fields([first, second, third], [self.e1, self.e2, self.e3])
            fields["shared_stage1"] = _display_path(first.checkpoint.path)
            return third.checkpoint, fields
        raise ValueError(f"unknown model {model!r}")

    def _fields(self, runs: SequenceOf[StageRun], epochs: SequenceOf[int]) -> dict:
        return {
            "budget": {"epochs": int(sum(epochs)), "stage_epochs": [int(e) for e in epochs],
                       "batch_size": self.config.batch_size, "subset": self.config.subset,
                       "windows_per_epoch": int(self.data.training_windows * self.config.subset)},
            "best_epochs": [r.best_epoch for r in runs],
            "train_seconds": float(sum(r.seconds for r in runs)),
        }


def run_experiments(
    config: ExperimentConfig,
    *,
    results_path: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoints: Mapping[str, str] | None = None,
    dataset=None,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> ResultStore:
    """Run the ablation of ``config`` (every model x seed not yet in the results file) and return the results.

    ``checkpoints`` maps model names (and ``"stage1"``) to already-trained checkpoints used as the seed-0 runs.
    ``dataset`` overrides loading ``config.dataset`` (tests pass a small one). The results file (default
    ``results/experiments_<keypoints>.json``) and its CSV tables are rewritten after each record.
    """
    if config.threads:
        torch.set_num_threads(int(config.threads))
    results_path = Path(results_path) if results_path is not None else default_results_path(config.keypoints)
    directory = Path(checkpoint_dir) if checkpoint_dir is not None else default_checkpoint_dir(config)
    store = ResultStore(results_path, config.comparable(), overwrite=overwrite)
    mapped = _load_mapping(checkpoints, config)
    trained_variants = [m for m in config.models if m in FUSION_VARIANTS and m not in mapped]
    if 0 in config.seeds and "stage1" not in mapped and trained_variants and set(FUSION_VARIANTS) & set(mapped):
        log(f"note: seed 0's {', '.join(trained_variants)} will start from a newly trained stage 1, not from the "
            "stage 1 of the mapped fusion checkpoint(s); map it too (stage1=...) to share it")
    todo = [(seed, model) for seed in config.seeds for model in config.models if not store.has(model, seed)]
    skipped = len(config.seeds) * len(config.models) - len(todo)
    if skipped:
        log(f"{skipped} run(s) already in {results_path}: skipped")
    if not todo:
        return store
    data = load_experiment_data(config, dataset)
    split = "+".join(map(str, stage_epochs(config.epochs, config.stage_split)))
    log(f"{len(todo)} run(s) on {config.dataset}/{config.keypoints}: {len(data.train)} training sequences "
        f"({data.training_windows} windows), {len(data.validation)} validation, {len(data.test)} test; "
        f"budget {config.epochs} epochs (three-stage {split})")
    seed_runs: dict[int, _SeedRuns] = {}
    for seed, model in todo:
        runs = seed_runs.setdefault(seed, _SeedRuns(config, data, seed, directory,
                                                    mapped if seed == 0 else {}, progress))
        start = time.perf_counter()
        if seed == 0 and model in mapped:
            ckpt = mapped[model]
            stage = 3 if model in FUSION_VARIANTS else 1
            differs = size_differences(ckpt.config, config.model_config(model, stage))
            fields = {"source": "checkpoint", "budget": checkpoint_budget(ckpt.meta), "best_epochs": [ckpt.meta.get(
                "best_epoch")], "train_seconds": None, "differs_from_experiment": differs}
            log(f"[seed {seed}] {model}: evaluating the given checkpoint {ckpt.path}" +
                (f" (differs from the experiment's model: {differs})" if differs else ""))
        else:
            log(f"[seed {seed}] {model}: training")
            ckpt, fields = runs.train(model)
            fields["source"] = "trained"
        record = {"model": model, "seed": seed, "checkpoint": _display_path(ckpt.path),
                  "model_config": ckpt.config.to_dict(),
                  "validation_P1": ckpt.meta.get("best_metric"),  # the selection criterion (validation subjects)
                  **fields}
        record.update(evaluate_model(ckpt.model, data, config, seed=seed, progress=progress))
        record["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        store.add(record)
        write_tables(store, results_path.with_suffix(""))
        m = record["metrics"]
        log(f"[seed {seed}] {model}: P1 {m['P1']:.1f} mm, P2 {m['P2']:.1f} mm, MPJVE {m['MPJVE']:.2f} mm, "
            f"{record['params'] / 1e6:.2f}M parameters ({time.perf_counter() - start:.0f} s)")
    return store
