"""All benchmarks in one go: ``python -m benchmarks`` (or ``make bench``) prints the tables and writes
``benchmarks/results.md`` with a description of the machine.

Sections: batching throughput (``bench_batching``), training step time and peak memory per model and receptive field
(``bench_training``, each configuration in a fresh process), whole-sequence and streaming inference
(``bench_inference``), and the batched-groups against looped-groups speed-up (``bench_model``, when present).
The default settings finish in under ten minutes on a 2-core laptop; ``--quick`` is a smoke run of every section.
Timings depend on everything else the machine is doing: the load average at the start is recorded with the results.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from ehfusion.io import atomic_write

RESULTS = Path(__file__).resolve().parent / "results.md"


# ---------------------------------------------------------------------------------------------------------- machine
def machine_description() -> dict[str, str]:
    """CPU model, cores, memory, load, Python and torch versions, torch threads."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    memory = "unknown"
    try:
        with open("/proc/meminfo") as handle:
            kib = int(next(line for line in handle if line.startswith("MemTotal")).split()[1])
        memory = f"{kib / 2**20:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU only)"
    return {
        "CPU": cpu,
        "logical cores": str(os.cpu_count()),
        "memory": memory,
        "GPU": gpu,
        "load average at start (1, 5, 15 min)": load,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "torch": torch.__version__,
        "torch threads": str(torch.get_num_threads()),
        "date (UTC)": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
    }


# ---------------------------------------------------------------------------------------------------------- sections
def batching_section(quick: bool, say) -> list[dict]:
    from benchmarks.bench_batching import measure

    rows = []
    say(f"{'frames':>6}{'batch':>7}{'windows':>9}{'batches/s':>11}{'windows/s':>11}")
    for frames in (27,) if quick else (27, 81, 243):
        row = measure(frames, 1024, "det", epochs=1)
        rows.append(row)
        say(f"{frames:>6}{row['batch_size']:>7}{row['windows']:>9}{row['batches_per_second']:>11.1f}"
            f"{row['windows_per_second']:>11.0f}")
    return rows


def grouping_section(quick: bool, say) -> list[dict] | None:
    """Batched groups against one module per group (the release's way), from ``benchmarks/bench_model.py``."""
    try:
        from benchmarks import bench_model
    except ImportError:
        say("benchmarks/bench_model.py is not there: skipped")
        return None
    from ehfusion.models import ModelConfig, stage_config

    base = ModelConfig()  # the published size: the grouping overhead matters most there
    batch = 32 if quick else 64
    rows = []
    say(f"{'model':<22}{'batch':>6}{'batched (s)':>13}{'looped (s)':>12}{'speed-up':>10}")
    for label, cfg in (("three-stage, stage 3", stage_config(base, "three-stage", 3)),
                       ("one-stage", stage_config(base, "one-stage"))):
        r = bench_model.compare_training(cfg, batch, 1 if quick else 2, 1)
        batched, looped = r["batched"][0], r["release-style"][0]  # (wall-clock, CPU) seconds: compare wall-clock
        row = {"model": label, "batch": batch, "batched_s": batched, "looped_s": looped, "speed_up": looped / batched}
        rows.append(row)
        say(f"{label:<22}{batch:>6}{row['batched_s']:>13.3f}{row['looped_s']:>12.3f}{row['speed_up']:>9.2f}x")
    return rows


# ---------------------------------------------------------------------------------------------------------- roofline
ROOFLINE_MODELS = ("VideoPose3D", "EHFusion stage 3", "EHFusion one-stage")


def roofline_rows(measured: list[dict], rate_gflops: float) -> list[dict]:
    """How close each training step comes to the float32 bound, and what its matrix products alone cost per MAC.

    ``measured``: per model ``macs`` (per window), ``batch``, ``step_s`` (median step), ``products_s`` (seconds in
    matrix products in one profiled step) and ``profiled_s`` (that step's total). A step does about ``3 x 2 x MACs``
    floating-point operations per window (forward, and the two gradient products backward); at the rate of one large
    matrix product (``rate_gflops``) that takes ``bound_s``. ``fraction`` = bound / step (1 = at the bound);
    ``products_per_mac`` is the matrix products' time per MAC relative to the first row's (VideoPose3D's).
    """
    rows = []
    for m in measured:
        bound = 6 * m["macs"] * m["batch"] / (rate_gflops * 1e9)
        rest = m["profiled_s"] - m["products_s"]
        rows.append({"model": m["model"], "macs": m["macs"], "batch": m["batch"], "step_s": m["step_s"],
                     "bound_s": bound, "fraction": bound / m["step_s"], "times_bound": m["step_s"] / bound,
                     "products_share": m["products_s"] / m["profiled_s"],
                     "products_per_mac_s": m["products_s"] / (m["macs"] * m["batch"]),
                     "activations": m["activations"], "activations_per_mac": m["activations"] / m["macs"],
                     "rest_per_activation_s": rest / (m["activations"] * m["batch"])})
    for key in ("products_per_mac", "activations_per_mac", "rest_per_activation"):
        base = rows[0][f"{key}_s" if key != "activations_per_mac" else key] if rows else 1.0
        for r in rows:
            r[f"{key}_ratio"] = r[f"{key}_s" if key != "activations_per_mac" else key] / base
    return rows


def normalised_activations(model) -> int:
    """Numbers per window that pass through a BatchNorm (each is then normalised, activated, dropped out and, in
    backward, differentiated through all three): the elementwise work of a step, as MACs are its matrix work."""
    from benchmarks.bench_model import make_batch
    from ehfusion.models.blocks import batch_norm_unfolded

    counts = []
    hooks = [module.register_forward_hook(lambda _m, _i, out: counts.append(out.numel()))
             for module in model.modules() if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), batch_norm_unfolded():  # every BatchNorm runs as itself, so that its hook counts it
            model(*make_batch(model.config, 1)[:2])
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return sum(counts)


def roofline_section(quick: bool, size: str, say) -> list[dict]:
    """Training step at 27 frames, batch 1024: time against the float32 roofline, and the matrix products' share."""
    from benchmarks import bench_model
    from benchmarks.bench_training import model_config
    from ehfusion.models import build_model
    from ehfusion.models.introspection import count_macs

    batch, repeats = (256, 2) if quick else (1024, 3)
    rate = bench_model.matmul_gflops()
    measured = []
    for name in ROOFLINE_MODELS:
        torch.manual_seed(0)
        cfg = model_config(name, 27, size)
        model = build_model(cfg).train()
        optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, amsgrad=True)
        window, camera, target = bench_model.make_batch(cfg, batch)
        steps = [bench_model.training_step(model, optimiser, window, camera, target)[0] for _ in range(repeats + 1)]
        parts = bench_model.time_breakdown(model, optimiser, window, camera, target)
        measured.append({"model": name, "macs": count_macs(model), "batch": batch,
                         "activations": normalised_activations(model),
                         "step_s": statistics.median(steps[1:]), "products_s": parts["matrix products"],
                         "profiled_s": parts["total"]})
    rows = roofline_rows(measured, rate)
    say(f"a large float32 matrix product runs at {rate:.0f} GFLOP/s")
    say(f"{'model':<20}{'step (s)':>10}{'bound (s)':>11}{'fraction':>10}{'products':>10}{'products/MAC':>14}"
        f"{'activations/MAC':>17}{'rest/activation':>17}")
    for r in rows:
        say(f"{r['model']:<20}{r['step_s']:>10.3f}{r['bound_s']:>11.3f}{r['fraction']:>10.2f}"
            f"{r['products_share']:>9.0%}{r['products_per_mac_ratio']:>13.2f}x{r['activations_per_mac_ratio']:>16.2f}x"
            f"{r['rest_per_activation_ratio']:>16.2f}x")
    for r in rows:
        r["rate_gflops"] = rate
    return rows


# ---------------------------------------------------------------------------------------------- per multiply-accumulate
BASELINE = "VideoPose3D"


def per_mac_rows(training: list[dict] | None, inference: list[dict] | None) -> list[dict]:
    """EHFusion's time per multiply-accumulate relative to VideoPose3D's, measured side by side in this run.

    For each receptive field and EHFusion model: (EHFusion's time / VideoPose3D's time) / (EHFusion's MACs /
    VideoPose3D's MACs), for a training step (per window), whole-sequence inference (per output frame, with each
    model's whole-sequence MACs: VideoPose3D shares work between overlapping windows, EHFusion cannot) and streaming
    (latency of one new frame). 1.0 is parity; above 1 EHFusion spends more time per MAC.
    """
    def index(rows):
        return {(r["model"], r["frames"]): r for r in rows or []}

    train, infer = index(training), index(inference)
    out = []
    for (name, frames) in sorted(set(train) | set(infer), key=lambda k: (k[1], k[0])):
        if name == BASELINE:
            continue
        row = {"model": name, "frames": frames}
        t, tb = train.get((name, frames)), train.get((BASELINE, frames))
        if t and tb and "macs" in t:
            row["training"] = (tb["windows_per_s"] / t["windows_per_s"]) / (t["macs"] / tb["macs"])
        i, ib = infer.get((name, frames)), infer.get((BASELINE, frames))
        if i and ib and "sequence_macs" in i:
            row["sequence"] = (ib["sequence_fps"] / i["sequence_fps"]) / (i["sequence_macs"] / ib["sequence_macs"])
            row["streaming"] = (i["latency_ms_median"] / ib["latency_ms_median"]) / (i["stream_macs"] / ib["stream_macs"])
        out.append(row)
    return out


def _ratio(value) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def per_mac_section(sections: dict, say) -> list[dict]:
    rows = per_mac_rows(sections.get("training"), sections.get("inference"))
    say(f"{'model':<20}{'frames':>7}{'training':>10}{'sequence':>10}{'streaming':>11}   (time per MAC / VideoPose3D's)")
    for r in rows:
        say(f"{r['model']:<20}{r['frames']:>7}{_ratio(r.get('training')):>10}{_ratio(r.get('sequence')):>10}"
            f"{_ratio(r.get('streaming')):>11}")
    return rows


# ---------------------------------------------------------------------------------------------------------- report
def _table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """Markdown table; ``columns`` are (header, key, format)."""
    head = "| " + " | ".join(h for h, _, _ in columns) + " |"
    rule = "|" + "|".join("---" if f == "s" else "---:" for _, _, f in columns) + "|"
    body = ["| " + " | ".join(format(r[k], f) for _, k, f in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def render(machine: dict, sections: dict, settings: dict, seconds: float) -> str:
    lines = ["# Benchmarks", "",
             "Written by `python -m benchmarks` (`make bench`). Timings depend on the machine and on whatever else "
             "it was running (see the load average).", "", "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in machine.items()]
    lines += [f"- {k}: {v}" for k, v in settings.items()]
    lines += [f"- total time: {seconds / 60:.1f} min", ""]
    if sections.get("batching"):
        lines += ["## Batching throughput", "", "Training windows gathered per second by `WindowBatcher` "
                  "(embedded det keypoints, S1, S5, S6, S7, flip augmentation, one epoch).", "",
                  _table(sections["batching"], [("frames", "receptive_field", "d"), ("batch", "batch_size", "d"),
                                                ("windows", "windows", "d"),
                                                ("batches/s", "batches_per_second", ".1f"),
                                                ("windows/s", "windows_per_second", ",.0f")]), ""]
    if sections.get("training"):
        lines += ["## Training step", "",
                  "Forward + backward + AdamW step on one batch of random windows, median over repetitions. Peak RSS "
                  "is the peak resident memory of a fresh process that ran only this configuration; 'step memory' is "
                  "that peak minus the resident memory just before the first step.", "",
                  _table(sections["training"], [("model", "model", "s"), ("frames", "frames", "d"),
                                                ("batch", "batch", "d"), ("parameters", "params", ",d"),
                                                ("step (s)", "step_s", ".3f"), ("windows/s", "windows_per_s", ",.0f"),
                                                ("peak RSS (MiB)", "peak_rss_mib", ",.0f"),
                                                ("step memory (MiB)", "step_memory_mib", ",.0f")]), ""]
    if sections.get("inference"):
        lines += ["## Inference", "",
                  "Whole sequence: `forward_sequence` on one sequence, evaluation mode, no flip. Streaming: a causal "
                  "model fed one new frame at a time (batch 1, one torch thread: faster than two for one window); "
                  "latency from a frame's arrival to its 3D pose.", "",
                  _table(sections["inference"], [("model", "model", "s"), ("frames", "frames", "d"),
                                                 ("sequence frames/s", "sequence_fps", ",.0f"),
                                                 ("stream frames/s", "stream_fps", ",.0f"),
                                                 ("latency median (ms)", "latency_ms_median", ".2f"),
                                                 ("latency p95 (ms)", "latency_ms_p95", ".2f")]), ""]
    if sections.get("per_mac"):
        rows = [{**r, **{k: _ratio(r.get(k)) for k in ("training", "sequence", "streaming")}} for r in sections["per_mac"]]
        lines += ["## Time per multiply-accumulate, against VideoPose3D", "",
                  "EHFusion's time divided by VideoPose3D's, divided by EHFusion's MACs over VideoPose3D's, from the "
                  "two tables above (same run, same process settings): 1.00x is parity, above 1 EHFusion spends more "
                  "time per multiply-accumulate. Sequence inference uses each model's whole-sequence MACs per frame "
                  "(VideoPose3D shares work between overlapping windows; EHFusion's encodings depend on the output "
                  "frame, so it cannot).", "",
                  _table(rows, [("model", "model", "s"), ("frames", "frames", "d"), ("training step", "training", "s"),
                                ("sequence inference", "sequence", "s"), ("streaming latency", "streaming", "s")]), ""]
    if sections.get("roofline"):
        rows = sections["roofline"]
        lines += ["## Training step against the roofline", "",
                  f"One training step at 27 frames, batch {rows[0]['batch']}. A step does about 3 x 2 x MACs "
                  f"floating-point operations per window; at the rate of one large float32 matrix product on this "
                  f"machine ({rows[0]['rate_gflops']:.0f} GFLOP/s) that takes the 'bound'. 'fraction' = bound / step "
                  "(1 = at the bound). 'products' is the share of a profiled step spent in matrix products, and "
                  "'products per MAC' their time per multiply-accumulate relative to VideoPose3D's. 'activations' are "
                  "the numbers per window that pass through a BatchNorm (normalised, activated, dropped out, and "
                  "differentiated through all three in backward): a step's elementwise work, as MACs are its matrix "
                  "work; 'activations per MAC' and 'rest per activation' (the time outside matrix products per "
                  "activation) are relative to VideoPose3D's.", "",
                  _table(rows, [("model", "model", "s"), ("MACs / window", "macs", ",d"), ("step (s)", "step_s", ".3f"),
                                ("bound (s)", "bound_s", ".3f"), ("fraction", "fraction", ".2f"),
                                ("products", "products_share", ".0%"),
                                ("products per MAC", "products_per_mac_ratio", ".2f"),
                                ("activations / window", "activations", ",d"),
                                ("activations per MAC", "activations_per_mac_ratio", ".2f"),
                                ("rest per activation", "rest_per_activation_ratio", ".2f")]), ""]
    if sections.get("grouping"):
        lines += ["## Batched groups against looped groups", "",
                  "One training step of the published-size model (27 frames): the five groups computed as one batched "
                  "operation against one module per group called in a loop (the release's way), same weights.", "",
                  _table(sections["grouping"], [("model", "model", "s"), ("batch", "batch", "d"),
                                                ("batched (s)", "batched_s", ".3f"), ("looped (s)", "looped_s", ".3f"),
                                                ("speed-up", "speed_up", ".2f")]), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 27 frames only, few repetitions")
    parser.add_argument("--size", default="small", choices=("small", "paper"),
                        help="model size of the training and inference sections")
    parser.add_argument("--skip", nargs="*", default=[], choices=("batching", "training", "inference", "grouping", "roofline"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=str(RESULTS), help="where the markdown report goes")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from benchmarks import bench_inference, bench_training

    start = time.perf_counter()
    machine = machine_description()
    for key, value in machine.items():
        print(f"{key}: {value}")
    frames = (27,) if args.quick else (27, 81, 243)
    settings = {"model size": f"{args.size} ({bench_training.describe_size(args.size)})", "quick": args.quick}
    steps = {
        "batching": lambda say: batching_section(args.quick, say),
        "training": lambda say: bench_training.run(frames, size=args.size, repeats=1 if args.quick else 2,
                                                   warmup=1, threads=args.threads, progress=say),
        "inference": lambda say: bench_inference.run(frames, size=args.size, length=200 if args.quick else 300,
                                                     steps=30 if args.quick else 100,
                                                     repeats=1 if args.quick else 3, progress=say),
        "grouping": lambda say: grouping_section(args.quick, say),
        "roofline": lambda say: roofline_section(args.quick, args.size, say),
    }
    sections = {}
    for name, step in steps.items():
        if name in args.skip:
            continue
        print(f"\n== {name} ==", flush=True)
        t = time.perf_counter()
        sections[name] = step(lambda text: print(text, flush=True))
        print(f"({time.perf_counter() - t:.0f} s)", flush=True)
    if sections.get("training") or sections.get("inference"):
        print("\n== time per multiply-accumulate ==", flush=True)
        sections["per_mac"] = per_mac_section(sections, lambda text: print(text, flush=True))
    seconds = time.perf_counter() - start
    if hasattr(os, "getloadavg"):
        machine["load average at end (1, 5, 15 min)"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    report = render(machine, sections, settings, seconds)
    with atomic_write(args.out, "w") as handle:
        handle.write(report + "\n")
    print(f"\n{seconds / 60:.1f} min; report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
