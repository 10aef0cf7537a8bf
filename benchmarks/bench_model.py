"""Speed of the batched EHFusion model against the same maths written the release's way.

Measures, side by side in one process (interleaved, after a warm-up, median of several repetitions):

* one training step (forward + backward + AdamW(amsgrad) step) on a batch of 1024 windows, 27-frame receptive
  field, L=256, C=256, hidden 1024, for three-stage stage 3 and for one-stage; batched model vs the release-style
  model (:mod:`benchmarks.release_style`) holding the same weights, so both compute the same function (checked
  before timing). A third column gives the release-style model with the batched model's cheaper dropout-mask sampler,
  to show how much of the speed-up is batching and how much is the sampler;
  Unless ``--quick``, one further step of each is profiled to show where its time goes (matrix products,
  convolutions, dropout masks, BatchNorm, the rest) and how much faster the batched step could be at most if
  everything but its matrix products took no time;
* whole-sequence inference (frames per second) on a 1,000-frame sequence: EHFusion (exact windowed evaluation) and
  VideoPose3D (dilated convolutions).

Run: ``.venv/bin/python benchmarks/bench_model.py`` (add ``--quick`` for a smoke run, ``--profile`` to print the
top operators of one batched training step from ``torch.profiler``, ``--threads 1`` for one thread,
``--retain-memory`` to keep freed memory for reuse in both models). Wall-clock
timings depend on what else the machine runs; with ``--threads 1`` the CPU time of the process is a steadier measure
of the work on a busy machine (no threads spinning while they wait for each other).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

if not __package__:  # run as a script (python benchmarks/bench_model.py): make the benchmarks package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.allocator import retain_freed_memory
from benchmarks.release_style import release_style_from
from ehfusion.models import ModelConfig, build_model, stage_config

CAMERA = [2.29, 2.29, 0.025, 0.028, -0.2, 0.24, -0.003, -0.001, -0.0014]


def make_batch(cfg: ModelConfig, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    window = 0.3 * torch.randn(batch, cfg.receptive_field, cfg.skeleton.num_joints, 2, generator=g)
    camera = torch.tensor(CAMERA).repeat(batch, 1)
    target = 0.2 * torch.randn(batch, cfg.skeleton.num_joints, 3, generator=g)
    return window, camera, target


def training_step(model, optimiser, window, camera, target) -> tuple[float, float]:
    """One step; returns (wall-clock seconds, CPU seconds of this process)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    out = model(window, camera)
    loss = sum((v - target).norm(dim=-1).mean() for v in out.values())
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    return time.perf_counter() - start, time.process_time() - start_cpu


def compare_training(cfg: ModelConfig, batch: int, repeats: int, warmup: int,
                     breakdown: bool = False) -> dict[str, tuple[float, float]]:
    """Median (wall-clock, CPU) seconds per training step of each implementation; with ``breakdown``, also one
    profiled step of each (:func:`time_breakdown`) under ``"breakdown, batched"`` / ``"breakdown, release-style"``."""
    torch.manual_seed(0)
    batched = build_model(cfg).train()
    release = release_style_from(batched).train()
    release_bytes = release_style_from(batched, byte_mask_dropout=True).train()
    window, camera, target = make_batch(cfg, batch)
    # the two start from the same weights; check they compute the same function before timing (dropout off)
    with torch.no_grad():
        check_cfg = cfg.replace(dropout=0.0)
        a = build_model(check_cfg).eval()
        a.load_state_dict(batched.state_dict())
        b = release_style_from(a).eval()
        small = window[:64], camera[:64]
        diff = max((a(*small)[k] - b(*small)[k]).abs().max().item() for k in cfg.branches)
    models = {"batched": batched, "release-style": release, "release-style, byte masks": release_bytes}
    optimisers = {name: torch.optim.AdamW(m.parameters(), lr=1e-3, amsgrad=True) for name, m in models.items()}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    for i in range(warmup + repeats):
        for name in models:  # interleaved, so background load affects all alike
            t = training_step(models[name], optimisers[name], window, camera, target)
            if i >= warmup:
                times[name].append(t)
    result = {name: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
              for name, v in times.items()}
    result["max |difference| of outputs"] = (diff, diff)
    if breakdown:
        for name in ("batched", "release-style"):
            result[f"breakdown, {name}"] = time_breakdown(models[name], optimisers[name], window, camera, target)
    return result


def sequence_speed(cfg: ModelConfig, frames: int, repeats: int) -> float:
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    keypoints = 0.3 * torch.randn(1, frames + cfg.receptive_field - 1, cfg.skeleton.num_joints, 2)
    camera = torch.tensor([CAMERA])
    times = []
    with torch.no_grad():
        model.forward_sequence(keypoints[:, : cfg.receptive_field + 31], camera)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            out = model.forward_sequence(keypoints, camera)
            times.append(time.perf_counter() - start)
    assert next(iter(out.values())).shape[1] == frames
    return frames / statistics.median(times)


def matmul_gflops(repeats: int = 10) -> float:
    """Measured float32 throughput of one large matrix product (5120 x 1024 @ 1024 x 1024), GFLOP/s."""
    a, b = torch.randn(5120, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * 5120 * 1024 * 1024 / statistics.median(times) / 1e9


def roofline(cfg: ModelConfig, batch: int, release_seconds: float) -> str:
    """The fastest a training step could be if every multiply-add ran at the large-matrix-product rate.

    Forward + backward of a product costs about three forward products (the two gradient products), so a step does
    about ``3 x 2 x MACs`` floating-point operations. Both implementations do exactly these operations; batching can
    only remove the time spent outside them, so ``release_seconds / floor`` bounds any speed-up in float32.
    """
    from ehfusion.models.introspection import count_macs

    flops = 3 * 2 * count_macs(build_model(cfg)) * batch
    rate = matmul_gflops()
    floor = flops / (rate * 1e9)
    return (f"  roofline: {flops / 1e9:.0f} GFLOP per step; a large float32 matrix product runs at {rate:.0f} GFLOP/s "
            f"here, so no float32 step can take less than {floor:.2f} s: at most "
            f"{release_seconds / floor:.1f}x faster than the release-style step")


#: Operator categories of :func:`time_breakdown` (self time of the profiled ATen operators).
CATEGORIES = {
    "matrix products": ("aten::mm", "aten::addmm", "aten::addmm_", "aten::bmm", "aten::baddbmm"),
    "convolutions": ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::_slow_conv2d_forward",
                     "aten::_slow_conv2d_backward"),
    "dropout masks": ("aten::bernoulli_", "aten::random_", "aten::ge"),
    "BatchNorm": ("aten::native_batch_norm", "aten::native_batch_norm_backward"),
}


def time_breakdown(model, optimiser, window, camera, target) -> dict[str, float]:
    """Seconds per operator category (:data:`CATEGORIES`, plus ``"rest"`` and ``"total"``) of one profiled step."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        training_step(model, optimiser, window, camera, target)
    seconds = {name: 0.0 for name in CATEGORIES}
    seconds["rest"] = 0.0
    for event in prof.key_averages():
        category = next((name for name, ops in CATEGORIES.items() if event.key in ops), "rest")
        seconds[category] += event.self_cpu_time_total / 1e6
    seconds["total"] = sum(seconds.values())
    return seconds


def describe_breakdown(batched: dict[str, float], release: dict[str, float], release_seconds: float) -> str:
    """Where each step's time goes, and the speed-up left if everything but the matrix products were free."""

    def parts(b: dict[str, float]) -> str:
        return " + ".join(f"{b[name]:.2f} s {name}" for name in (*CATEGORIES, "rest") if b[name] >= 0.005)

    products = batched["matrix products"]
    return (f"  one profiled step each: batched {batched['total']:.2f} s = {parts(batched)}\n"
            f"                          release-style {release['total']:.2f} s = {parts(release)}\n"
            f"  bound: the batched step's own matrix products take {products:.2f} s; even if every other operation "
            f"took no time, it would be at most {release_seconds / products:.1f}x faster than the release-style step "
            f"({release_seconds:.2f} s)")


def profile_step(cfg: ModelConfig, batch: int, rows: int = 25) -> None:
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    model = build_model(cfg).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, amsgrad=True)
    window, camera, target = make_batch(cfg, batch)
    training_step(model, optimiser, window, camera, target)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        training_step(model, optimiser, window, camera, target)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small batch and few repetitions (smoke run)")
    parser.add_argument("--profile", action="store_true", help="print torch.profiler's top operators")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=("stage3", "one-stage", "sequence"), default=None,
                        help="run only one of the measurements")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--size", choices=("paper", "small"), default="paper",
                        help="paper: L=C=256, hidden 1024 (the defaults; the size the speed target is set for); "
                             "small: the shipped checkpoints' widths (ehfusion.experiments.ExperimentConfig)")
    parser.add_argument("--batch", type=int, default=None, help="windows per training step (default 1024)")
    parser.add_argument("--retain-memory", action="store_true",
                        help="keep freed memory for reuse (allocator.retain_freed_memory; affects both models)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.retain_memory:
        print("retain_freed_memory:", retain_freed_memory())
    batch = args.batch or (128 if args.quick else 1024)
    repeats = 2 if args.quick else args.repeats
    warmup = 1 if args.quick else 2
    if args.size == "paper":
        base = ModelConfig(filter_widths=(3, 3, 3), latent=256, channels=256, hidden=1024)
    else:
        from ehfusion.experiments import ExperimentConfig

        base = ExperimentConfig(filter_widths=(3, 3, 3)).ehfusion_config("heterogeneous")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch {batch}, "
          f"receptive field {base.receptive_field}, L={base.latent}, C={base.channels}, hidden={base.hidden}, "
          f"angle C={base.angle_channels}")
    if args.only != "sequence":
        print("training step, median seconds (wall clock | CPU time of this process); "
              "speed-up = release-style / batched")
        print(f"{'':<22}{'batched':>15}{'release-style':>17}{'speed-up':>15}{'release, byte masks':>21}"
              f"{'speed-up':>15}{'max |diff|':>11}")
    for key, label, cfg in (("stage3", "three-stage, stage 3", stage_config(base, "three-stage", 3)),
                            ("one-stage", "one-stage", stage_config(base, "one-stage"))):
        if args.only not in (None, key):
            continue
        r = compare_training(cfg, batch, repeats, warmup, breakdown=not args.quick)
        b, rel, relb = r["batched"], r["release-style"], r["release-style, byte masks"]

        def pair(x):
            return f"{x[0]:.2f} | {x[1]:.2f}"

        def ratio(x):
            return f"{x[0] / b[0]:.2f}x | {x[1] / b[1]:.2f}x"

        print(f"{label:<22}{pair(b):>15}{pair(rel):>17}{ratio(rel):>15}{pair(relb):>21}{ratio(relb):>15}"
              f"{r['max |difference| of outputs'][0]:>11.1e}")
        print(roofline(cfg, batch, rel[0]))
        if "breakdown, batched" in r:
            print(describe_breakdown(r["breakdown, batched"], r["breakdown, release-style"], rel[0]))
    if args.only not in (None, "sequence"):
        return
    frames = 200 if args.quick else 1000
    print(f"whole-sequence inference, {frames} frames (frames/s):")
    for label, cfg in (("EHFusion one-stage, 27 frames", base),
                       ("EHFusion one-stage, 243 frames", base.replace(filter_widths=(3, 3, 3, 3, 3))),
                       ("VideoPose3D 1024 ch, 243 frames",
                        ModelConfig(architecture="videopose3d", channels=1024, filter_widths=(3, 3, 3, 3, 3)))):
        print(f"  {label:<34}{sequence_speed(cfg, frames, 1 if args.quick else 3):>10.0f}")
    if args.profile:
        profile_step(stage_config(base, "three-stage", 3), batch)


if __name__ == "__main__":
    main()
