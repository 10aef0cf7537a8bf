"""Video to 3D speed: frames per second of every stage of ``ehfusion-lift --video`` on this machine.

    python -m benchmarks.bench_video [--video data/pose2sim_demo/cam01.mp4] [--repeats 3] [--gif]

Stages (:func:`ehfusion.video.pipeline.lift_video`): **decode** (OpenCV reads and converts every frame to RGB),
**detect** (MediaPipe BlazePose, ``model_complexity=1``, at the video's full resolution), **convert/fill** (BlazePose to
COCO-17, gap filling, Human3.6M-17, normalisation), **lift** (the default checkpoint on the whole sequence, flip
test-time augmentation) and **export** (NPZ, CSV and BVH). ``--gif`` adds the animation (60 frames drawn by
Matplotlib), which is reported apart: it is optional and slower than everything else. End to end is decode to export.
Every figure is the median over ``--repeats`` runs, each with a new detector (its start-up is reported apart).
Timings depend on everything else the machine is doing: the load average is printed with them.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from ehfusion.paths import DATA_DIR


def run_once(video: Path, checkpoint: str, gif: bool) -> tuple[dict[str, float], int, float]:
    """``(seconds per stage, frames, detector start-up seconds)`` of one run."""
    from ehfusion.video.detector import BlazePoseDetector
    from ehfusion.video.export import write_bvh, write_csv
    from ehfusion.video.pipeline import lift_video

    start = time.perf_counter()
    detector = BlazePoseDetector()
    startup = time.perf_counter() - start
    try:
        done = lift_video(video, checkpoint, detector=detector, thumbnails=60 if gif else 0, progress=False)
    finally:
        detector.close()
    result = done.result
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        result.save(Path(folder) / "poses.npz")
        write_csv(result.poses_3d, Path(folder) / "poses.csv", fps=done.fps)
        write_bvh(result.poses_3d, Path(folder) / "poses.bvh", fps=done.fps)
        done.seconds["export"] = time.perf_counter() - start
        if gif:
            from ehfusion.video.animation import write_video_gif

            start = time.perf_counter()
            write_video_gif(done, Path(folder) / "poses.gif")
            done.seconds["gif"] = time.perf_counter() - start
    return done.seconds, result.num_frames, startup


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_video", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", default=str(DATA_DIR / "pose2sim_demo" / "cam01.mp4"))
    parser.add_argument("--checkpoint", default="det_three-stage_3_best_epoch.bin")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gif", action="store_true", help="also time the animation")
    args = parser.parse_args(argv)
    from ehfusion.video.reading import video_info

    info = video_info(args.video)
    runs = [run_once(Path(args.video), args.checkpoint, args.gif) for _ in range(args.repeats)]
    frames = runs[0][1]
    stages = list(runs[0][0])
    seconds = {stage: statistics.median(run[0][stage] for run in runs) for stage in stages}
    pipeline = [s for s in stages if s != "gif"]
    total = sum(seconds[s] for s in pipeline)
    print(f"{Path(args.video).name}: {info.width}x{info.height}, {frames} frames; {args.checkpoint}; "
          f"median of {args.repeats} runs; load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{os.cpu_count()} logical cores")
    print(f"{'stage':<14}{'seconds':>9}{'frames/s':>11}")
    for stage in stages:
        print(f"{stage:<14}{seconds[stage]:9.3f}{frames / seconds[stage]:11.1f}")
    print(f"{'end to end':<14}{total:9.3f}{frames / total:11.1f}   (decode to export, without the GIF)")
    print(f"lifter time / detector time: {100 * seconds['lift'] / seconds['detect']:.1f} %; detector start-up "
          f"{statistics.median(run[2] for run in runs):.2f} s (once per video, not counted above)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
