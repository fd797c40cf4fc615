"""Make docs/screenshot.svg: the app at 120×40 on the sample notes, keyframe
candidates (the sketch board) side by side, as a new user sees it after F5.

    .venv/bin/python docs/screenshot.py

Deterministic: the rules draft the sheet (no model), the sketch board draws
the pictures; half blocks draw them, as in most terminals.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from textual.worker import WorkerCancelled

from inkubator_tui.agents.rules import RuleBeats
from inkubator_tui.config import load_config
from inkubator_tui.pipeline.pipeline import Pipeline
from inkubator_tui.pipeline.registry import Registry
from inkubator_tui.project.models import Step
from inkubator_tui.project.store import Store
from inkubator_tui.tui.app import InkubatorApp, sample_notes
from inkubator_tui.tui.board import ShotBoard

OUT = Path(__file__).parent / "screenshot.svg"


async def settle(app, pilot) -> None:
    """Let the workers finish and their messages land (a replaced refresh is cancelled: fine)."""
    for _ in range(8):
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:
            pass
        await pilot.pause()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_config(cli={"keyframe.backend": "sketch", "keyframe.candidates": 2, "ui.images": "halfcell"})
        store = Store.create(Path(tmp) / "the-last-drone")
        pipe = Pipeline(store, Registry(loaded.config, overrides={Step.BEATS: RuleBeats(loaded.config)}))
        pipe.draft_beats(sample_notes())
        pipe.approve(pipe.pending(Step.BEATS)[0].id, mode="screenshot", approver="director")
        pipe.run_step(Step.KEYFRAMES)
        app = InkubatorApp(store.root, loaded, pipeline=pipe)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            board = app.query_one(ShotBoard)
            board.focus()
            board.move_cursor(row=1)
            await settle(app, pilot)
            app.save_screenshot(filename=OUT.name, path=str(OUT.parent))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
