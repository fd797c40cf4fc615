"""Keypress-to-render latency of the app, idle vs while the real embedded model
generates in a worker — same app, same run.

    .venv/bin/python bench/tui_latency.py [--presses 200]

Each sample: a key that moves the shot board's cursor goes to the driver; the
clock stops at the first composed frame after the cursor moved.
Goal: p99 < 50 ms while generating.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from textual import events

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from inkubator_tui.agents.backend import make_llm  # noqa: E402
from inkubator_tui.agents.rules import RuleBeats  # noqa: E402
from inkubator_tui.config import load_config  # noqa: E402
from inkubator_tui.pipeline.pipeline import Pipeline  # noqa: E402
from inkubator_tui.pipeline.registry import Registry  # noqa: E402
from inkubator_tui.project.models import Step  # noqa: E402
from inkubator_tui.project.store import Store  # noqa: E402
from inkubator_tui.tui.app import InkubatorApp, sample_notes  # noqa: E402
from inkubator_tui.tui.board import ShotBoard  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def measure(app: InkubatorApp, n: int, paints: list[float]) -> list[float]:
    """Send a key straight to the driver; stop the clock at the first repaint
    after the board's cursor has moved (the frame that shows the keypress)."""
    board = app.query_one(ShotBoard)
    out = []
    for i in range(n):
        key = "down" if (i // 5) % 2 == 0 else "up"
        row = board.cursor_row
        t0 = time.perf_counter()
        app._driver.send_message(events.Key(key, None))
        moved = None
        while time.perf_counter() - t0 < 5:
            await asyncio.sleep(0.0005)
            if moved is None and board.cursor_row != row:
                moved = time.perf_counter()
            if moved is not None and paints and paints[-1] >= moved:
                break
        out.append((paints[-1] - t0) * 1000 if moved is not None and paints else 5000.0)
        await asyncio.sleep(0.02)
    return out


async def main(presses: int) -> None:
    config = load_config().config
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.create(Path(tmp) / "bench")
        pipe = Pipeline(store, Registry(config, overrides={Step.BEATS: RuleBeats(config)}))
        pipe.draft_beats(sample_notes())
        pipe.approve(pipe.pending(Step.BEATS)[0].id, approver="bench")
        llm = make_llm(config, "llama")
        app = InkubatorApp(store.root, load_config(), pipeline=pipe)
        async with app.run_test(size=(120, 40)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            paints: list[float] = []
            display = app._display

            def hooked(screen, renderable):  # every composed frame, headless or not
                if renderable is not None:
                    paints.append(time.perf_counter())
                display(screen, renderable)

            app._display = hooked
            app.query_one(ShotBoard).focus()
            await pilot.pause()
            idle = await measure(app, presses, paints)
            tokens = []

            def generate(token):  # a long generation in a worker, streaming into the chat
                while not token.cancelled:
                    llm.complete("The storyboard artist sketched", max_tokens=64, temperature=0.8,
                                 on_token=lambda t: (tokens.append(t), app.post_message(app.Token(t))),
                                 cancel=token)

            app.start_job("generation", generate)
            await pilot.pause(0.5)
            busy = await measure(app, presses, paints)
            app.action_cancel()
            await app.workers.wait_for_complete()
    print(f"keypress → render, {presses} presses each, 120×40, 1 llama thread")
    print(f"{'':24}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}")
    for name, xs in (("idle", idle), ("while generating", busy)):
        print(f"{name:24}{statistics.median(xs):8.1f}{pct(xs, 99):8.1f}{max(xs):8.1f}")
    print(f"ratio p99 generating/idle: {pct(busy, 99) / pct(idle, 99):.2f}; tokens streamed meanwhile: {len(tokens)}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--presses", type=int, default=200)
    asyncio.run(main(ap.parse_args().presses))
