"""Local threads vs Ray tasks for render jobs, side by side in one run.

Prints (1) the per-job overhead of Ray over local threads, from 20 near-empty
jobs (the sketch board at 64 px), and (2) the throughput of 20 real motion
jobs (the camera move, 2 s at 24 fps over a 640×360 keyframe) with 1 and 2
workers on each executor. Ray starts once per worker count and its start-up
is reported apart, not counted in the jobs.

    .venv/bin/python bench/executor.py [--shots 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from inkubator_tui.config import load_config  # noqa: E402
from inkubator_tui.pipeline.backend import CancelToken  # noqa: E402
from inkubator_tui.pipeline.executors import BackendHandle, LocalExecutor, RayExecutor, WorkItem  # noqa: E402
from inkubator_tui.pipeline.requests import KeyframeRequest, MotionRequest  # noqa: E402
from inkubator_tui.project.models import AssetRef, Movement, Shot, Size  # noqa: E402
from inkubator_tui.project.assets import sha256_file  # noqa: E402


def run(executor, items, scratch: Path) -> float:
    t0 = time.perf_counter()
    outcomes = list(executor.run(items, scratch=scratch, cancel=CancelToken()))
    seconds = time.perf_counter() - t0
    bad = [o for o in outcomes if not o.ok]
    if bad:
        raise SystemExit(f"{len(bad)} job(s) failed: {bad[0].error}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shots", type=int, default=20)
    args = ap.parse_args()
    n = args.shots
    config = load_config(cli={"keyframe.long_side": 64}).config.model_dump(mode="json")
    sketch = BackendHandle(ref="inkubator_tui.tools.keyframe.sketch:SketchBoard", config=config)
    camera = BackendHandle(ref="inkubator_tui.tools.motion.camera:CameraMove", config=config)

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        tiny = [WorkItem(f"tiny {i}", sketch, KeyframeRequest(shot=Shot(number=str(i + 1)), prompt="x", width=64,
                                                               height=40, seed=i)) for i in range(n)]
        # One real keyframe for the motion jobs, drawn by the sketch board at 640×360.
        big = BackendHandle(ref=sketch.ref, config=load_config().config.model_dump(mode="json"))
        [kf] = list(LocalExecutor(1).run([WorkItem("kf", big, KeyframeRequest(
            shot=Shot(number="1", size=Size.MS, characters=["Mira"], action="Mira waits."), prompt="Mira waits.",
            width=640, height=360))], scratch=scratch, cancel=CancelToken()))
        key = Path(kf.result.files[0])
        ref = AssetRef(sha256=sha256_file(key), ext=".png")
        moves = [WorkItem(f"shot {i + 1}", camera, MotionRequest(
            shot=Shot(number=str(i + 1), movement=Movement.DOLLY_IN), start=ref, frames=48, fps=24,
            movement=Movement.DOLLY_IN, seed=i), files={ref: key}) for i in range(n)]

        rows = []
        import ray

        for workers in (1, 2):
            local = LocalExecutor(workers)
            run(local, tiny[:2], scratch)  # warm: imports and the backend built once
            t_local_tiny = run(local, tiny, scratch)
            t_local = run(local, moves, scratch)
            t0 = time.perf_counter()
            remote = RayExecutor("", workers)
            remote._ray()
            start = time.perf_counter() - t0
            run(remote, tiny[:2 * workers], scratch)  # warm the workers (imports, backend built)
            run(remote, moves[:workers], scratch)
            t_ray_tiny = run(remote, tiny, scratch)
            t_ray = run(remote, moves, scratch)
            ray.shutdown()
            rows.append((workers, t_local_tiny, t_ray_tiny, t_local, t_ray, start))

    print(f"{n} jobs each; times in seconds (2-core machine; noisy: compare within a row)")
    print(f"{'workers':>7} {'tiny local':>10} {'tiny ray':>9} {'ray overhead/job':>17} "
          f"{'motion local':>12} {'motion ray':>10} {'ray/local':>9} {'ray start':>9}")
    for workers, tl, tr, ml, mr, start in rows:
        print(f"{workers:>7} {tl:>10.2f} {tr:>9.2f} {(tr - tl) / n * 1000:>14.1f} ms {ml:>12.2f} {mr:>10.2f} "
              f"{mr / ml:>8.2f}× {start:>9.1f}")
    (w1, _, _, ml1, mr1, _), (w2, _, _, ml2, mr2, _) = rows
    print(f"2 workers vs 1: local {ml1 / ml2:.2f}× faster, ray {mr1 / mr2:.2f}× faster")


if __name__ == "__main__":
    main()
