"""Checkpoint files: one documented format for training runs, resuming, the shipped models and evaluation.

A checkpoint is a plain ``dict`` written with :func:`torch.save` through :func:`ehfusion.io.atomic_write` (an
interrupted write never leaves a half-written file) and read back with ``torch.load(weights_only=True)``: it holds
only tensors, dicts, lists, tuples, strings, numbers, booleans and ``None``, so loading a file never runs code.

=================== ============================ ====================================================================
key                 type                         meaning
=================== ============================ ====================================================================
``format_version``  int                          :data:`FORMAT_VERSION`; newer files are refused with a clear error
``model_config``    dict                         ``ModelConfig.to_dict()``: enough to rebuild the model
``strategy``        str                          ``"one-stage"``, ``"three-stage"`` or ``"baseline"``
``stage``           int                          training stage (1 for one-stage and baseline; 1, 2 or 3)
``dataset``         str                          dataset it was trained on (``"embedded"``, ``"h36m"``, ...)
``keypoints``       str                          2D keypoints it was trained on (``"gt"``, ``"det"``, ...)
``data``            dict                         subjects and actions used: ``train_subjects``, ``val_subjects``,
                                                 ``test_subjects``, ``actions`` (``None`` = all); ``{}`` if unknown
``layout``          str                          skeleton layout (``"h36m"``, ``"humaneva15"``)
``receptive_field`` int                          input frames per output frame
``epoch``           int                          completed training epochs when the file was written
``best_epoch``      int or None                  epoch (1-based) with the best validation error so far
``best_metric``     float or None                that validation error (P1 of the answer branch, mm)
``model_state``     dict[str, Tensor]            ``model.state_dict()`` on the CPU
``optimizer_state`` dict or None                 optimiser state for exact resuming (dropped in shipped files)
``scheduler_state`` dict or None                 learning-rate scheduler state (same)
``rng_state``       dict or None                 torch / CUDA / NumPy / Python random states (same)
``metrics``         dict                         latest numbers, e.g. ``{"val_p1_fused": 52.1}`` (mm)
``history``         list[dict]                   one dict per epoch: losses, validation errors, lr, seconds
``run_history``     list[dict], optional         shipped files only: the whole run's ``history`` (past the best epoch)
``stage_histories`` dict, optional               shipped staged files only: ``{"1": history, "2": ...}`` of earlier stages
``train_config``    dict                         ``TrainConfig.to_dict()`` (``{}`` when not trained here)
``created``         str                          ISO 8601 time stamp (UTC)
``versions``        dict                         ``{"ehfusion": ..., "torch": ...}`` that wrote the file
=================== ============================ ====================================================================

:func:`load_checkpoint` turns a file (a path or a bare name looked up in ``ehfusion.paths.CHECKPOINT_DIR``) into a
:class:`Checkpoint` with the model rebuilt, weights loaded, in eval mode on the CPU. :func:`check_compatible` refuses
a checkpoint that does not match the model a command line asks for, naming each differing field with both values.

Every file read is checked against this schema (:func:`check_schema`: the types above, ``format_version`` >= 1,
``stage`` 1-3, counts >= 0, the model sizes of :data:`CONFIG_LIMITS` and at most :data:`MAX_MODEL_PARAMETERS`
estimated parameters) *before* a model is built, so a damaged or hostile file is a :class:`ehfusion.errors.CheckpointError`
naming the field, never a crash or a huge allocation. A failed write (a full disk) is an
:class:`ehfusion.errors.OutputPathError` and leaves the previous file as it was.

Older files, one conversion: models without a ``"fused"`` branch (stage 1 of the command line) used to carry an
unused fusion module. :func:`read_checkpoint` drops such a file's ``fusion.*`` weights, and their entries in its
optimiser state, so it loads into (and resumes with) today's model (:func:`drop_unbuilt_fusion`).
"""
from __future__ import annotations

import datetime as _dt
import math
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from . import paths
from .errors import CheckpointError, EHFusionError, write_error
from .io import atomic_write

__all__ = [
    "FORMAT_VERSION",
    "STATE_KEYS",
    "Checkpoint",
    "save_checkpoint",
    "read_checkpoint",
    "load_checkpoint",
    "resolve_checkpoint",
    "list_checkpoints",
    "describe",
    "check_compatible",
    "write_payload",
    "comparable",
    "default_directories",
    "check_schema",
    "drop_unbuilt_fusion",
    "CONFIG_LIMITS",
    "MAX_MODEL_PARAMETERS",
]

FORMAT_VERSION = 1
#: Keys holding weights and training state; everything else is metadata (``Checkpoint.meta``).
STATE_KEYS = ("model_state", "optimizer_state", "scheduler_state", "rng_state")
REQUIRED_KEYS = ("format_version", "model_config", "strategy", "stage", "model_state")
SUFFIXES = (".bin", ".pt", ".pth")
#: Allowed ranges of the stored model config's numbers (far beyond any trained model, far below a runaway allocation).
SIZE_FIELDS = ("channels", "latent", "hidden", "angle_channels", "angle_features", "camera_features", "camera_hidden")
CONFIG_LIMITS = {
    **{name: (1, 8192) for name in SIZE_FIELDS},
    **{name: (0, 64) for name in ("global_blocks", "decoder_blocks", "fusion_blocks")},
}
MAX_FILTER_WIDTHS, MAX_FILTER_WIDTH = 12, 243
#: Largest model a checkpoint may describe, by :func:`estimated_parameters` (4 GB of float32 weights).
MAX_MODEL_PARAMETERS = 1_000_000_000


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model (``None`` when loaded with ``build=False``), its config and metadata."""

    path: Path
    config: Any                 # ehfusion.models.ModelConfig
    meta: dict
    model: torch.nn.Module | None = None
    state: dict = field(default_factory=dict, repr=False)   # the model/optimiser/scheduler/rng states

    @property
    def name(self) -> str:
        return self.path.name

    def describe(self) -> str:
        """One line: strategy, stage, keypoints, model size, epochs and the best validation error."""
        return describe(self.meta)


# ------------------------------------------------------------------------------------------------------------- writing
def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ehfusion")
    except PackageNotFoundError:
        return "unknown"


def _to_cpu(obj):
    """Copy every tensor of a nested structure to the CPU (so files load anywhere)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, Mapping):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _plain(obj, where: str = "checkpoint"):
    """Check that ``obj`` only holds types ``torch.load(weights_only=True)`` accepts; numpy scalars become Python."""
    if obj is None or isinstance(obj, torch.Tensor) or type(obj) in (str, bool, int, float):
        return obj
    for base in (str, bool, int, float):  # subclasses (e.g. torch.__version__) would need allow-listing
        if isinstance(obj, base):
            return base(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, Mapping):
        return {k: _plain(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v, f"{where}[{i}]") for i, v in enumerate(obj))
    raise TypeError(
        f"{where} holds a {type(obj).__name__}, which torch.load(weights_only=True) cannot read back; "
        "store tensors, dicts, lists, strings, numbers, booleans or None"
    )


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    *,
    model_config: Any,
    strategy: str,
    stage: int,
    dataset: str,
    keypoints: str,
    epoch: int,
    best_epoch: int | None = None,
    best_metric: float | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    rng_state: dict | None = None,
    metrics: Mapping | None = None,
    history: Sequence[Mapping] | None = None,
    train_config: Mapping | None = None,
    data: Mapping | None = None,
) -> Path:
    """Write a checkpoint atomically (see the module docstring for the format) and return its path.

    ``model_config`` is a ``ModelConfig`` (or its dict). Leave ``optimizer``, ``scheduler`` and ``rng_state`` out
    for a small file that can be evaluated and fine-tuned but not resumed exactly.
    """
    config = model_config.to_dict() if hasattr(model_config, "to_dict") else dict(model_config)
    payload = {
        "format_version": FORMAT_VERSION,
        "model_config": config,
        "strategy": str(strategy),
        "stage": int(stage),
        "dataset": str(dataset),
        "keypoints": str(keypoints),
        "data": dict(data or {}),
        "layout": str(config.get("layout", "")),
        "receptive_field": int(getattr(model, "receptive_field", 0)),
        "epoch": int(epoch),
        "best_epoch": None if best_epoch is None else int(best_epoch),
        "best_metric": None if best_metric is None else float(best_metric),
        "model_state": _to_cpu(model.state_dict()),
        "optimizer_state": None if optimizer is None else _to_cpu(optimizer.state_dict()),
        "scheduler_state": None if scheduler is None else _to_cpu(scheduler.state_dict()),
        "rng_state": rng_state,
        "metrics": dict(metrics or {}),
        "history": [dict(h) for h in (history or [])],
        "train_config": dict(train_config or {}),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"ehfusion": _package_version(), "torch": torch.__version__},
    }
    payload = _plain(payload)
    path = Path(path)
    write_payload(path, payload)
    return path


def write_payload(path: Path, payload: dict) -> None:
    """Write a checkpoint dict atomically; a failed write (a full disk) is an ``OutputPathError``."""
    """``torch.save`` through :func:`atomic_write`; an ``OSError`` becomes an :class:`OutputPathError`."""
    try:
        with atomic_write(path) as handle:
            torch.save(payload, handle)
    except OSError as err:
        raise write_error(path, "checkpoint", err,
                          fix="free some space or write elsewhere (-c FOLDER)" if err.errno == 28 else None) from err


# ------------------------------------------------------------------------------------------------------------- finding
def default_directories() -> list[Path]:
    """Where bare checkpoint names are looked up: ``CHECKPOINT_DIR`` then its ``runs/`` folder."""
    return [paths.CHECKPOINT_DIR, paths.CHECKPOINT_DIR / "runs"]


def _checkpoint_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in SUFFIXES and not p.name.startswith("."))


def resolve_checkpoint(name: str | Path, directories: Iterable[str | Path] | None = None) -> Path:
    """Turn a path or a bare checkpoint name into an existing file.

    An existing path wins; otherwise ``name`` (and ``name + '.bin'``) is looked up in each of ``directories``
    (default :func:`default_directories`). A miss raises ``FileNotFoundError`` listing the checkpoints that exist.
    """
    name = Path(name).expanduser()
    if name.is_file():
        return name.resolve()
    dirs = [Path(d).expanduser() for d in (directories if directories is not None else default_directories())]
    candidates = [name.name] + ([name.name + ".bin"] if not name.suffix else [])
    if len(name.parts) == 1:
        for directory in dirs:
            for candidate in candidates:
                if (directory / candidate).is_file():
                    return (directory / candidate).resolve()
    found = [f"{d}: {', '.join(p.name for p in _checkpoint_files(d)) or '(none)'}" for d in dirs]
    raise FileNotFoundError(
        f"checkpoint {str(name)!r} not found (looked at the path itself and in "
        f"{', '.join(str(d) for d in dirs)}).\nCheckpoints that exist:\n  " + "\n  ".join(found) +
        "\nPass an existing path, a name from the list above, or a different folder with -c."
    )


# ------------------------------------------------------------------------------------------------------------- reading
def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read the raw checkpoint dict safely (``weights_only=True``) and check its format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except OSError as err:
        raise CheckpointError(f"{path} cannot be read ({err.strerror or err}); check its permissions") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, ValueError, TypeError, KeyError,
            IndexError) as err:  # what torch.load raises on damaged bytes or disallowed objects
        lines = str(err).splitlines() or [""]
        reason = next((line.strip() for line in lines if "WeightsUnpickler error" in line), lines[0])
        raise CheckpointError(
            f"{path} could not be read as an ehfusion checkpoint ({type(err).__name__}: {reason}). "
            "Files from the original release (or VideoPose3D) store other objects and are not supported; "
            "train a model with `python -m ehfusion.run_onestage` or use a checkpoint from checkpoints/."
        ) from None
    if not isinstance(payload, dict) or any(k not in payload for k in REQUIRED_KEYS):
        missing = [k for k in REQUIRED_KEYS if not isinstance(payload, dict) or k not in payload]
        raise CheckpointError(
            f"{path} is not an ehfusion checkpoint (missing {', '.join(missing)}); "
            "checkpoints are written by ehfusion.training / ehfusion.checkpoints.save_checkpoint"
        )
    check_schema(payload, path)
    return drop_unbuilt_fusion(payload, path)


#: The persistent buffers of the models (BatchNorm statistics); every other key of a model state is a parameter.
BUFFER_NAMES = ("running_mean", "running_var", "num_batches_tracked")


def drop_unbuilt_fusion(payload: dict, path: str | Path = "checkpoint") -> dict:
    """Convert a file written when models without a ``"fused"`` branch still carried an unused fusion module.

    The ``fusion.*`` weights of such a model go; so do their entries in the optimiser state (the model's parameters
    in ``model_state`` order, every one given to the optimiser: nothing is frozen in stage 1), which is renumbered so
    that the file still resumes exactly. Any other payload is returned unchanged.
    """
    config = _model_config(payload["model_config"], path)
    state = payload["model_state"]
    unbuilt = [name for name in state if name.startswith("fusion.")] if not config.builds_fusion else []
    if not unbuilt:
        return payload
    converted = dict(payload, model_state={k: v for k, v in state.items() if k not in unbuilt})
    optimizer = payload.get("optimizer_state")
    if optimizer is not None:
        old_parameters = [name for name in state if name.rsplit(".", 1)[-1] not in BUFFER_NAMES]
        indices = [i for group in optimizer["param_groups"] for i in group["params"]]
        if sorted(indices) != list(range(len(old_parameters))):
            raise CheckpointError(f"{path}: its optimiser state does not list the model's {len(old_parameters)} "
                                  "parameters, so its unused fusion weights cannot be dropped; resume from a "
                                  "newer file or start the run again")
        kept = [i for i, name in enumerate(old_parameters) if name not in unbuilt]
        renumber = {old: new for new, old in enumerate(kept)}
        converted["optimizer_state"] = {
            "state": {renumber[i]: v for i, v in optimizer["state"].items() if i in renumber},
            "param_groups": [dict(group, params=[renumber[i] for i in group["params"] if i in renumber])
                             for group in optimizer["param_groups"]],
        }
    return converted


# ------------------------------------------------------------------------------------------------------------- schema
def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value) -> str:
    return f"{type(value).__name__} {value!r}" if isinstance(value, (str, int, float, bool)) and \
        len(repr(value)) < 60 else type(value).__name__


#: Metadata keys: (check, what is expected). Keys not listed are not checked; missing optional keys are fine.
_META_SCHEMA = {
    "strategy": (lambda v: isinstance(v, str), "a string such as 'one-stage'"),
    "stage": (lambda v: _is_int(v) and 1 <= v <= 3, "an integer 1, 2 or 3"),
    "dataset": (lambda v: isinstance(v, str), "a dataset name (string)"),
    "keypoints": (lambda v: isinstance(v, str), "a keypoint source name (string)"),
    "layout": (lambda v: isinstance(v, str), "a layout name (string)"),
    "receptive_field": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "epoch": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "best_epoch": (lambda v: v is None or (_is_int(v) and v >= 0), "None or an integer >= 0"),
    "best_metric": (lambda v: v is None or _is_number(v), "None or a number (mm)"),
    "data": (lambda v: isinstance(v, dict), "a dict"),
    "metrics": (lambda v: isinstance(v, dict), "a dict"),
    "history": (lambda v: isinstance(v, list) and all(isinstance(h, dict) for h in v), "a list of dicts"),
    "train_config": (lambda v: isinstance(v, dict), "a dict"),
    "created": (lambda v: isinstance(v, str), "an ISO 8601 time stamp (string)"),
    "versions": (lambda v: isinstance(v, dict), "a dict"),
    "model_state": (lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(t, torch.Tensor)
                                                          for k, t in v.items()), "a dict {name: tensor}"),
    "optimizer_state": (lambda v: v is None or isinstance(v, dict), "None or a dict"),
    "scheduler_state": (lambda v: v is None or isinstance(v, dict), "None or a dict"),
    "rng_state": (lambda v: v is None or isinstance(v, dict), "None or a dict"),
}

#: ``model_config`` fields that are not sizes: (check, what is expected).
_CONFIG_SCHEMA = {
    "layout": (lambda v: isinstance(v, str), "a layout name (string)"),
    "architecture": (lambda v: isinstance(v, str), "a string ('ehfusion' or 'videopose3d')"),
    "fusion": (lambda v: isinstance(v, str), "a string ('heterogeneous', 'fc', 'nddr' or 'none')"),
    "causal": (lambda v: isinstance(v, bool), "True or False"),
    "detach_fusion_input": (lambda v: isinstance(v, bool), "True or False"),
    "dropout": (lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "branches": (lambda v: v is None or (isinstance(v, (list, tuple)) and all(isinstance(b, str) for b in v)),
                 "None or a list of branch names"),
    "filter_widths": (lambda v: isinstance(v, (list, tuple)) and 1 <= len(v) <= MAX_FILTER_WIDTHS
                      and all(_is_int(w) and 1 <= w <= MAX_FILTER_WIDTH for w in v),
                      f"a list of 1 to {MAX_FILTER_WIDTHS} integers in 1..{MAX_FILTER_WIDTH}, e.g. [3, 3, 3]"),
}


def estimated_parameters(config: Mapping) -> int:
    """An upper estimate of the parameters of the model ``config`` describes, without building it.

    Every layer is at most ``widest size`` squared times its filter width (sizes below 64 count as 64: the joint
    inputs and outputs); per temporal layer and residual block there are at most 16 such layers over all groups and
    branches (the models have about 10). The VideoPose3D baseline only has ``channels``. Defaults fill missing fields.
    """
    from .models import ModelConfig

    default = ModelConfig()
    used = ("channels",) if config.get("architecture") == "videopose3d" else SIZE_FIELDS
    widest = max(64, *(int(config.get(name, getattr(default, name))) for name in used))
    widths = config.get("filter_widths", default.filter_widths)
    blocks = sum(int(config.get(name, getattr(default, name))) for name in ("global_blocks", "decoder_blocks",
                                                                            "fusion_blocks"))
    return 16 * widest ** 2 * (sum(int(w) for w in widths) + blocks + 1)


def check_schema(payload: Mapping, path: str | Path = "checkpoint") -> None:
    """Raise :class:`CheckpointError` unless ``payload`` follows the checkpoint format (types, ranges, model size).

    The message names the field, what it holds and what is expected. Called by :func:`read_checkpoint`, so nothing
    is built from a file that fails it.
    """
    version = payload.get("format_version")
    if not _is_int(version) or version < 1:
        raise CheckpointError(f"{path}: format_version is {_kind(version)}, expected an integer >= 1; the file is "
                              "damaged or not an ehfusion checkpoint")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {version}, newer than this ehfusion understands "
            f"({FORMAT_VERSION}); update the ehfusion package"
        )
    fix = "the file is damaged or was not written by ehfusion; use another checkpoint or train one"
    for key, (valid, expected) in _META_SCHEMA.items():
        if key in payload and not valid(payload[key]):
            raise CheckpointError(f"{path}: {key} is {_kind(payload[key])}, expected {expected}; {fix}")
    config = payload.get("model_config")
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise CheckpointError(f"{path}: model_config is {_kind(config)}, expected a dict of model options "
                              f"(ModelConfig.to_dict()); {fix}")
    for key, (valid, expected) in _CONFIG_SCHEMA.items():
        if key in config and not valid(config[key]):
            raise CheckpointError(f"{path}: model_config[{key!r}] is {_kind(config[key])}, expected {expected}; {fix}")
    for key, (low, high) in CONFIG_LIMITS.items():
        if key in config and not (_is_int(config[key]) and low <= config[key] <= high):
            raise CheckpointError(f"{path}: model_config[{key!r}] is {_kind(config[key])}, expected an integer in "
                                  f"{low}..{high}; {fix}")
    estimate = estimated_parameters(config)
    if estimate > MAX_MODEL_PARAMETERS:
        raise CheckpointError(
            f"{path}: model_config describes a model of up to {estimate / 1e9:.1f} billion parameters, more than the "
            f"{MAX_MODEL_PARAMETERS / 1e9:.0f} billion this package builds; {fix}"
        )
    _model_config(config, path)


def _model_config(config: Mapping, path: str | Path):
    """``ModelConfig.from_dict(config)`` (cheap: builds no model); its own validation errors become CheckpointError."""
    from .models import ModelConfig

    try:
        return ModelConfig.from_dict(config)
    except (ValueError, KeyError, TypeError) as err:  # what ModelConfig's own validation raises
        raise CheckpointError(f"{path}: its model_config is not a valid model ({err.args[0] if err.args else err}); "
                              "the file is damaged or from an incompatible version of ehfusion") from None


def load_checkpoint(
    path_or_name: str | Path,
    directories: Iterable[str | Path] | None = None,
    build: bool = True,
    map_location: str | torch.device = "cpu",
) -> Checkpoint:
    """Load a checkpoint by path or name: rebuild the model, load its weights, eval mode, on ``map_location``.

    ``build=False`` skips building the model (``ckpt.model`` is ``None``) when only the metadata is needed.
    """
    from .models import build_model

    path = resolve_checkpoint(path_or_name, directories)
    payload = read_checkpoint(path, map_location=map_location)
    config = _model_config(payload["model_config"], path)
    meta = {k: v for k, v in payload.items() if k not in STATE_KEYS}
    state = {k: payload.get(k) for k in STATE_KEYS}
    model = None
    if build:
        model = build_model(config)
        try:
            model.load_state_dict(payload["model_state"])
        except RuntimeError as err:
            raise CheckpointError(
                f"{path}: the stored weights do not fit the model its config describes ({err}). "
                "The file was probably written by an incompatible version of ehfusion."
            ) from None
        model.to(map_location).eval()
    return Checkpoint(path=path, config=config, meta=meta, model=model, state=state)


def describe(meta: Mapping) -> str:
    """One-line summary of checkpoint metadata."""
    cfg = meta.get("model_config", {})
    strategy = meta.get("strategy", "?")
    stage = f" stage {meta.get('stage')}" if strategy == "three-stage" else ""
    arch = cfg.get("architecture", "?")
    model = (
        f"{arch}, fusion {cfg.get('fusion', '?')}, latent {cfg.get('latent', '?')}, channels {cfg.get('channels', '?')}"
        if arch == "ehfusion" else f"{arch}, channels {cfg.get('channels', '?')}"
    )
    best = meta.get("best_metric")
    best_text = f", best validation P1 {best:.1f} mm (epoch {meta.get('best_epoch')})" if best is not None else ""
    return (
        f"{strategy}{stage} on {meta.get('dataset', '?')}/{meta.get('keypoints', '?')}: {model}, "
        f"{meta.get('receptive_field', '?')} frames, {meta.get('epoch', '?')} epochs{best_text}"
    )


def list_checkpoints(directory: str | Path | None = None) -> dict[str, str]:
    """``{file name: one-line description}`` for every checkpoint in ``directory`` (default ``CHECKPOINT_DIR``).

    Files that cannot be read or break the format are listed with the reason instead of a description, and a
    warning names each of them (one bad file never hides the others).
    """
    directory = Path(directory) if directory is not None else paths.CHECKPOINT_DIR
    out = {}
    for file in _checkpoint_files(directory):
        try:
            out[file.name] = describe(read_checkpoint(file))
        except (EHFusionError, OSError) as err:
            reason = str(err).splitlines()[0]
            out[file.name] = f"(unreadable: {reason})"
            warnings.warn(f"skipped {file.name}: {reason}", stacklevel=2)
    return out


# ------------------------------------------------------------------------------------------------------- compatibility
def comparable(value):
    """A metadata value in a form that compares equal across JSON round trips (lists become tuples)."""
    if isinstance(value, (list, tuple)):
        return tuple(comparable(v) for v in value)
    return value


def _display(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return repr(value) if isinstance(value, str) else str(value)


def check_compatible(
    meta: Mapping,
    requested: Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
    source: str = "the checkpoint",
) -> None:
    """Raise ``ValueError`` unless every requested field equals the checkpoint's.

    ``requested`` maps field names to values; a name is looked up first among the checkpoint's top-level metadata
    (``stage``, ``strategy``, ``layout``, ``receptive_field``, ``keypoints``...) and then in its ``model_config``
    (``latent``, ``channels``, ``filter_widths``, ``fusion``, ``causal``, ``architecture``...). ``labels`` gives a
    display name per field (e.g. ``{"latent": "latent size (-lfd)"}``). Every differing field is listed with both values.
    """
    labels = labels or {}
    config = meta.get("model_config", {})
    problems = []
    for key, wanted in requested.items():
        if key in meta and key not in STATE_KEYS and key != "model_config":
            have = meta[key]
        elif key in config:
            have = config[key]
        else:
            problems.append(f"  {labels.get(key, key)}: {source} does not record it, requested {_display(wanted)}")
            continue
        if comparable(have) != comparable(wanted):
            problems.append(f"  {labels.get(key, key)}: {source} has {_display(have)}, requested {_display(wanted)}")
    if problems:
        raise ValueError(
            f"{source} does not match the requested model:\n" + "\n".join(problems) +
            "\nPass the checkpoint's values (or leave those options out to take them from the checkpoint)."
        )
