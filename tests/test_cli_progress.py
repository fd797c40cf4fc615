"""The CLI's progress on stderr: Rich bars on a terminal, the plain throttled lines anywhere else
(pipes, CI, the contract tests), and a display that is gone when the command goes on."""

from __future__ import annotations

import io
import logging
import re
import threading

import pytest
from rich.console import Console

from inkubator_tui.cli.common import ProgressPrinter
from inkubator_tui.pipeline.backend import ProgressEvent

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=100, color_system=None), out


def shown(printer: ProgressPrinter, out: io.StringIO) -> str:
    """What the terminal shows now: the latest frame of the bars."""
    printer.progress.refresh()
    return ANSI.sub("", out.getvalue()).split("\r")[-1]


def test_a_terminal_gets_a_bar_per_job_and_a_row_counting_the_step():
    con, out = terminal()
    with ProgressPrinter(console=con) as printer:
        printer(ProgressEvent("load sketch", 0.5, "weights", "keyframes"))
        printer(ProgressEvent("shot 1", 0.3, "step 3/10", "keyframes"))
        printer(ProgressEvent("shot 2", 0.6, "step 6/10", "keyframes"))
        frame = shown(printer, out)
        assert re.search(r"keyframes load sketch .* 50% .*weights", frame)
        assert re.search(r"keyframes shot 1 .* 30% .*step 3/10", frame)
        assert re.search(r"keyframes shot 2 .* 60% .*step 6/10", frame)
        assert "0 done, 2 running" in frame, "a model load is not one of the step's jobs"

        printer(ProgressEvent("shot 1", 1.0, "done", "keyframes"))
        printer(ProgressEvent("load sketch", 1.0, "loaded", "keyframes"))
        frame = shown(printer, out)
        assert "shot 1" not in frame and "load sketch" not in frame, "finished rows leave the display"
        assert "1 done, 1 running" in frame and "keyframes shot 2" in frame
        finished = {t.description for t in printer.progress.tasks if t.finished}
        assert finished == {"keyframes shot 1", "keyframes load sketch"}


def test_a_single_job_has_no_counting_row_and_long_messages_are_cut_to_fit():
    con, out = terminal()
    with ProgressPrinter(console=con) as printer:
        printer(ProgressEvent("beats", 0.25, "reading the notes " + "and more " * 20))
        lines = [line for line in shown(printer, out).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("beats ") and " 25% " in lines[0]
    assert lines[0].endswith("…")
    assert len(lines[0]) == 98, "two columns left free: a ^C echoed there does not wrap the row"


def test_elsewhere_the_plain_lines_are_throttled_per_job():
    out = io.StringIO()
    printer = ProgressPrinter(console=Console(file=out, force_terminal=False))
    assert printer.progress is None
    printer(ProgressEvent("shot 1", 0.0, "frame 1/9", "motion"))
    printer(ProgressEvent("shot 1", 0.1, "frame 2/9", "motion"))  # within half a second: dropped
    printer(ProgressEvent("shot 1", 0.2, "frame 3/9", "keyframes"))  # another step's job of that name
    printer(ProgressEvent("shot 1", 1.0, "done", "motion"))  # the end always shows
    printer.close()
    printer(ProgressEvent("shot 2", 0.5, "late", "motion"))
    assert out.getvalue().splitlines() == ["  shot 1:   0% frame 1/9", "  shot 1:  20% frame 3/9",
                                           "  shot 1: 100% done"]


def test_quiet_prints_nothing_even_on_a_terminal():
    con, out = terminal()
    with ProgressPrinter(quiet=True, console=con) as printer:
        printer(ProgressEvent("shot 1", 0.5, "half", "keyframes"))
    assert printer.progress is None and out.getvalue() == ""


def test_events_from_many_threads_at_once():
    con, out = terminal()
    errors: list[BaseException] = []

    def job(n: int) -> None:
        try:
            for i in range(50):
                printer(ProgressEvent(f"shot {n}", (i + 1) / 50, f"step {i + 1}/50", "keyframes"))
        except BaseException as e:  # noqa: BLE001 - reported by the test, not lost in the thread
            errors.append(e)

    with ProgressPrinter(console=con) as printer:
        threads = [threading.Thread(target=job, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert "8 done, 0 running" in shown(printer, out)
        assert sum(t.finished for t in printer.progress.tasks) == 8


def test_leaving_the_block_stops_the_display_even_on_ctrl_c():
    con, out = terminal()
    with pytest.raises(KeyboardInterrupt):
        with ProgressPrinter(console=con) as printer:
            printer(ProgressEvent("shot 1", 0.5, "half", "keyframes"))
            assert printer.progress.live.is_started
            raise KeyboardInterrupt
    assert not printer.progress.live.is_started
    assert out.getvalue().endswith("\x1b[?25h\r\x1b[1A\x1b[2K"), "the cursor back, the bar's line erased"
    printer(ProgressEvent("shot 1", 0.9, "a worker finishing late", "keyframes"))
    assert not printer.progress.live.is_started, "a closed printer does not start again"


def test_log_lines_print_above_the_bars_and_the_handler_gets_its_stream_back():
    con, out = terminal()
    handler = logging.StreamHandler(con.file)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with ProgressPrinter(console=con) as printer:
            printer(ProgressEvent("shot 1", 0.5, "half", "keyframes"))
            assert handler.stream is not out
            logging.getLogger("inkubator_tui.test").warning("job shot 2 failed")
        assert handler.stream is out
    finally:
        root.removeHandler(handler)
    # the bar's line erased, the log line in its place, the bar drawn again below it
    assert re.search(r"\r\x1b\[2Kjob shot 2 failed\nkeyframes shot 1 ━+ +50%", out.getvalue())
