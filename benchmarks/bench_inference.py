"""Inference speed: whole sequences (frames per second) and streaming (one new frame at a time, causal models).

    python -m benchmarks.bench_inference [--frames 27 81 243] [--size small|paper] [--length 1000] [--steps 200]

* **Whole sequence**: ``model.forward_sequence`` on one padded sequence of ``--length`` frames (one view, no flip),
  in evaluation mode; frames per second = length / median time. VideoPose3D shares work between neighbouring outputs
  (dilated convolutions); EHFusion evaluates every window (see :mod:`ehfusion.models.ehfusion_net`).
* **Streaming**: a causal model (the output frame is the window's last) fed one new frame at a time, as a live camera
  would: the newest frame is appended to a buffer of the last ``T`` frames (edge-padded at the start) and the model
  predicts that frame. Latency is the time from a frame's arrival to its 3D pose (median and 95th percentile over
  ``--steps`` frames, after a warm-up); frames per second = 1 / mean latency, for one stream on this machine.
"""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from benchmarks.bench_training import CAMERA, MODEL_NAMES, model_config, model_parser
from ehfusion.models import build_model
from ehfusion.models.introspection import count_macs, sequence_macs_per_frame


def _sequence(num_frames: int, joints: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 8, num_frames)[:, None, None]
    base = 0.3 * torch.randn(1, joints, 2, generator=g)
    return (base + 0.05 * torch.sin(t + torch.rand(1, joints, 2, generator=g) * 6)).float()


@torch.inference_mode()
def sequence_fps(name: str, frames: int, *, size: str = "small", length: int = 1000, repeats: int = 2) -> dict:
    """Whole-sequence inference speed of one model (frames per second)."""
    torch.manual_seed(0)
    cfg = model_config(name, frames, size)
    model = build_model(cfg).eval()
    keypoints = _sequence(length + cfg.receptive_field - 1, cfg.skeleton.num_joints)[None]
    camera = torch.tensor([CAMERA])
    model.forward_sequence(keypoints[:, : cfg.receptive_field + 15], camera)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = model.forward_sequence(keypoints, camera)
        times.append(time.perf_counter() - start)
    if next(iter(out.values())).shape[1] != length:
        raise RuntimeError(f"{name}: forward_sequence returned the wrong number of frames")
    seconds = statistics.median(times)
    return {"model": name, "frames": frames, "size": size, "length": length, "sequence_fps": length / seconds,
            "sequence_macs": sequence_macs_per_frame(model)}


@torch.inference_mode()
def streaming(name: str, frames: int, *, size: str = "small", steps: int = 200, warmup: int = 10,
              threads: int | None = 1) -> dict:
    """Latency of a causal model predicting each new frame as it arrives (one stream, batch 1).

    ``threads``: torch CPU threads during the measurement (restored afterwards). One window at a time is too little
    work to share: on a 2-core machine both models answer about twice as fast on one thread as on two (the threads'
    hand-over costs more than it saves), so one thread is the default.
    """
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _streaming(name, frames, size=size, steps=steps, warmup=warmup)
    finally:
        torch.set_num_threads(previous)


def _streaming(name: str, frames: int, *, size: str, steps: int, warmup: int) -> dict:
    torch.manual_seed(0)
    cfg = model_config(name, frames, size, causal=True)
    model = build_model(cfg).eval()
    incoming = _sequence(warmup + steps, cfg.skeleton.num_joints)
    camera = torch.tensor([CAMERA])
    buffer = incoming[:1].repeat(cfg.receptive_field, 1, 1)  # edge padding before the first frame
    latencies = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        buffer = torch.cat([buffer[1:], incoming[i : i + 1]])
        pose = model(buffer[None], camera)[model.answer_branch]
        elapsed = time.perf_counter() - start
        if i >= warmup:
            latencies.append(elapsed)
    assert pose.shape == (1, cfg.skeleton.num_joints, 3)
    ms = np.asarray(latencies) * 1000
    return {"model": name, "frames": frames, "size": size, "latency_ms_median": float(np.median(ms)),
            "latency_ms_p95": float(np.percentile(ms, 95)), "stream_fps": float(1000 / ms.mean()),
            "stream_macs": count_macs(model)}


def run(frames=(27, 81, 243), models=MODEL_NAMES, *, size: str = "small", length: int = 1000, steps: int = 200,
        repeats: int = 2, progress=print) -> list[dict]:
    rows = []
    progress(f"{'model':<20}{'frames':>7}{'sequence fps':>14}{'stream fps':>12}{'latency ms':>12}{'p95 ms':>9}")
    for f in frames:
        for name in models:
            row = sequence_fps(name, f, size=size, length=length, repeats=repeats)
            row.update({k: v for k, v in streaming(name, f, size=size, steps=steps).items()
                        if k.startswith(("latency", "stream"))})
            rows.append(row)
            progress(f"{name:<20}{f:>7}{row['sequence_fps']:>14.0f}{row['stream_fps']:>12.0f}"
                     f"{row['latency_ms_median']:>12.2f}{row['latency_ms_p95']:>9.2f}")
    return rows


def main(argv=None) -> list[dict]:
    parser = model_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--length", type=int, default=1000, help="frames of the whole-sequence test")
    parser.add_argument("--steps", type=int, default=200, help="frames of the streaming test")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    return run(args.frames, args.models, size=args.size, length=args.length, steps=args.steps, repeats=args.repeats)


if __name__ == "__main__":
    main()
