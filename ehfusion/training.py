r"""Training: the configuration, the trainer loop, validation, checkpoints and exact resuming.

Every model with the common interface (``model(window, camera) -> {branch: (B, J, 3)}``, ``answer_branch``,
``forward_sequence``, ``set_bn_momentum``) trains the same way:

* loss: the sum over the returned branches of MPJPE in metres (the one-stage model returns two branches, both count);
* optimiser: AdamW with AMSGrad over the parameters that require gradients (frozen stage-2 encoders are left out);
* schedule: the learning rate is multiplied by ``lr_decay`` after every epoch; BatchNorm momentum decays
  exponentially from 0.1 to 0.001 over the run, :math:`m_e = m_0 (m_1/m_0)^{e/E}` (as in VideoPose3D);
* flip augmentation of the training windows, and flip test-time augmentation in validation;
* after each epoch the model is evaluated on the **validation** subject(s), held out from the training subjects (never
  the test subjects); the best epoch by validation P1 of the answer branch is saved as the "best" checkpoint, and every
  epoch a "last" checkpoint with the optimiser, scheduler and random states is written for ``resume``.

Resuming is exact: a run stopped after any epoch and resumed ends with bit-identical weights to an uninterrupted run
(CPU, same seed): the batcher reshuffles from ``(seed, epoch)`` and the checkpoint restores every other state.
"""
from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Sequence as SequenceOf
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import checkpoints
from . import distributed as dp
from .data.batching import WindowBatcher
from .evaluation import evaluate_branches
from .metrics import mpjpe_loss
from .progress import progress_bar, write
from .random_state import capture_rng_state, restore_rng_state
from .skeleton import Skeleton

__all__ = [
    "TrainConfig",
    "bn_momentum_end_for",
    "Trainer",
    "TrainingSummary",
    "seed_everything",
    "resolve_device",
    "split_validation",
    "last_checkpoint_name",
    "history_frame",
]


#: A run of at least this many epochs is "long" and gets VideoPose3D's BatchNorm momentum decay (its 80-epoch recipe).
LONG_RUN_EPOCHS = 80
#: VideoPose3D's final BatchNorm momentum, reached at the end of a long run.
RELEASE_BN_MOMENTUM_END = 0.001


def bn_momentum_end_for(epochs: int, start: float = 0.1, architecture: str = "ehfusion") -> float:
    """The default final BatchNorm momentum of a run, chosen on the validation subject (``checkpoints/README.md``).

    VideoPose3D decays the momentum from 0.1 to 0.001 over its 80-epoch recipe. Over a short run the same decay makes
    the running statistics (used at validation and test) lag behind weights that still change fast. On the shipped
    10-epoch recipe every EHFusion model had a lower validation error with a constant momentum (one-stage det 77.9
    against 85.4 mm), so EHFusion runs shorter than :data:`LONG_RUN_EPOCHS` keep it constant at ``start``. The
    VideoPose3D baseline did better with its own decay at that length too (det 79.1 against 81.1 mm), so it keeps it.
    """
    if architecture == "videopose3d" or epochs >= LONG_RUN_EPOCHS:
        return RELEASE_BN_MOMENTUM_END
    return start


@dataclass
class TrainConfig:
    """Everything about *how* a model is trained (the model itself is described by ``ModelConfig``)."""

    epochs: int = 80
    batch_size: int = 1024
    lr: float = 1e-3
    lr_decay: float = 0.95                 # multiplied into the learning rate after every epoch
    weight_decay: float = 0.01             # AdamW's decoupled weight decay (PyTorch's default, as the release)
    bn_momentum_start: float = 0.1
    bn_momentum_end: float | None = None   # None: auto, see ``bn_momentum_end_for``
    flip_augment: bool = True              # mirror training windows at random
    flip_tta: bool = True                  # flip test-time augmentation in validation and evaluation
    validate: bool = True                  # per-epoch validation (off: the last epoch is the "best")
    seed: int = 0
    device: str = "auto"                   # "auto" (CUDA when available), "cpu", "cuda", "cuda:1"...
    val_subjects: tuple[str, ...] = ("S8",)
    subset: float = 1.0                    # fraction of the training windows drawn each epoch
    num_threads: int | None = None         # torch CPU threads (None: leave torch's setting)

    def __post_init__(self) -> None:
        self.val_subjects = tuple(self.val_subjects)
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be positive, got {self.batch_size}")
        if self.lr <= 0 or not 0 < self.lr_decay <= 1:
            raise ValueError(f"need lr > 0 and 0 < lr_decay <= 1, got lr={self.lr}, lr_decay={self.lr_decay}")
        if not 0 < self.subset <= 1:
            raise ValueError(f"subset must be a fraction in (0, 1], got {self.subset}")
        if self.bn_momentum_end is None:
            self.bn_momentum_end = bn_momentum_end_for(self.epochs, self.bn_momentum_start)
        if not 0 < self.bn_momentum_end <= self.bn_momentum_start <= 1:
            raise ValueError("BatchNorm momenta must satisfy 0 < end <= start <= 1")

    def bn_momentum(self, epoch: int) -> float:
        """BatchNorm momentum for a 0-based epoch: exponential decay from start to end over the run."""
        ratio = self.bn_momentum_end / self.bn_momentum_start
        return float(self.bn_momentum_start * ratio ** (epoch / self.epochs))

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["val_subjects"] = list(self.val_subjects)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class TrainingSummary:
    """What :meth:`Trainer.fit` returns."""

    history: list[dict]
    best_epoch: int | None
    best_metric: float | None
    best_path: Path | None
    last_path: Path | None

    @property
    def frame(self) -> pd.DataFrame:
        return history_frame(self.history)


# ------------------------------------------------------------------------------------------------------------ helpers
def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (call before building the model so that its initial weights are reproducible)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is checked and passed to :class:`torch.device`."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available here; use --device cpu")
    return resolved


def split_validation(sequences: SequenceOf, val_subjects: SequenceOf[str]) -> tuple[list, list]:
    """Split training sequences into (train, validation) by subject; both parts must be non-empty."""
    val_subjects = set(val_subjects)
    present = sorted({s.subject for s in sequences})
    unknown = sorted(val_subjects - set(present))
    if unknown:
        raise ValueError(
            f"validation subject(s) {', '.join(unknown)} are not among the training subjects ({', '.join(present)}); "
            "pick validation subjects from the training subjects (--val-subjects)"
        )
    train = [s for s in sequences if s.subject not in val_subjects]
    val = [s for s in sequences if s.subject in val_subjects]
    if not train:
        raise ValueError("every training subject is a validation subject; leave at least one subject to train on")
    return train, val


def last_checkpoint_name(best_name: str) -> str:
    """Name of the resumable per-epoch checkpoint that goes with a best-checkpoint name."""
    path = Path(best_name)
    if "best" in path.stem:
        return path.with_name(path.stem.replace("best", "last") + path.suffix).name
    return path.with_name(f"{path.stem}_last{path.suffix or '.bin'}").name


def history_frame(history: SequenceOf[dict]) -> pd.DataFrame:
    """Training history as a DataFrame indexed by epoch."""
    frame = pd.DataFrame(list(history))
    return frame.set_index("epoch") if "epoch" in frame else frame


# ------------------------------------------------------------------------------------------------------------ trainer
class Trainer:
    """Train one model; write a best and a last checkpoint into ``checkpoint_dir`` (if given) after every epoch.

    Parameters
    ----------
    model: a model with the common interface; its ``config`` (a ``ModelConfig``) goes into the checkpoints.
    config: a :class:`TrainConfig`.
    train_sequences, val_sequences: :class:`~ehfusion.data.Sequence` lists (validation may be empty).
    skeleton: the layout (flip augmentation, flip test-time augmentation).
    checkpoint_dir, name: where the best checkpoint ``name`` and the resumable ``last_checkpoint_name(name)`` go;
        ``checkpoint_dir=None`` trains without writing files.
    run_info: ``strategy``, ``stage``, ``dataset``, ``keypoints`` and optionally ``data`` (the subjects and actions
        selected) recorded in the checkpoints.
    progress: show progress bars (ehfusion.progress).
    log: where the one line per epoch goes (default: beside the progress bars, or nowhere without them).
    on_batch_end: optional ``callback(trainer, epoch, step)`` after each optimiser step.
    distributed: a :class:`~ehfusion.distributed.DistributedContext` (from ``init_distributed()`` under torchrun) to
        train data-parallel: the model runs wrapped in DistributedDataParallel on the context's device, each process
        draws its shard of the windows, losses are averaged over the processes, BatchNorm statistics are averaged
        after every epoch, rank 0 validates and writes the checkpoints. ``None``: one process.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        config: TrainConfig,
        train_sequences: SequenceOf,
        val_sequences: SequenceOf = (),
        *,
        skeleton: Skeleton,
        checkpoint_dir: str | Path | None = None,
        name: str = "model_best_epoch.bin",
        run_info: dict | None = None,
        model_config: Any = None,
        progress: bool = True,
        log: Callable[[str], None] | None = None,
        on_batch_end: Callable[[Trainer, int, int], None] | None = None,
        distributed: dp.DistributedContext | None = None,
    ) -> None:
        self.config = config
        if config.num_threads:
            torch.set_num_threads(int(config.num_threads))
        self.distributed = distributed or dp.SINGLE_PROCESS
        self.device = self.distributed.device if self.distributed.enabled else resolve_device(config.device)
        self.model = model.to(self.device)
        self.model_config = model_config if model_config is not None else getattr(model, "config", None)
        if self.model_config is None:
            raise ValueError("the model has no .config; pass model_config=ModelConfig(...) to the Trainer")
        self.skeleton = skeleton
        self.train_sequences = list(train_sequences)
        self.val_sequences = list(val_sequences)
        self.run_info = {"strategy": "one-stage", "stage": 1, "dataset": "", "keypoints": ""} | dict(run_info or {})
        self.progress = progress and self.distributed.is_main
        self.log = log if log is not None else (write if progress else None)
        if not self.distributed.is_main:
            self.log = None  # one process reports
        self.on_batch_end = on_batch_end
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.best_path = self.checkpoint_dir / name if self.checkpoint_dir else None
        self.last_path = self.checkpoint_dir / last_checkpoint_name(name) if self.checkpoint_dir else None

        trainable = [p for p in self.model.parameters() if p.requires_grad]
        if not trainable:
            raise ValueError("the model has no trainable parameters (everything is frozen)")
        self.optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay, amsgrad=True)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=config.lr_decay)
        self.batcher = WindowBatcher(
            self.train_sequences, self.model.receptive_field, config.batch_size, skeleton=skeleton, shuffle=True,
            flip_augment=config.flip_augment, seed=config.seed, causal=bool(getattr(self.model_config, "causal", False)),
            subset=config.subset, rank=self.distributed.rank, world_size=self.distributed.world_size,
        )
        # what the training step calls: the model itself, or its DistributedDataParallel wrapper (same parameters)
        self.network = dp.wrap_model(self.model, self.distributed)
        self.epoch = 0                       # completed epochs
        self.history: list[dict] = []
        self.best_epoch: int | None = None
        self.best_metric: float | None = None

    # ------------------------------------------------------------------ facts
    @property
    def answer_branch(self) -> str:
        return self.model.answer_branch

    @property
    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    # ------------------------------------------------------------------ one epoch
    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the (shuffled, augmented) training windows; returns the mean loss per branch in mm."""
        self.model.train()
        self.model.set_bn_momentum(self.config.bn_momentum(epoch))
        self.batcher.set_epoch(epoch)
        totals: dict[str, float] = {}
        seen = 0
        bar = progress_bar(self.batcher, enabled=self.progress, desc=f"epoch {epoch + 1}/{self.config.epochs}",
                           unit="batch", leave=False)
        for step, batch in enumerate(bar):
            window = batch.window.to(self.device, non_blocking=True)
            camera = batch.camera.to(self.device, non_blocking=True)
            target = batch.target.to(self.device, non_blocking=True)
            outputs = self.network(window, camera)
            losses = {branch: mpjpe_loss(pred, target) for branch, pred in outputs.items()}
            loss = sum(losses.values())
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            n = len(batch)
            seen += n
            for branch, value in losses.items():
                totals[branch] = totals.get(branch, 0.0) + float(value.detach()) * n
            bar.set_postfix(loss_mm=f"{1000 * float(loss.detach()) / len(losses):.1f}")
            if self.on_batch_end is not None:
                self.on_batch_end(self, epoch, step)
        means = {branch: 1000 * total / max(seen, 1) for branch, total in totals.items()}
        if self.distributed.enabled:  # every process: the mean over all processes' windows, and the same BatchNorm
            means = dp.reduce_mean(means, self.distributed, weight=seen)
            dp.synchronise_buffers(self.model, self.distributed)
        return means

    def validate(self) -> dict[str, float]:
        """Validation P1 (mm) per branch on the validation sequences (with flip TTA unless switched off)."""
        if not self.val_sequences:
            return {}
        results = evaluate_branches(self.model, self.val_sequences, flip_tta=self.config.flip_tta,
                                    skeleton=self.skeleton)
        return {branch: r.p1 for branch, r in results.items()}

    # ------------------------------------------------------------------ the loop
    def fit(self) -> TrainingSummary:
        """Train from the current epoch (0, or where :meth:`resume` left off) to ``config.epochs``."""
        validate = self.config.validate and bool(self.val_sequences)
        epochs = progress_bar(range(self.epoch, self.config.epochs), enabled=self.progress, desc="training",
                              unit="epoch", initial=self.epoch, total=self.config.epochs)
        for epoch in epochs:
            start = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            momentum = self.config.bn_momentum(epoch)
            train_losses = self.train_epoch(epoch)
            self.scheduler.step()
            val = self.validate() if validate and self.distributed.is_main else {}
            val = dp.broadcast_object(val, self.distributed)  # rank 0 validates; every process decides alike
            record = {"epoch": epoch + 1, "lr": lr, "bn_momentum": momentum}
            record |= {f"train_{b}": v for b, v in train_losses.items()}
            record |= {f"val_p1_{b}": v for b, v in val.items()}
            record["seconds"] = time.perf_counter() - start
            self.history.append(record)
            self.epoch = epoch + 1

            metric = val.get(self.answer_branch) if validate else None
            improved = (not validate) or self.best_metric is None or (metric is not None and metric < self.best_metric)
            if improved:
                self.best_epoch, self.best_metric = epoch + 1, metric
            self._save(improved, record)
            epochs.set_postfix({k: f"{v:.1f}" for k, v in record.items() if k.startswith(("train_", "val_"))})
            if self.log is not None:
                self.log(self._epoch_line(record, improved))
        return TrainingSummary(self.history, self.best_epoch, self.best_metric,
                               self.best_path if self.best_path and self.best_path.exists() else None,
                               self.last_path if self.last_path and self.last_path.exists() else None)

    def _epoch_line(self, record: dict, improved: bool) -> str:
        """``[  3/80] lr 0.000903 | train (mm) unfused 61.2 fused 58.0 | val P1 (mm) ... | 41.2 s *best*``"""
        def values(prefix: str) -> str:
            return " ".join(f"{k[len(prefix):]} {v:.1f}" for k, v in record.items() if k.startswith(prefix))

        parts = [f"[{record['epoch']:3d}/{self.config.epochs}] lr {record['lr']:.6f}",
                 f"train (mm) {values('train_')}"]
        if any(k.startswith("val_p1_") for k in record):
            parts.append(f"val P1 (mm) {values('val_p1_')}")
        parts.append(f"{record['seconds']:.1f} s" + (" *best*" if improved and "val_p1_" in "".join(record) else ""))
        return " | ".join(parts)

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint_fields(self) -> dict:
        return dict(
            model_config=self.model_config, epoch=self.epoch, best_epoch=self.best_epoch,
            best_metric=self.best_metric, history=self.history, train_config=self.config.to_dict(),
            data=self.run_info.get("data"), **{k: self.run_info[k] for k in ("strategy", "stage", "dataset", "keypoints")},
        )

    def _save(self, improved: bool, record: dict) -> None:
        if self.checkpoint_dir is None:
            return
        if not self.distributed.is_main:  # rank 0 writes; the others wait until the files are complete
            dp.barrier(self.distributed)
            return
        metrics = {k: v for k, v in record.items() if k.startswith(("train_", "val_"))}
        if improved:
            checkpoints.save_checkpoint(self.best_path, self.model, metrics=metrics, **self._checkpoint_fields())
        checkpoints.save_checkpoint(
            self.last_path, self.model, metrics=metrics, optimizer=self.optimizer, scheduler=self.scheduler,
            rng_state=capture_rng_state(), **self._checkpoint_fields(),
        )
        dp.barrier(self.distributed)

    def resume(self, path: str | Path | None = None) -> int:
        """Restore model, optimiser, scheduler, random states, history and best-so-far from a last checkpoint.

        ``path`` defaults to this run's last checkpoint. Returns the number of completed epochs.
        """
        path = Path(path) if path is not None else self.last_path
        if path is None:
            raise ValueError("nothing to resume from: give a checkpoint path or a checkpoint_dir")
        payload = checkpoints.read_checkpoint(path, map_location="cpu")
        if payload.get("optimizer_state") is None or payload.get("rng_state") is None:
            raise ValueError(
                f"{path} holds no optimiser/random state (a best or shipped checkpoint), so it cannot be resumed "
                f"exactly; resume from {last_checkpoint_name(path.name)} or fine-tune from it instead"
            )
        wanted = self.model_config.to_dict() if hasattr(self.model_config, "to_dict") else dict(self.model_config)
        checkpoints.check_compatible(payload, wanted, source=f"checkpoint {path.name}")
        checkpoints.check_compatible(payload, {"strategy": self.run_info["strategy"], "stage": self.run_info["stage"]},
                                     source=f"checkpoint {path.name}")
        if payload["epoch"] >= self.config.epochs:
            raise ValueError(
                f"{path} already completed {payload['epoch']} epochs, as many as requested ({self.config.epochs}); "
                "ask for more epochs (-e) to continue training"
            )
        self.model.load_state_dict(payload["model_state"])
        self.optimizer.load_state_dict(payload["optimizer_state"])
        self.scheduler.load_state_dict(payload["scheduler_state"])
        restore_rng_state(payload["rng_state"])
        self.epoch = int(payload["epoch"])
        self.history = [dict(h) for h in payload.get("history", [])]
        self.best_epoch = payload.get("best_epoch")
        self.best_metric = payload.get("best_metric")
        return self.epoch
