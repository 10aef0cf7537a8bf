"""Training-batch throughput of the window batcher on the embedded dataset.

    python -m benchmarks.bench_batching [--receptive-field 27] [--batch-size 1024] [--keypoints det]
"""
from __future__ import annotations

import argparse
import time

from ehfusion.data import load_dataset
from ehfusion.data.batching import WindowBatcher


def measure(receptive_field: int = 27, batch_size: int = 1024, keypoints: str = "det", epochs: int = 2) -> dict:
    dataset = load_dataset("embedded", keypoints)
    sequences = dataset.sequences(["S1", "S5", "S6", "S7"])
    batcher = WindowBatcher(sequences, receptive_field, batch_size, skeleton=dataset.skeleton, seed=0)
    batches = 0
    start = time.perf_counter()
    for epoch in range(epochs):
        batcher.set_epoch(epoch)
        for _ in batcher:
            batches += 1
    seconds = time.perf_counter() - start
    return {
        "receptive_field": receptive_field,
        "batch_size": batch_size,
        "windows": batcher.num_windows,
        "batches_per_second": batches / seconds,
        "windows_per_second": batches * batch_size / seconds,
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--receptive-field", type=int, nargs="*", default=[27, 81, 243])
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--keypoints", default="det")
    args = parser.parse_args(argv)
    rows = []
    print(f"{'frames':>6} {'batch':>6} {'windows':>8} {'batches/s':>10} {'windows/s':>11}")
    for rf in args.receptive_field:
        row = measure(rf, args.batch_size, args.keypoints)
        rows.append(row)
        print(f"{rf:6d} {args.batch_size:6d} {row['windows']:8d} {row['batches_per_second']:10.1f} "
              f"{row['windows_per_second']:11.0f}")
    return rows


if __name__ == "__main__":
    main()
