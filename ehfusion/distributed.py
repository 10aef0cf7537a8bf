"""Data-parallel training on several processes (GPUs) with PyTorch's own engine: torchrun + DistributedDataParallel.

How it fits together:

* ``torchrun --nproc_per_node=N script.py`` starts N processes and gives each ``RANK``, ``LOCAL_RANK``,
  ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_distributed` reads them and joins the process group
  (backend ``nccl`` on CUDA, ``gloo`` on the CPU). Without those variables it returns a single-process context, so the
  same code runs unchanged on a laptop.
* Every process builds the same model from the same seed; :func:`wrap_model` wraps it in
  :class:`~torch.nn.parallel.DistributedDataParallel`, which broadcasts rank 0's weights and buffers at construction
  and averages the gradients over the processes in every ``backward()``, so the weights stay identical everywhere.
* The :class:`~ehfusion.data.batching.WindowBatcher` shards each epoch's windows by ``rank`` / ``world_size`` (every
  rank gets the same number of windows), so one epoch over N processes sees each window once and takes N times fewer
  steps; the effective batch is ``N * batch_size``.
* Numbers computed per process (training losses) are combined with :func:`reduce_mean`; files are written by rank 0
  only (:attr:`DistributedContext.is_main`), and the others wait at a :func:`barrier` before reading them.

With :class:`ehfusion.training.Trainer` all of this is one argument. A script ``train_ddp.py`` started with
``torchrun --nproc_per_node=4 train_ddp.py``::

    from ehfusion.data import load_dataset
    from ehfusion.distributed import cleanup, init_distributed
    from ehfusion.models import ModelConfig, build_model
    from ehfusion.training import TrainConfig, Trainer, seed_everything, split_validation

    context = init_distributed()                      # nccl on GPUs (one per process), gloo on CPUs
    ds = load_dataset("embedded", keypoints="det")
    train, val = split_validation(ds.sequences(subjects=["S1", "S5", "S6", "S7", "S8"]), ["S8"])
    seed_everything(0)
    model = build_model(ModelConfig(latent=512))
    trainer = Trainer(model, TrainConfig(epochs=80, batch_size=1024), train, val, skeleton=ds.skeleton,
                      checkpoint_dir="checkpoints/runs", name="ddp_best_epoch.bin", distributed=context)
    trainer.fit()                                     # rank 0 validates and writes the checkpoints
    cleanup(context)

BatchNorm statistics are computed per process (each on its own shard of the batch) unless ``sync_batchnorm=True``
(CUDA only); DDP copies rank 0's running statistics to the other processes at the start of every forward pass, so
after the last step they differ between processes until :func:`synchronise_buffers` averages them (call it before
validating or saving).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "DistributedContext",
    "SINGLE_PROCESS",
    "environment_ranks",
    "init_distributed",
    "cleanup",
    "wrap_model",
    "unwrap_model",
    "reduce_mean",
    "synchronise_buffers",
    "broadcast_object",
    "barrier",
]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: its rank among ``world_size`` processes, its device and the backend in use."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # None: no process group (single process)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1 and self.backend is not None

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that writes checkpoints, logs and progress bars."""
        return self.rank == 0


SINGLE_PROCESS = DistributedContext()


def environment_ranks(env: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment variables (``(0, 1, 0)`` when absent)."""
    env = os.environ if env is None else env
    try:
        world_size = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local_rank = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as err:
        raise ValueError(f"torchrun's RANK / WORLD_SIZE / LOCAL_RANK must be integers ({err}); "
                         "launch with `torchrun --nproc_per_node=N ...`") from None
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"inconsistent torchrun environment: RANK={rank}, WORLD_SIZE={world_size}")
    return rank, world_size, local_rank


def init_distributed(backend: str | None = None, device: str = "auto",
                     env: Mapping[str, str] | None = None) -> DistributedContext:
    """Join the process group that torchrun set up, or return a single-process context when there is none.

    ``device="auto"`` uses the GPU ``LOCAL_RANK`` when CUDA is available, else the CPU; ``backend`` defaults to
    ``"nccl"`` for CUDA and ``"gloo"`` for the CPU. Calling it again in a process that already joined returns the
    same context.
    """
    rank, world_size, local_rank = environment_ranks(env)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    resolved = torch.device(device)
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was requested but CUDA is not available; use device='cpu'")
        resolved = torch.device("cuda", local_rank if resolved.index is None else resolved.index)
        torch.cuda.set_device(resolved)
    if world_size == 1:
        return DistributedContext(rank=0, world_size=1, local_rank=0, backend=None, device=resolved)
    backend = backend or ("nccl" if resolved.type == "cuda" else "gloo")
    if backend == "nccl" and resolved.type != "cuda":
        raise ValueError("the nccl backend needs CUDA devices; use backend='gloo' for CPU training")
    variables = os.environ if env is None else env
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if name not in variables]
    if missing:
        raise ValueError(f"{' and '.join(missing)} not set: start the processes with torchrun "
                         "(or set MASTER_ADDR and MASTER_PORT yourself)")
    if not dist.is_initialized():
        address = f"tcp://{variables['MASTER_ADDR']}:{variables['MASTER_PORT']}"  # what env:// would read
        dist.init_process_group(backend=backend, init_method=address, rank=rank, world_size=world_size)
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank, backend=backend,
                              device=resolved)


def cleanup(context: DistributedContext = SINGLE_PROCESS) -> None:
    """Leave the process group (at the end of a distributed run)."""
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


# ---------------------------------------------------------------------------------------------------------- the model
def wrap_model(model: nn.Module, context: DistributedContext, *, sync_batchnorm: bool = False) -> nn.Module:
    """Move ``model`` to the context's device and wrap it in DistributedDataParallel (returned untouched when
    single-process).

    Every trainable parameter of the models takes part in every forward pass (a model has only the modules its
    branches use), so DDP needs no search for unused parameters. The returned wrapper is what the training loop calls;
    the model itself (``unwrap_model(wrapped)``) keeps its attributes and is what gets saved.
    """
    if not context.enabled:
        return model
    model = model.to(context.device)
    if sync_batchnorm:
        if context.device.type != "cuda":
            raise ValueError("SyncBatchNorm runs on CUDA only; leave sync_batchnorm=False for CPU training")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model inside a DDP wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


# ---------------------------------------------------------------------------------------------------------- numbers
def reduce_mean(values: Mapping[str, float], context: DistributedContext, weight: float = 1.0) -> dict[str, float]:
    """Weighted mean of per-process numbers over all processes: ``sum(w_r * v_r) / sum(w_r)`` for each key.

    ``weight`` is this process's weight (e.g. the number of samples behind its values). Every process must call it
    with the same keys; single-process contexts return the values unchanged.
    """
    values = {k: float(v) for k, v in values.items()}
    if not context.enabled:
        return values
    keys = sorted(values)
    reduce_device = context.device if context.backend == "nccl" else torch.device("cpu")
    packed = torch.tensor([values[k] * weight for k in keys] + [float(weight)], dtype=torch.float64,
                          device=reduce_device)
    dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    total_weight = float(packed[-1])
    if total_weight == 0:
        raise ValueError("reduce_mean: the weights of all processes add up to zero")
    reduced = {k: float(packed[i]) / total_weight for i, k in enumerate(keys)}
    return {k: reduced[k] for k in values}  # the caller's key order


def synchronise_buffers(model: nn.Module, context: DistributedContext) -> None:
    """Make every process hold the same buffers: floating-point ones (BatchNorm running mean and variance) become
    their mean over the processes, the others (``num_batches_tracked``) are copied from rank 0."""
    if not context.enabled:
        return
    model = unwrap_model(model)
    with torch.no_grad():
        for buffer in model.buffers():
            if buffer.is_floating_point():
                dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
                buffer /= context.world_size
            else:
                dist.broadcast(buffer, src=0)


def broadcast_object(obj: Any, context: DistributedContext, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every process (any picklable object; returned unchanged when single-process)."""
    if not context.enabled:
        return obj
    holder = [obj if context.rank == src else None]
    dist.broadcast_object_list(holder, src=src, device=context.device if context.backend == "nccl" else None)
    return holder[0]


def barrier(context: DistributedContext) -> None:
    """Wait until every process gets here (no-op when single-process)."""
    if context.enabled:
        if context.backend == "nccl":
            dist.barrier(device_ids=[context.device.index])
        else:
            dist.barrier()
