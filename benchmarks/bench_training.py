"""Training step time and peak memory of each model at 27, 81 and 243 frames.

    python -m benchmarks.bench_training [--frames 27 81 243] [--size small|paper] [--repeats 3]

A step is forward + backward + AdamW(amsgrad) update on one batch of random windows (the data pipeline is measured
separately by ``benchmarks.bench_batching``). Batches: 1024 windows at 27 frames, 256 at 81 and 64 at 243 (so that a
243-frame step fits a laptop's memory; ``--batch`` overrides them). The time is the median over ``--repeats`` steps
after ``--warmup`` steps.

Peak memory is measured honestly: every (model, frames) configuration runs in a **fresh Python process**, which
reports its peak resident set size (``ru_maxrss``) after the steps, and its resident size just before the first step
(imports, model, optimiser and batch in memory). Their difference is the memory the training step itself needs
(activations kept for backward, gradients, optimiser state); the peak includes the ~300 MB of the Python + PyTorch
runtime.

Sizes: ``small`` is the CPU configuration of the ablation (:class:`ehfusion.experiments.ExperimentConfig`), ``paper``
the published size (C = L = 256, hidden 1024; VideoPose3D with 1024 channels).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

from ehfusion.models import ModelConfig, build_model, stage_config
from ehfusion.models.introspection import count_macs

#: Filter widths for each receptive field.
FILTER_WIDTHS = {27: (3, 3, 3), 81: (3, 3, 3, 3), 243: (3, 3, 3, 3, 3)}
#: Training batch (windows) for each receptive field.
BATCH_SIZES = {27: 1024, 81: 256, 243: 64}
MODEL_NAMES = ("VideoPose3D", "EHFusion stage 1", "EHFusion stage 3", "EHFusion one-stage")
CAMERA = [2.29, 2.29, 0.025, 0.028, -0.2, 0.24, -0.003, -0.001, -0.0014]


def model_config(name: str, frames: int, size: str = "small", causal: bool = False) -> ModelConfig:
    """The configuration of one benchmarked model (see the module docstring for the sizes)."""
    if frames not in FILTER_WIDTHS:
        raise ValueError(f"frames must be one of {sorted(FILTER_WIDTHS)}, got {frames}")
    if size == "small":
        from ehfusion.experiments import ExperimentConfig

        exp = ExperimentConfig(filter_widths=FILTER_WIDTHS[frames])
        base, vp3d_channels = exp.ehfusion_config("heterogeneous"), exp.videopose3d_channels
    elif size == "paper":
        base, vp3d_channels = ModelConfig(filter_widths=FILTER_WIDTHS[frames]), 1024
    else:
        raise ValueError(f"size must be 'small' or 'paper', got {size!r}")
    base = base.replace(causal=causal)
    configs = {
        "VideoPose3D": lambda: ModelConfig(architecture="videopose3d", channels=vp3d_channels,
                                           filter_widths=FILTER_WIDTHS[frames], causal=causal),
        "EHFusion stage 1": lambda: base.replace(fusion="none"),
        "EHFusion stage 3": lambda: stage_config(base, "three-stage", 3),
        "EHFusion one-stage": lambda: stage_config(base, "one-stage"),
    }
    if name not in configs:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    return configs[name]()


def describe_size(size: str = "small") -> str:
    """The sizes of one benchmark setting, in words (for reports)."""
    cfg = model_config("EHFusion stage 3", 27, size)
    vp3d = model_config("VideoPose3D", 27, size)
    return (f"EHFusion channels {cfg.channels}, latent {cfg.latent}, hidden {cfg.hidden}, angle channels "
            f"{cfg.angle_channels}, angle features {cfg.angle_features}, camera features {cfg.camera_features}; "
            f"VideoPose3D channels {vp3d.channels}")


def _rss_mib() -> float:
    """Current resident set size of this process (MiB)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mib() -> float:
    """Peak resident set size of this process so far (MiB; ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_step(name: str, frames: int, batch: int, *, size: str = "small", repeats: int = 3, warmup: int = 1,
                 seed: int = 0) -> dict:
    """Time training steps of one model in this process; returns times, throughput and memory figures."""
    torch.manual_seed(seed)
    cfg = model_config(name, frames, size)
    model = build_model(cfg).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, amsgrad=True)
    g = torch.Generator().manual_seed(seed)
    window = 0.3 * torch.randn(batch, cfg.receptive_field, cfg.skeleton.num_joints, 2, generator=g)
    camera = torch.tensor(CAMERA).repeat(batch, 1)
    target = 0.2 * torch.randn(batch, cfg.skeleton.num_joints, 3, generator=g)
    before = _rss_mib()
    times = []
    for i in range(warmup + repeats):
        start = time.perf_counter()
        out = model(window, camera)
        loss = sum(torch.linalg.vector_norm(v - target, dim=-1).mean() for v in out.values())
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    step = statistics.median(times)
    peak = _peak_rss_mib()
    return {
        "model": name, "frames": frames, "batch": batch, "size": size,
        "params": sum(p.numel() for p in model.parameters()), "macs": count_macs(model),
        "step_s": step, "windows_per_s": batch / step,
        "rss_before_mib": before, "peak_rss_mib": peak, "step_memory_mib": max(0.0, peak - before),
        "threads": torch.get_num_threads(),
    }


def measure_isolated(name: str, frames: int, batch: int, *, size: str = "small", repeats: int = 3,
                     warmup: int = 1, threads: int | None = None, timeout: float = 300) -> dict:
    """:func:`measure_step` in a fresh Python process, so that its peak memory is this configuration's alone."""
    command = [sys.executable, "-m", "benchmarks.bench_training", "--single", name, "--frames", str(frames),
               "--batch", str(batch), "--size", size, "--repeats", str(repeats), "--warmup", str(warmup)]
    if threads:
        command += ["--threads", str(threads)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark of {name} at {frames} frames failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(frames=(27, 81, 243), models=MODEL_NAMES, *, size: str = "small", repeats: int = 3, warmup: int = 1,
        batch: int | None = None, threads: int | None = None, progress=print) -> list[dict]:
    """Every (model, frames) configuration, each in its own process; prints one line per configuration."""
    rows = []
    progress(f"{'model':<20}{'frames':>7}{'batch':>7}{'step (s)':>10}{'windows/s':>11}{'peak RSS':>10}"
             f"{'step mem':>10}")
    for f in frames:
        for name in models:
            row = measure_isolated(name, f, batch or BATCH_SIZES[f], size=size, repeats=repeats, warmup=warmup,
                                   threads=threads)
            rows.append(row)
            progress(f"{name:<20}{f:>7}{row['batch']:>7}{row['step_s']:>10.3f}{row['windows_per_s']:>11.0f}"
                     f"{row['peak_rss_mib']:>8.0f}MB{row['step_memory_mib']:>8.0f}MB")
    return rows


def model_parser(description: str) -> argparse.ArgumentParser:
    """The options every model benchmark shares: receptive fields, models, model size."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--frames", type=int, nargs="+", default=[27, 81, 243])
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    parser.add_argument("--size", default="small", choices=("small", "paper"))
    return parser


def main(argv=None) -> list[dict]:
    parser = model_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=None, help="batch for every receptive field (default per field)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--single", default=None, help=argparse.SUPPRESS)  # internal: one configuration, JSON out
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.single:
        frames = args.frames[0]
        row = measure_step(args.single, frames, args.batch or BATCH_SIZES[frames], size=args.size,
                           repeats=args.repeats, warmup=args.warmup)
        print(json.dumps(row))
        return [row]
    return run(args.frames, args.models, size=args.size, repeats=args.repeats, warmup=args.warmup, batch=args.batch,
               threads=args.threads)


if __name__ == "__main__":
    main()
