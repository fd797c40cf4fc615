"""The app under Textual's pilot: the core flows, never blocking, and snapshots."""

from __future__ import annotations

import threading
import wave

import pytest
from textual import events
from textual.worker import WorkerCancelled

from conftest import FIVE_SHOTS, Double, approve_all
from inkubator_tui.agents.rules import RuleBeats
from inkubator_tui.config import load_config
from inkubator_tui.pipeline.requests import Result
from inkubator_tui.pipeline.pipeline import Pipeline
from inkubator_tui.pipeline.registry import Registry
from inkubator_tui.project.models import DraftStatus, Step
from inkubator_tui.project.store import Store
from inkubator_tui.tui.app import InkubatorApp
from inkubator_tui.tui.board import ShotBoard
from inkubator_tui.tui.chat import ChatPane, NoteInput
from inkubator_tui.tui.preview import PreviewPane
from inkubator_tui.tui.screens import CastScreen, EditShotScreen, NoteScreen


class WavDouble(Double):
    """A voice double that writes a real (silent) WAV, so playback paths are exercised."""

    def __call__(self, request, ctx) -> Result:
        out = ctx.workdir / f"{request.line_id}.wav"
        with wave.open(str(out), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(22050)
            w.writeframes(b"\0\0" * 2205)
        self.calls.append((request.line_id, request.seed, request.note))
        return Result(files=[out], data={"seconds": 0.1}, prompt=request.text)


def make_app(store, doubles=None, isolated=None):
    config = load_config().config
    doubles = doubles or {Step.KEYFRAMES: Double(Step.KEYFRAMES), Step.MOTION: Double(Step.MOTION),
                          Step.VOICE: WavDouble(Step.VOICE), Step.ANIMATIC: Double(Step.ANIMATIC)}
    pipe = Pipeline(store, Registry(config, overrides={Step.BEATS: RuleBeats(config), **doubles}))
    app = InkubatorApp(store.root, load_config(), pipeline=pipe)
    return app, pipe, doubles


async def settle(app, pilot, rounds: int = 6) -> None:
    """Let workers finish and their messages (and the refreshes they start) land."""
    for _ in range(rounds):
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:  # an exclusive refresh replaced by a newer one
            pass
        await pilot.pause()


def chat_text(app) -> str:
    return "\n".join(str(w.render()) for w in app.query_one(ChatPane).query(".msg"))


def preview_text(app) -> str:
    """What the preview pane says, as plain text."""
    from rich.console import Console

    console = Console(width=60, record=True, file=open("/dev/null", "w"))
    for wid in ("#ptitle", "#pbody", "#pfooter"):
        console.print(app.query_one(wid).content)
    return console.export_text()


def board_marks(app, step: Step) -> list[str]:
    board = app.query_one(ShotBoard)
    return [str(board.get_cell(row.key, step.value)) for row in board.ordered_rows]


async def test_notes_to_approved_keyframes_and_motion(store):
    app, pipe, doubles = make_app(store)
    async with app.run_test(size=(110, 34)) as pilot:
        await settle(app, pilot)
        assert "Welcome" in chat_text(app)
        note = app.query_one(NoteInput)
        note.post_message(events.Paste(FIVE_SHOTS))  # pasted notes keep all their lines
        await pilot.pause()
        assert note.value.startswith("⟨7 lines⟩")
        await pilot.press("enter")
        await settle(app, pilot)
        assert "Beat sheet draft 1" in chat_text(app)
        assert store.messages()[0].text == FIVE_SHOTS.strip()
        assert board_marks(app, Step.BEATS) == ["●"] * 5
        app.query_one(ShotBoard).focus()
        await pilot.press("a")
        await settle(app, pilot)
        assert board_marks(app, Step.BEATS) == ["✓"] * 5
        await pilot.press("f5")
        await settle(app, pilot)
        assert board_marks(app, Step.KEYFRAMES) == ["●"] * 5
        await pilot.press("A")
        await settle(app, pilot)
        assert board_marks(app, Step.KEYFRAMES) == ["✓"] * 5
        await pilot.press("f5")
        await settle(app, pilot)
        assert len(doubles[Step.MOTION].calls) == 5 and board_marks(app, Step.MOTION) == ["●"] * 5
        # ↑ recalls the notes sent earlier (several lines stand behind a one-line label)
        note.focus()
        await pilot.press("up")
        assert note.value.startswith("⟨7 lines⟩ Title: Five") and note.take() == FIVE_SHOTS.strip()
    assert [m.role for m in store.messages()][:2] == ["director", "agent"]


async def test_reject_and_redo_with_a_note(pipe, store):
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    app, pipe, doubles = make_app(store)
    pipe.run_step(Step.KEYFRAMES)
    async with app.run_test(size=(110, 34)) as pilot:
        await settle(app, pilot)
        app.query_one(ShotBoard).focus()
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, NoteScreen)
        await pilot.press(*"warmer light", "enter")
        await settle(app, pilot)
        first = store.sheet().shots[0]
        versions = store.drafts(Step.KEYFRAMES, first.id)
        assert [d.status for d in versions] == [DraftStatus.REJECTED, DraftStatus.PENDING]
        assert versions[0].note == "warmer light" and doubles[Step.KEYFRAMES].calls[-1][2] == "warmer light"
        await pilot.press("r")
        await settle(app, pilot)
        assert store.draft(versions[1].id).status == DraftStatus.REJECTED


async def test_edit_a_shot_in_the_form(pipe, store):
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    app, pipe, _ = make_app(store)
    async with app.run_test(size=(110, 40)) as pilot:
        await settle(app, pilot)
        app.query_one(ShotBoard).focus()
        await pilot.press("down", "e")
        await pilot.pause()
        assert isinstance(app.screen, EditShotScreen)
        duration = app.screen.query_one("#duration_s")
        duration.value = "7.5"
        app.screen.query_one("#dialogue").text = "Oskar (quietly): We go now."
        app.screen.query_one("#characters").value = "Oskar"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        shot = store.sheet().shot("2")
        assert shot.duration_s == 7.5 and shot.characters == ["Oskar"]
        assert [(d.character, d.text, d.delivery) for d in shot.dialogue] == [("Oskar", "We go now.", "quietly")]
        assert "shot 2: duration_s, dialogue changed" in chat_text(app)
        # the preview shows the saved values at once, without moving the selection
        assert "7.5s" in preview_text(app) and "We go now." in preview_text(app)
        # a bad value stays in the form with a message a person reads; nothing is lost or saved
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#duration_s").value = "soon"
        await pilot.press("ctrl+s")
        await pilot.pause()
        error = str(app.screen.query_one("#error").render())
        assert isinstance(app.screen, EditShotScreen) and "duration must be a number of seconds" in error
        app.screen.query_one("#duration_s").value = "500"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "at most 120 seconds" in str(app.screen.query_one("#error").render())
        app.screen.query_one("#duration_s").value = "7.5"
        app.screen.query_one("#dialogue").text = "no colon here"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "dialogue line 1: write it as" in str(app.screen.query_one("#error").render())
        await pilot.press("escape")
        assert store.sheet().shot("2").duration_s == 7.5


async def test_escape_cancels_a_running_job_and_the_app_stays_responsive(pipe, store):
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    gate = threading.Event()
    kf = Double(Step.KEYFRAMES)
    kf.gate = gate
    app, pipe, _ = make_app(store, {Step.KEYFRAMES: kf, Step.MOTION: Double(Step.MOTION),
                                    Step.VOICE: WavDouble(Step.VOICE), Step.ANIMATIC: Double(Step.ANIMATIC)})
    try:
        async with app.run_test(size=(110, 34)) as pilot:
            await settle(app, pilot)
            app.query_one(ShotBoard).focus()
            await pilot.press("f5")
            for _ in range(100):
                await pilot.pause(0.02)
                if app.query_one("#jobbar").display and "waiting" in str(app.query_one("#jobline").render()):
                    break
            assert app.busy
            await pilot.press("down", "down")  # the board still moves while the job runs
            assert app.query_one(ShotBoard).cursor_row == 2
            await pilot.press("escape")
            await settle(app, pilot)
            assert not app.busy and store.drafts(Step.KEYFRAMES) == []
            assert "0 new" in chat_text(app) and "cancelled" in chat_text(app)
    finally:
        gate.set()  # never leave a job thread waiting if an assertion failed


async def test_no_audio_device_says_where_the_wav_is(pipe, store, monkeypatch):
    import sounddevice

    def no_device(*a, **kw):
        raise sounddevice.PortAudioError("no output device")

    monkeypatch.setattr(sounddevice, "query_devices", no_device)
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    app, pipe, _ = make_app(store)
    pipe.run_step(Step.VOICE)
    async with app.run_test(size=(110, 34)) as pilot:
        await settle(app, pilot)
        app.query_one(ShotBoard).focus()
        await pilot.press("down", "down", "down", "p")  # shot 4 has Mira's line
        await settle(app, pilot)
        text = chat_text(app)
        assert "no audio output device here; the WAV is at" in text and ".wav" in text


async def test_slash_commands_and_a_failing_job(pipe, store):
    app, pipe, doubles = make_app(store)
    doubles[Step.KEYFRAMES].fail_on = {"1"}
    async with app.run_test(size=(110, 34)) as pilot:
        await settle(app, pilot)
        note = app.query_one(NoteInput)
        for text in (FIVE_SHOTS, "/approve", "/render keyframes 1-2", "/bogus"):
            note.value = text
            await pilot.press("enter")
            await settle(app, pilot)
        text = chat_text(app)
        assert "approved beats draft 1" in text and "1 new" in text and "1 failed" in text
        assert len(store.drafts(Step.KEYFRAMES)) == 1  # shot 2 made; shot 1's failure did not stop it
        note.value = "make shot 3 a close-up"
        await pilot.press("enter")
        await settle(app, pilot)
        [edit] = pipe.pending(Step.BEATS)
        assert edit.data["sheet"]["shots"][2]["size"] == "CU"
        assert f"draft {edit.id}" in chat_text(app).lower() and "shot 3: size → CU" in chat_text(app)
        note.value = "/undo"
        await pilot.press("enter")
        await settle(app, pilot)
        assert "undid “make shot 3 a close-up” (U redoes it)" in chat_text(app)
        assert store.draft(edit.id).status == DraftStatus.REJECTED and store.draft(edit.id).note == "undone"


async def test_keys_come_from_config(store, isolated_config):
    isolated_config.write_text("[keys]\nrefresh = 'f9'\napprove = 'y'\n")
    app, _, _ = make_app(store)
    refreshed = []
    original = app.refresh_view
    app.refresh_view = lambda: (refreshed.append(1), original())[1]
    async with app.run_test() as pilot:
        await settle(app, pilot)
        before = len(refreshed)
        app.query_one(ShotBoard).focus()
        await pilot.press("f9")
        await pilot.press("ctrl+r")  # the default key no longer refreshes
        await settle(app, pilot)
        assert len(refreshed) == before + 1


# ---- snapshots ----------------------------------------------------------------------------------
@pytest.fixture
def snapshot_project(tmp_path):
    """A project with an approved beat sheet, in a folder with a fixed name."""
    store = Store.create(tmp_path / "film")
    config = load_config().config
    pipe = Pipeline(store, Registry(config, overrides={Step.BEATS: RuleBeats(config)}))
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    return store


def _snap_app(store):
    return make_app(store)[0]


async def _settled(pilot):
    await settle(pilot.app, pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_main_screen(snap_compare, snapshot_project, size):
    assert snap_compare(_snap_app(snapshot_project), terminal_size=size, run_before=_settled)


def test_snapshot_help_screen(snap_compare, snapshot_project):
    async def open_help(pilot):
        await _settled(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(_snap_app(snapshot_project), terminal_size=(100, 36), run_before=open_help)


def test_snapshot_command_palette(snap_compare, snapshot_project):
    async def open_palette(pilot):
        await _settled(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"appro")
        await pilot.pause(0.3)

    assert snap_compare(_snap_app(snapshot_project), terminal_size=(100, 30), run_before=open_palette)


async def test_approve_takes_the_newest_beats_draft_which_holds_every_edit(pipe, store):
    app, pipe, _ = make_app(store)
    async with app.run_test(size=(110, 34)) as pilot:
        await settle(app, pilot)
        note = app.query_one(NoteInput)
        for text in (FIVE_SHOTS, "make shot 2 a close-up", "cut shot 5"):
            note.post_message(events.Paste(text)) if "\n" in text else setattr(note, "value", text)
            await pilot.pause()
            await pilot.press("enter")
            await settle(app, pilot)
        assert "beats draft 3" in str(app.query_one("#pfooter").render())
        app.query_one(ShotBoard).focus()
        await pilot.press("a")
        await settle(app, pilot)
        sheet = store.sheet()
        assert [s.number for s in sheet.shots] == ["1", "2", "3", "4"] and sheet.shot("2").size == "CU"


async def test_help_and_doctor_are_one_key_away(store):
    from inkubator_tui.tui.screens import DoctorScreen, HelpScreen

    app, _, _ = make_app(store)
    async with app.run_test(size=(110, 34)) as pilot:
        await settle(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        assert isinstance(app.screen, DoctorScreen)
        # every step has a backend in use; translations are typed (the embedded model cannot translate)
        assert {r["step"] for r in app.screen.rows if r["in_use"]} == {s.value for s in Step} - {"translate"}
        await pilot.press("escape")
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#keys")
        assert table.row_count >= 20  # compact: every key and command on one screen, no rules between rows
        await pilot.press(*"export")  # typing filters
        await pilot.pause()
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert rows and all("export" in " ".join(map(str, r)).lower() for r in rows)
        assert any(str(r[1]).startswith("/export") for r in rows)
        await pilot.press("f1")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_bracketed_paste_with_carriage_returns_keeps_every_line_and_asks_who(store):
    """tmux paste-buffer -p sends line breaks as CR: all lines arrive, and an unattributed
    line becomes the agent's question in the chat."""
    app, pipe, _ = make_app(store)
    notes = "INT. CORRIDOR - NIGHT\r\rAna and Mira wait outside the ward.\rShe says \"Not here.\"\r"
    async with app.run_test(size=(110, 34)) as pilot:
        await settle(app, pilot)
        note = app.query_one(NoteInput)
        note.post_message(events.Paste(notes))
        await pilot.pause()
        assert note.value.startswith("⟨3 lines⟩")
        await pilot.press("enter")
        await settle(app, pilot)
        assert "Who says “Not here.” in shot 2 — Ana or Mira?" in chat_text(app).replace("\n", " ")
        note.value = "Mira"
        await pilot.press("enter")
        await settle(app, pilot)
        assert "Mira says “Not here.”" in chat_text(app).replace("\n", " ")


async def test_a_drafting_sheet_shows_shot_by_shot_not_raw_json(store):
    """The agent's shots appear on the board as the model fills them; the chat reads
    'shot 2 of 3: CU, …', never the grammar's JSON."""
    from inkubator_tui.agents.backend import LlamaBeats
    from inkubator_tui.agents.llm import ModelCard

    class SlowScripted:
        card = ModelCard(backend="scripted", model_id="scripted", instruct=False)

        def complete(self, prompt, *, on_token=None, **kw):
            action = prompt.rsplit("Shot: ", 1)[1].splitlines()[0].rstrip(".")
            reply = ('{"size":"CU","angle":"high","movement":"static","duration_s":4,"characters":[],'
                     f'"image_prompt":"storyboard frame, {action}"}}')
            for ch in reply:
                on_token(ch)
            return reply

        def count_tokens(self, text):
            return len(text.split())

    config = load_config().config
    beats = LlamaBeats(config)
    beats.llm = SlowScripted()
    pipe = Pipeline(store, Registry(config, overrides={Step.BEATS: beats}))
    app = InkubatorApp(store.root, load_config(), pipeline=pipe)
    shown: list[tuple[list[str], int]] = []
    streamed: list[str] = []

    async with app.run_test(size=(110, 34)) as pilot:
        await settle(app, pilot)
        board = app.query_one(ShotBoard)
        original = board.show_drafting

        def spy(sheet, filled):
            shown.append(([s.size.value for s in sheet.shots], filled))
            original(sheet, filled)
            assert board.row_count == len(sheet.shots)

        board.show_drafting = spy
        chat = app.query_one(ChatPane)
        stream = chat.stream
        chat.stream = lambda piece: (streamed.append(piece), stream(piece))
        note = app.query_one(NoteInput)
        titles: list[str] = []
        pane = app.query_one(PreviewPane)
        show_preview = pane.show
        pane.show = lambda preview: (titles.append(preview.title), show_preview(preview))
        note.value = "Mira checks the drone. Oskar opens the door. The drone's light blinks."
        await pilot.press("enter")
        await settle(app, pilot)
    assert "Drafting — 1 of 3 shots filled" in titles
    assert [f for _, f in shown] == [0, 1, 2, 3]
    assert shown[-1][0] == ["CU", "CU", "CU"]
    assert streamed[0].startswith("drafting 3 shots") and streamed[-1].startswith("shot 3 of 3: CU, high, static")
    assert not any("{" in piece for piece in streamed), "no raw JSON in the chat"


async def test_one_action_list_feeds_keys_palette_slash_commands_and_help(store):
    from inkubator_tui.config import DEFAULT_KEYS
    from inkubator_tui.tui.actions import ACTIONS
    from inkubator_tui.tui.screens import help_rows

    app, _, _ = make_app(store)
    async with app.run_test(size=(120, 40)):
        bound = {b.action: key for key, bs in app._bindings.key_to_bindings.items() for b in bs}
        palette = {c.title for c in app.get_system_commands(app.screen)}
    helped = "\n".join(" | ".join(row) for row in help_rows(DEFAULT_KEYS))
    for a in ACTIONS:
        assert callable(getattr(app, f"action_{a.name}")), a.name
        assert a.name == "quit" or a.title in palette, a.title
        assert a.help in helped, a.name
        if a.key:
            assert bound[a.name] == DEFAULT_KEYS[a.key], a.name
        if a.slash:
            assert f"/{a.slash}" in helped, a.slash
    assert set(DEFAULT_KEYS) == {a.key for a in ACTIONS if a.key}, "every configurable key belongs to an action"


async def test_cast_screen_recasts_one_character(store):
    app, pipe, doubles = make_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        note = app.query_one(NoteInput)
        for text in (FIVE_SHOTS, "/approve"):
            note.value = text
            await pilot.press("enter")
            await settle(app, pilot)
        pipe.run_step(Step.VOICE)
        approve_all(pipe, Step.VOICE)
        app.query_one(ShotBoard).focus()
        await pilot.press("c")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, CastScreen) and ("Mira", "en") in {(n, lang) for n, lang, *_ in screen.rows}
        await pilot.press("tab")  # from the cast table to the recast line
        screen.query_one("#cast").value = "Mira en=piper: speed=1.2"
        await pilot.press("enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, CastScreen)
        mira = store.sheet().character("Mira")
        assert mira.voices["en"].backend == "piper" and mira.voices["en"].speed == 1.2
        assert "Mira: en piper:default ×1.2; 1 draft(s) now stale" in chat_text(app)
        note.focus()
        note.value = "/cast Mira english"
        await pilot.press("enter")
        await settle(app, pilot)
        assert store.sheet().character("Mira").voices["en"].speed == 1.2, "a bad cast changes nothing"


class PreviewingDouble(Double):
    """A keyframe double that shows its picture so far while it works, as diffusion will."""

    def __call__(self, request, ctx):
        from PIL import Image

        ctx.progress(0.5, "denoising 4/8", preview=Image.new("RGB", (32, 18), (200, 40, 40)))
        while self.gate is not None and not self.gate.wait(0.01):
            ctx.cancel.check()
        return super().__call__(request, ctx)


async def test_a_running_job_shows_its_live_preview(store):
    from textual_image.widget import Image as ImageWidget

    doubles = {Step.KEYFRAMES: PreviewingDouble(Step.KEYFRAMES), Step.MOTION: Double(Step.MOTION),
               Step.VOICE: WavDouble(Step.VOICE), Step.ANIMATIC: Double(Step.ANIMATIC)}
    app, pipe, _ = make_app(store, doubles)
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    doubles[Step.KEYFRAMES].gate = threading.Event()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("f5")
        for _ in range(100):
            await pilot.pause(0.05)
            if "live:" in str(app.query_one("#pfooter").render()):
                break
        pane = app.query_one(PreviewPane)
        footer, images = str(pane.query_one("#pfooter").render()), len(pane.query_one("#pimages").query(ImageWidget))
        doubles[Step.KEYFRAMES].gate.set()  # before asserting: a held job would hold the app open
        await settle(app, pilot)
        assert "live: shot 1: denoising 4/8" in footer and images == 1
        assert len(store.drafts(Step.KEYFRAMES)) == 5
        assert pane.live is None and "live:" not in str(pane.query_one("#pfooter").render())


async def test_translate_screen_types_a_line_and_cast_screen_plays_a_sample(store, monkeypatch):
    from inkubator_tui.tui import media
    from inkubator_tui.tui.screens import TranslateScreen

    played = []
    monkeypatch.setattr(media, "play_wav", lambda path: played.append(path) or f"played {path.name}")
    store.save_settings(store.settings.model_copy(update={"languages": ["en", "ja"]}))
    app, pipe, doubles = make_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        note = app.query_one(NoteInput)
        for text in (FIVE_SHOTS, "/approve", "/translate"):
            note.value = text
            await pilot.press("enter")
            await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TranslateScreen)
        assert [(r["line"], r["language"], r["status"]) for r in screen.rows] == [("4.1", "ja", "todo")]
        assert "the embedded model cannot translate" in str(screen.query_one("Label").render())
        await pilot.press("enter")  # the row into the line below
        box = screen.query_one("#typed")
        assert box.value == "4.1 ja " and box.has_focus
        box.value += "動いた。"
        await pilot.press("enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, TranslateScreen)
        [typed] = store.drafts(Step.TRANSLATE, status=DraftStatus.APPROVED)
        assert typed.data["text"] == "動いた。" and typed.provenance.backend == "typed"
        assert "line 4.1 in ja: 動いた。" in chat_text(app)
        # the cast screen: `s` on a row hears that cast say the character's line (the voice double here)
        app.query_one(ShotBoard).focus()
        await pilot.press("c")
        await settle(app, pilot)
        assert isinstance(app.screen, CastScreen)
        name, language, *_ = app.screen.rows[0]
        await pilot.press("s")
        await settle(app, pilot)
        assert len(played) == 1 and played[0].suffix == ".wav"
        assert doubles[Step.VOICE].calls[-1][0] == f"sample-{name}"
        assert f"{name} ({language}): played" in chat_text(app)


# ---- the full-screen viewer, undo from the app, the project picker, the mouse ------------------
def _candidates_app(store, n: int = 3):
    config = load_config(cli={"keyframe.candidates": n})
    doubles = {Step.KEYFRAMES: Double(Step.KEYFRAMES), Step.MOTION: Double(Step.MOTION),
               Step.VOICE: WavDouble(Step.VOICE), Step.ANIMATIC: Double(Step.ANIMATIC)}
    pipe = Pipeline(store, Registry(config.config, overrides={Step.BEATS: RuleBeats(config.config), **doubles}))
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    pipe.run_step(Step.KEYFRAMES)
    return InkubatorApp(store.root, config, pipeline=pipe), pipe


async def test_full_screen_viewer_shows_candidates_side_by_side_and_decides(store):
    from inkubator_tui.tui.viewer import Frame, Viewer

    app, pipe = _candidates_app(store)
    first = store.sheet().shots[0]
    candidates = store.drafts(Step.KEYFRAMES, first.id)
    assert len(candidates) == 3
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        app.query_one(ShotBoard).focus()
        await pilot.press("v")
        await settle(app, pilot)
        assert isinstance(app.screen, Viewer)
        frames = list(app.screen.query(Frame))
        assert len(frames) == 3 and [f.has_class("picked") for f in frames] == [True, False, False]
        assert frames[0].size.width > 30, "each candidate gets a third of a 120-column screen"
        await pilot.press("right")
        await settle(app, pilot)
        assert [f.has_class("picked") for f in app.screen.query(Frame)] == [False, True, False]
        await pilot.click(list(app.screen.query(Frame))[2])  # the mouse chooses too
        await settle(app, pilot)
        assert [f.has_class("picked") for f in app.screen.query(Frame)] == [False, False, True]
        await pilot.press("a")
        await settle(app, pilot)
        assert store.draft(candidates[2].id).status == DraftStatus.APPROVED
        assert isinstance(app.screen, Viewer), "the viewer stays open for the next decision"
        await pilot.press("down")
        await settle(app, pilot)
        assert app.query_one(ShotBoard).cursor_row == 1 and "Shot 2" in str(app.screen.query_one("#vtitle").render())
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, Viewer)


async def test_undo_and_redo_keys_take_back_the_last_approval(pipe, store):
    pipe.draft_beats(FIVE_SHOTS)
    app, pipe, _ = make_app(store)
    async with app.run_test(size=(110, 34)) as pilot:
        await settle(app, pilot)
        app.query_one(ShotBoard).focus()
        await pilot.press("a")
        await settle(app, pilot)
        assert board_marks(app, Step.BEATS) == ["✓"] * 5
        await pilot.press("u")
        await settle(app, pilot)
        assert board_marks(app, Step.BEATS) == ["●"] * 5 and store.sheet() is None
        assert "undid approval of draft 1 (U redoes it)" in chat_text(app)
        await pilot.press("U")
        await settle(app, pilot)
        assert board_marks(app, Step.BEATS) == ["✓"] * 5 and len(store.sheet().shots) == 5
        await pilot.press("U")
        await settle(app, pilot)
        assert "nothing to redo" in chat_text(app)


async def test_ctrl_o_opens_a_recent_project_and_the_picker_starts_new_ones(store, tmp_path):
    from inkubator_tui.project.recent import recent_projects, remember
    from inkubator_tui.tui.picker import PickerApp, ProjectPicker

    other = Store.create(tmp_path / "other")
    other.add_message("director", "notes of the other film")
    other.close()
    remember(tmp_path / "other")
    remember(store.root)
    assert [p.root.name for p in recent_projects()][:2] == ["proj", "other"]
    app, pipe, _ = make_app(store)
    async with app.run_test(size=(110, 34)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        assert isinstance(app.screen, ProjectPicker)
        table = app.screen.query_one("#projects")
        assert "(open)" in str(table.get_row_at(1)[0]), "the project already open is marked"
        await pilot.press("down", "enter")
        await settle(app, pilot)
        assert app.store.root == tmp_path / "other" and "notes of the other film" in chat_text(app)
        assert f"opened {tmp_path / 'other'}" in chat_text(app)
        assert [p.root.name for p in recent_projects()][:2] == ["other", "proj"], "the opened one comes first"
        (tmp_path / "notes.txt").write_text("x")
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        await pilot.press("tab", *str(tmp_path / "notes.txt"), "enter")  # a file is not a project folder
        await settle(app, pilot)
        assert "notes.txt is a file; give a folder for the new project" in chat_text(app)
        assert app.store.root == tmp_path / "other", "a bad folder leaves the open project as it is"
    picker = PickerApp(recent_projects(), tmp_path / "fresh")
    async with picker.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        await pilot.press("up", "enter")  # the first row starts a new project
        await pilot.pause()
    assert picker.return_value == tmp_path / "fresh"


async def test_board_rows_take_clicks_and_focus_is_visible(pipe, store):
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    app, pipe, _ = make_app(store)
    async with app.run_test(size=(110, 34)) as pilot:
        await settle(app, pilot)
        board = app.query_one(ShotBoard)
        await pilot.click(ShotBoard, offset=(4, 3))  # the header row, then shots 1, 2, 3
        await settle(app, pilot)
        assert board.has_focus and board.cursor_row == 2 and preview_text(app).startswith("Shot 3")
        focused = board.styles.border_left
        app.query_one(NoteInput).focus()
        await pilot.pause()
        assert board.styles.border_left != focused, "the focused pane is marked by its edge"


# ---- snapshots of what a person decides on, at 80×24 and 120×40 ---------------------------------
DOCTOR_ROWS = [  # the doctor's rows depend on the machine: a fixed set keeps the snapshot stable
    {"step": "beats", "backend": "llama", "ready": True, "in_use": True, "non_neural": False,
     "detail": "Gemma 3 270M (embedded): base model, fills per-shot fields", "fix": ""},
    {"step": "keyframes", "backend": "diffusion", "ready": False, "in_use": False, "non_neural": False,
     "detail": "keyframe.model_path is not set", "fix": "set it to a diffusers folder or a .safetensors file"},
    {"step": "keyframes", "backend": "sketch", "ready": True, "in_use": True, "non_neural": True,
     "detail": "labelled sketch board", "fix": ""},
]


def _scene_app(kind: str, tmp_path, monkeypatch):
    store = Store.create(tmp_path / "film")
    if kind in ("candidates", "viewer"):
        return _candidates_app(store, n=2)[0]
    app, pipe, _ = make_app(store)
    pipe.draft_beats(FIVE_SHOTS)
    if kind in ("form", "doctor"):
        approve_all(pipe, Step.BEATS)
    if kind == "doctor":
        monkeypatch.setattr("inkubator_tui.tui.app.doctor_rows", lambda registry: DOCTOR_ROWS)
    return app


SCENE_KEYS = {"pending": [], "doctor": ["f3"], "form": ["e"], "candidates": [], "viewer": ["v"]}


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("kind", list(SCENE_KEYS))
def test_snapshot_decisions(snap_compare, tmp_path, monkeypatch, kind, size):
    async def arrive(pilot):
        await settle(pilot.app, pilot)
        pilot.app.query_one(ShotBoard).focus()
        for key in SCENE_KEYS[kind]:
            await pilot.press(key)
            await settle(pilot.app, pilot)

    assert snap_compare(_scene_app(kind, tmp_path, monkeypatch), terminal_size=size, run_before=arrive)
