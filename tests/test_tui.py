"""The app opens on a project and shows its shot board without blocking."""

from __future__ import annotations

from conftest import FIVE_SHOTS, approve_all
from inkubator_tui.config import load_config
from inkubator_tui.project.models import Step
from inkubator_tui.tui.app import InkubatorApp


async def test_board_shows_shots_and_what_awaits_approval(pipe, store):
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    pipe.run_step(Step.KEYFRAMES)
    app = InkubatorApp(store.root, load_config())
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.query_one("DataTable")
        assert table.row_count == 5
        assert "Untitled" not in app.title and "Five" in app.title
        pending = str(app.query_one("#pending").render())
        assert "5 draft(s) await approval" in pending
        await pilot.press("ctrl+q")
    assert app.return_code in (0, None)


async def test_keys_come_from_config(store, isolated_config):
    isolated_config.write_text("[keys]\nrefresh = 'f5'\n")

    class Counting(InkubatorApp):
        refreshes = 0

        def action_refresh(self) -> None:
            Counting.refreshes += 1
            super().action_refresh()

    app = Counting(store.root, load_config())
    async with app.run_test() as pilot:
        await app.workers.wait_for_complete()
        before = Counting.refreshes
        await pilot.press("f5")
        await pilot.press("ctrl+r")  # the default key no longer refreshes
        await app.workers.wait_for_complete()
        assert Counting.refreshes == before + 1
