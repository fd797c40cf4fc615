"""The Textual app: chat with the agent, the shot board, previews and approvals.

The event loop only renders and routes messages. Every read of the project
and every job runs in a thread worker that reports back with a message; one
job runs at a time and Esc cancels it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from importlib.resources import files
from pathlib import Path

from PIL import Image as PILImage
from platformdirs import user_data_path, user_log_path
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, ProgressBar, Static

from ..agents.conversation import Conversation
from ..agents.director import shot_line
from ..agents.edits import EditError, Render, render_targets
from ..config import ConfigError, LoadedConfig, load_config, needs_trust, read_project_file
from ..doctor import doctor_rows
from ..pipeline.backend import BackendError, CancelToken, ProgressEvent
from ..pipeline.pipeline import Pipeline
from ..pipeline.registry import Registry
from ..pipeline.undo import History
from ..project.models import Step, VoiceCast
from ..project.notes_file import NotesFileError, read_notes
from ..project.recent import recent_projects, remember
from ..project.store import ProjectError, Store
from ..trust import ignored_line, record
from .actions import ACTIONS, BY_SLASH
from .board import ShotBoard
from .chat import ChatPane
from .picker import PickerApp, ProjectPicker
from .preview import Preview, PreviewPane, build_gallery, build_preview, sheet_text
from .screens import CastScreen, DoctorScreen, EditShotScreen, HelpScreen, NoteScreen, TranslateScreen
from .state import ProjectView, read_view, shot_of_job
from .trust import TrustScreen
from .viewer import Frame, Gallery, Viewer

log = logging.getLogger(__name__)

WELCOME = (
    "Welcome. Type your notes — what happens, scene by scene, with dialogue in quotes — and press Enter. "
    "The agent drafts a beat sheet; approve it (Tab to the board, then a) and press {run_next} to make "
    "keyframes, motion, voice and the animatic, approving each step. Press {sample} to send a sample note, "
    "{help} for help, {doctor} to see which backends are real models and which are labelled defaults.")


def sample_notes() -> str:
    return files("inkubator_tui.samples").joinpath("last_drone.md").read_text(encoding="utf-8")


def default_project_dir() -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return user_data_path("inkubator") / "projects" / f"untitled-{stamp}"


class InkubatorApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "inkubator"

    class ViewLoaded(Message):
        def __init__(self, view: ProjectView) -> None:
            self.view = view
            super().__init__()

    class GalleryReady(Message):
        def __init__(self, gallery: Gallery) -> None:
            self.gallery = gallery
            super().__init__()

    class PreviewReady(Message):
        def __init__(self, preview: Preview) -> None:
            self.preview = preview
            super().__init__()

    class JobProgress(Message):
        def __init__(self, event: ProgressEvent) -> None:
            self.event = event
            super().__init__()

    class SheetDrafting(Message):
        """A beat sheet as the agent fills it (from the job's worker)."""

        def __init__(self, sheet, filled: int) -> None:
            self.sheet = sheet
            self.filled = filled
            super().__init__()

    class Token(Message):
        def __init__(self, text: str) -> None:
            self.text = text
            super().__init__()

    class Said(Message):
        """A line for the chat (and a notification when `notify` is set)."""

        def __init__(self, role: str, text: str, severity: str = "", persist: bool = False) -> None:
            self.role, self.text, self.severity, self.persist = role, text, severity, persist
            super().__init__()

    class JobDone(Message):
        pass

    class ProjectOpened(Message):
        """Another project, opened by a worker, for the event loop to switch to."""

        def __init__(self, pipeline: Pipeline) -> None:
            self.pipeline = pipeline
            super().__init__()

    def __init__(self, project: Path, loaded: LoadedConfig, pipeline: Pipeline | None = None,
                 reload: Callable[[Path], LoadedConfig] | None = None):
        super().__init__()
        self.loaded = loaded
        # A project folder's settings (with the command line's --set), read again after trust is
        # given and for each project Ctrl+O opens.
        self.reload_config = reload or (lambda folder: load_config(project_dir=folder))
        self.keys = loaded.config.keys
        self.store = pipeline.store if pipeline else Store.open(project)
        self.pipeline = pipeline or Pipeline(self.store, Registry(loaded.config))
        self.conversation = Conversation(self.pipeline)
        self.history = History()  # this session's approvals, edits and requests, for undo and redo
        self.view: ProjectView | None = None
        self.candidate = 0
        self.cancel_token: CancelToken | None = None
        self._drafting = False  # a beat sheet is drafting: the chat shows its shots, not tokens
        self._progress: dict[str, float] = {}
        # Keys come from the config's [keys] table. Letter keys act when you are not
        # typing (the chat input takes printable keys first); function keys act anywhere.
        for a in ACTIONS:
            if a.key:
                self._bindings.bind(self.keys[a.key], a.name, a.footer or a.title, show=bool(a.footer),
                                    priority=a.priority)
        try:
            self.theme = loaded.config.ui.theme
        except Exception:  # noqa: BLE001 - an unknown theme name keeps the default
            log.warning("unknown theme %s", loaded.config.ui.theme)

    # ---- layout -----------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield ShotBoard(id="board")
                with Horizontal(id="jobbar"):
                    yield ProgressBar(id="progress", show_eta=False)
                    yield Static("", id="jobline")
                yield ChatPane(id="chat")
            yield PreviewPane(id="preview")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#jobbar").display = False
        self.query_one(PreviewPane).kind = self.loaded.config.ui.images
        self._load_chat()
        self.refresh_view()
        self.prepare_agent()
        self.repair_project()
        self.ask_trust()

    @work(thread=True, exclusive=True, group="repair", exit_on_error=False)
    def repair_project(self) -> None:
        """What a kill left undone last time (a sidecar's approval, an animatic export) is made
        again from the project's record, and said in the chat."""
        try:
            done = self.pipeline.repair()
        except ProjectError as e:
            self.say(str(e), severity="error")
            return
        if done:
            self.say("made again after an interrupted run: " + "; ".join(done))

    def _load_chat(self) -> None:
        chat = self.query_one(ChatPane)
        chat.clear()
        messages = self.store.messages()
        for m in messages[-200:]:
            chat.add(m.role, m.text)
        if not messages:
            k = {name: key.upper() if key.startswith("f") else key for name, key in self.keys.items()}
            chat.add("system", WELCOME.format(**k))
        history = [m.text for m in messages if m.role == "director"]
        chat.query_one("#note").history = history[-100:]
        chat.query_one("#note").focus()

    # ---- switching projects ------------------------------------------------------------
    def action_open_project(self, arg: str = "") -> None:
        """Ctrl+O: the picker; `/project FOLDER` opens (or starts) that folder at once."""
        if self.busy:
            self.notify("a job is running; Esc cancels it, then open another project", severity="warning")
            return
        if arg:
            self._open_project(Path(arg).expanduser())
            return

        def job() -> None:
            projects = recent_projects()
            self.call_from_thread(self.push_screen, ProjectPicker(projects, default_project_dir(), self.store.root),
                                  lambda folder: self._open_project(folder) if folder else None)

        self.run_worker(job, thread=True, group="picker", exit_on_error=False)

    @work(thread=True, exclusive=True, group="open", exit_on_error=False)
    def _open_project(self, folder: Path) -> None:
        if folder.resolve() == self.store.root.resolve():
            return
        try:
            store = Store.open(ready_project(folder))
        except ProjectError as e:
            self.say(str(e), severity="error")
            return
        remember(folder)
        # the same registry: a loaded model serves the next project too
        self.post_message(self.ProjectOpened(Pipeline(store, self.pipeline.registry)))

    def on_inkubator_app_project_opened(self, message: ProjectOpened) -> None:
        old = self.store
        self.pipeline = message.pipeline
        self.store = message.pipeline.store
        self.conversation = Conversation(self.pipeline)
        self.history = History()
        self.view, self.candidate = None, 0
        old.close()
        self._load_chat()
        self.query_one(ChatPane).add("system", f"opened {self.store.root}")
        self.refresh_view()
        self.repair_project()
        self.load_project_config()

    # ---- workspace trust: what the open project's inkubator.toml may set ----------------------------
    # Its settings that reach the network or files outside the project wait for the user's trust
    # (config.TRUSTED_ONLY); the app asks once a project is open, and reads the project's settings
    # again when trust is given and when Ctrl+O switches project.
    class ConfigLoaded(Message):
        """The settings of the project at `root`, read by a worker."""

        def __init__(self, root: Path, loaded: LoadedConfig) -> None:
            self.root, self.loaded = root, loaded
            super().__init__()

    def ask_trust(self) -> None:
        """The trust prompt when the project's file wants what it may not set yet. Not now: those
        settings stay ignored this session, and the chat says which (asked again next time)."""
        wanted, root = self.loaded.untrusted, self.store.root
        if not wanted:
            return

        def decided(trusted: bool | None) -> None:
            if trusted:
                self.load_project_config(trust=wanted)
            else:
                self.say(ignored_line(root, wanted), severity="warning")

        self.push_screen(TrustScreen(root, wanted), decided)

    @work(thread=True, exclusive=True, group="config", exit_on_error=False)
    def load_project_config(self, trust: dict | None = None) -> None:
        """Read the project's settings again; with `trust` (what the user was shown), trust the
        file first, unless it changed meanwhile to want something else (then it asks again)."""
        root = self.store.root
        try:
            if trust is not None and (project := read_project_file(root)) is not None:
                raw, flat = project
                if {k: v for k, v in flat.items() if needs_trust(k, v)} == trust:
                    record(root, raw)
            loaded = self.reload_config(root)
        except (ConfigError, OSError) as e:
            self.say(f"settings of {root} not read again: {e}", severity="error")
            return
        self.post_message(self.ConfigLoaded(root, loaded))

    def on_inkubator_app_config_loaded(self, message: ConfigLoaded) -> None:
        if message.root != self.store.root:  # another project opened meanwhile
            return
        changed = message.loaded.config != self.loaded.config
        self.loaded = message.loaded
        if changed:  # backends built from the old settings go; the new ones load
            self.pipeline = Pipeline(self.store, Registry(self.loaded.config))
            self.conversation = Conversation(self.pipeline)
            self.refresh_view()
            self.prepare_agent()
        self.ask_trust()
    # ---- end of workspace trust -----------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="prepare", exit_on_error=False)
    def prepare_agent(self) -> None:
        """Load the language model while the director reads and types, so the first
        notes draft at once (a backend without `prepare` has nothing to do ahead)."""
        backend = self.pipeline.backend(Step.BEATS)
        prepare = getattr(backend, "prepare", None)
        if prepare is not None:
            try:
                prepare()
            except Exception:  # noqa: BLE001 - the real job reports any failure in full
                log.warning("preparing the agent failed", exc_info=True)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for a in ACTIONS:
            if a.name != "quit":  # Textual's own entry quits
                yield SystemCommand(a.title, a.help, getattr(self, f"action_{a.name}"))

    # ---- reading the project (workers) ----------------------------------------------
    def action_refresh(self) -> None:
        self.refresh_view()

    @work(thread=True, exclusive=True, group="view", exit_on_error=False)
    def refresh_view(self) -> None:
        self.post_message(self.ViewLoaded(read_view(self.pipeline)))

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def build_preview(self, view: ProjectView, shot_id: str | None, candidate: int, pane: tuple[int, int],
                      screen: tuple[int, int] | None) -> None:
        """Reads the pictures and prepares them for the cells they get (pixel work stays off the event loop)."""
        kind = self.loaded.config.ui.images
        self.post_message(self.PreviewReady(build_preview(view, self.store, shot_id, candidate, pane, kind)))
        if screen is not None:
            self.post_message(self.GalleryReady(build_gallery(view, self.store, shot_id, candidate, screen, kind)))

    def on_inkubator_app_view_loaded(self, message: ViewLoaded) -> None:
        self.view = message.view
        self.title = self.view.title
        self.sub_title = self.view.root.name
        if not self.is_headless and self._driver is not None:  # the terminal window's title (OSC 2)
            self._driver.write(f"\x1b]2;inkubator — {self.view.title}\x07")
        self.query_one(ShotBoard).show(self.view)
        self._update_preview()

    def on_inkubator_app_preview_ready(self, message: PreviewReady) -> None:
        self.query_one(PreviewPane).show(message.preview)

    def _update_preview(self) -> None:
        if self.view is not None:
            pane = self.query_one(PreviewPane).size
            self.build_preview(self.view, self.query_one(ShotBoard).selected_shot, self.candidate,
                               (pane.width, pane.height), (self.size.width, self.size.height) if self._viewer() else None)

    def _viewer(self) -> Viewer | None:
        return next((s for s in self.screen_stack if isinstance(s, Viewer)), None)

    def on_inkubator_app_gallery_ready(self, message: GalleryReady) -> None:
        viewer = self._viewer()
        if viewer is not None:
            viewer.show(message.gallery)

    # ---- the full-screen viewer ---------------------------------------------------------
    def action_view(self) -> None:
        if self._viewer() is not None:
            return
        self.push_screen(Viewer(self.keys, self.loaded.config.ui.images))  # its first resize asks for pictures

    def action_view_shot(self, step: int) -> None:
        """↑ ↓ in the viewer: the previous or next shot, as the board's cursor would."""
        board = self.query_one(ShotBoard)
        if board.row_count:
            board.move_cursor(row=max(0, min(board.row_count - 1, board.cursor_row + step)))

    def choose_candidate(self, index: int) -> None:
        """A click on a picture (the viewer's or the preview's) makes it the candidate the keys act on."""
        self.candidate = index
        self._update_preview()

    @on(Frame.Chosen)
    def _frame_chosen(self, event: Frame.Chosen) -> None:
        self.choose_candidate(event.index)

    @on(ShotBoard.RowHighlighted)
    def _row_changed(self, event: ShotBoard.RowHighlighted) -> None:
        self.candidate = 0
        self._update_preview()

    # ---- jobs -------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.cancel_token is not None

    def start_job(self, label: str, fn: Callable[[CancelToken], None], undo: str = "") -> None:
        """Run `fn` in a thread worker; one job at a time, Esc cancels it. A job with an
        `undo` label is a change the undo key can take back (the session's history)."""
        if self.busy:
            self.notify("A job is running; Esc cancels it.", severity="warning")
            return
        token = CancelToken()
        self.cancel_token = token
        self._progress.clear()
        self.query_one("#jobbar").display = True
        self.query_one("#jobline", Static).update(label)
        self.query_one("#progress", ProgressBar).update(total=100, progress=0)
        if undo:
            plain = fn
            fn = lambda token: self.history.record(undo, self.pipeline, lambda: plain(token))  # noqa: E731
        self._run_job(label, fn, token)

    @work(thread=True, group="job", exit_on_error=False)
    def _run_job(self, label: str, fn: Callable[[CancelToken], None], token: CancelToken) -> None:
        try:
            fn(token)
            while self.pipeline.notices:
                self.say(self.pipeline.notices.pop(0), severity="warning")
        except (ProjectError, EditError, BackendError) as e:
            self.post_message(self.Said("system", str(e), severity="warning"))
        except Exception as e:  # noqa: BLE001 - one line in the app, the whole story in the log
            from ..pipeline.backend import Cancelled

            if isinstance(e, Cancelled):
                self.post_message(self.Said("system", f"{label}: cancelled; finished drafts are kept"))
            else:
                log.exception("%s failed", label)
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                self.post_message(self.Said("system", f"{label} failed: {first} (details in the log)",
                                            severity="error"))
        finally:
            self.post_message(self.JobDone())

    def on_inkubator_app_job_done(self, message: JobDone) -> None:
        self.query_one(PreviewPane).end_live()
        self.cancel_token = None
        self._drafting = False
        self.query_one("#jobbar").display = False
        self.query_one(ChatPane).end_stream()
        board = self.query_one(ShotBoard)
        board.clear_running()
        self.refresh_view()

    def _emit(self, event: ProgressEvent) -> None:
        self.post_message(self.JobProgress(event))

    def on_inkubator_app_job_progress(self, message: JobProgress) -> None:
        e = message.event
        if e.job.startswith("load "):
            self.query_one("#jobline", Static).update(e.message)
            return
        self._progress[e.job] = e.fraction
        done = sum(self._progress.values()) / max(1, len(self._progress))
        self.query_one("#progress", ProgressBar).update(progress=round(done * 100))
        self.query_one("#jobline", Static).update(f"{e.job}: {e.message}")
        if isinstance(e.preview, PILImage.Image):
            self.query_one(PreviewPane).show_live(e.preview, f"{e.job}: {e.message}")
        if e.step:
            board = self.query_one(ShotBoard)
            number = shot_of_job(e.job)
            if number is not None or e.step == Step.ANIMATIC.value:
                board.set_running(number, Step(e.step), None if e.fraction >= 1 else e.fraction)

    def on_inkubator_app_token(self, message: Token) -> None:
        if not self._drafting:  # a drafting sheet shows readable shots instead of raw JSON
            self.query_one(ChatPane).stream(message.text)

    def on_inkubator_app_sheet_drafting(self, message: SheetDrafting) -> None:
        self._drafting = True
        sheet, filled = message.sheet, message.filled
        self.query_one(ShotBoard).show_drafting(sheet, filled)
        self.query_one(PreviewPane).show(Preview(
            f"Drafting — {filled} of {len(sheet.shots)} shots filled", sheet_text(sheet),
            footer="Esc cancels; the draft waits for your approval when it is done"))
        chat = self.query_one(ChatPane)
        chat.end_stream()
        if filled:
            chat.stream(shot_line(sheet.shots[filled - 1], filled, len(sheet.shots)))
        else:
            chat.stream(f"drafting {len(sheet.shots)} shots from your notes…")

    def on_inkubator_app_said(self, message: Said) -> None:
        self.query_one(ChatPane).add(message.role, message.text)
        if message.persist:
            self.store.add_message(message.role, message.text)
        if message.severity:
            self.notify(message.text, severity=message.severity, markup=False)

    def say(self, text: str, severity: str = "") -> None:
        """From a worker: a line in the chat (and a toast when severity is given)."""
        self.post_message(self.Said("system", text, severity))

    # ---- chat --------------------------------------------------------------------------
    @on(ChatPane.Submitted)
    def _submitted(self, event: ChatPane.Submitted) -> None:
        text = event.text
        if text.startswith("/"):
            self.slash(text)
            return
        self.query_one(ChatPane).add("director", text)
        self.send(text)

    def send(self, text: str, notes: bool = False) -> None:
        def job(token: CancelToken) -> None:
            reply = self.conversation.send(
                text, on_token=lambda t: self.post_message(self.Token(t)), cancel=token, notes=notes,
                on_partial=lambda d: self.post_message(self.SheetDrafting(d["sheet"], d["filled"])))
            self.post_message(self.Said("agent", reply.text))

        self.start_job("agent", job, undo=f"“{text[:40]}”" + ("…" if len(text) > 40 else ""))

    def slash(self, text: str) -> None:
        cmd, _, arg = text[1:].partition(" ")
        action = BY_SLASH.get(cmd.lower())
        if action is None:
            self.notify(f"unknown command /{cmd}; /help lists them", severity="warning")
            return
        method = getattr(self, f"action_{action.name}")
        method(arg.strip()) if action.args else method()

    def action_render(self, arg: str = "") -> None:
        if not arg:
            self.action_run_next()
            return
        words = arg.split()
        step = {"keyframes": "keyframes", "keyframe": "keyframes", "frames": "keyframes", "motion": "motion",
                "voice": "voice", "animatic": "animatic"}.get(words[0].lower())
        if step is None:
            self.notify("say which step: /render keyframes|motion|voice|animatic [shots]", severity="warning")
            return
        shots: list[str] = []
        for part in words[1:]:
            m = re.fullmatch(r"(\w+)-(\w+)", part)
            if m and self.view and self.view.sheet:
                numbers = [s.number for s in self.view.sheet.shots]
                a, b = m.group(1).upper(), m.group(2).upper()
                if a in numbers and b in numbers:
                    shots += numbers[numbers.index(a): numbers.index(b) + 1]
                    continue
            shots += [p.upper() for p in part.split(",") if p]

        def job(token: CancelToken) -> None:
            sheet = self.store.sheet()
            if sheet is None:
                raise ProjectError("approve the beat sheet first")
            step_, only = render_targets(Render(step=step, shots=shots), sheet)
            report = self.pipeline.run_step(step_, only=only, cancel=token, on_progress=self._emit)
            self.say(report.summary(), severity="information")

        self.start_job(f"{step}", job)

    def action_notes(self, arg: str = "") -> None:
        """/notes PATH: send a notes file as if typed; a screenplay (.fountain, .fdx) is
        imported as it is written, as a beat sheet that waits for approval."""
        from ..exports.importing import is_screenplay

        if not arg:
            self.notify("give a file: /notes path/to/notes.md (or a .fountain / .fdx screenplay)", severity="warning")
            return
        path = Path(arg).expanduser()
        if is_screenplay(path):
            self.import_screenplay(path)
            return
        try:
            text = read_notes(path)
        except NotesFileError as e:
            self.notify(str(e), severity="error", markup=False)
            return
        self.query_one(ChatPane).add("director", text)
        self.send(text, notes=True)

    def import_screenplay(self, path: Path) -> None:
        from ..exports.importing import read_screenplay

        def job(token: CancelToken) -> None:
            try:
                imported = read_screenplay(path)
            except NotesFileError as e:
                self.say(str(e), severity="error")
                return
            d = self.pipeline.import_sheet(imported.sheet, text=imported.text, source=path.name,
                                           reader=imported.reader, title_page=imported.title_page)
            sheet = imported.sheet
            lines = sum(len(s.dialogue) for s in sheet.shots)
            self.post_message(self.Said(
                "agent", f"I read {path.name} as written: {len(sheet.scenes)} scene(s), {len(sheet.shots)} shot(s), "
                         f"{lines} line(s). Beat sheet draft {d.id} waits for you: approve it (a), or tell me "
                         "what to change.", persist=True))

        self.query_one(ChatPane).add("director", f"/notes {path}")
        self.start_job("import", job, undo=f"import of {path.name}")

    def action_model(self, arg: str = "") -> None:
        if not arg:
            model = self.view.model if self.view else "?"
            self.notify(f"agent model: {model}. /model PATH.gguf or /model URL NAME switches it.")
            return
        parts = arg.split()
        c = self.loaded.config.llm
        if parts[0].startswith(("http://", "https://")):
            if len(parts) < 2:
                self.notify("give the model name too: /model URL NAME", severity="warning")
                return
            c.backend, c.server_url, c.model_name = "openai", parts[0], parts[1]
        else:
            c.backend, c.model_path = "llama", str(Path(parts[0]).expanduser())
        self.pipeline.registry._instances.pop(Step.BEATS, None)
        self.notify(f"agent model set to {arg} for this session (put it in your config to keep it)")
        self.refresh_view()

    # ---- decisions ---------------------------------------------------------------------
    def _picked(self):
        return self.view.picked(self.query_one(ShotBoard).selected_shot, self.candidate) if self.view else None

    def _decide(self, draft_id: int | None, *, approve: bool, note: str = "") -> None:
        pick = self._picked()
        target_id = draft_id or (pick.id if pick else None)
        if target_id is None:
            self.notify(self._waiting_elsewhere(), severity="warning")
            return

        def job(token: CancelToken) -> None:
            if approve:
                d = self.pipeline.approve(target_id, mode="tui")
                self.say(f"approved {d.step.value} draft {d.id}")
            else:
                d = self.pipeline.reject(target_id, note=note)
                self.say(f"rejected {d.step.value} draft {d.id}" + (f": {note}" if note else ""))

        self.start_job("approve" if approve else "reject", job,
                       undo=f"{'approval' if approve else 'rejection'} of draft {target_id}")

    def action_approve(self, arg: str = "") -> None:
        if arg and not arg.isdigit():
            self.notify("/approve takes a draft id, e.g. /approve 12", severity="warning")
            return
        self._decide(int(arg) if arg else None, approve=True)

    def _waiting_elsewhere(self) -> str:
        pending = [d for ds in (self.view.drafts.values() if self.view else []) for d in ds
                   if d.status.value == "pending"]
        if not pending:
            return "nothing waits for a decision"
        steps = sorted({d.step.value for d in pending})
        return f"nothing for this shot; {len(pending)} draft(s) wait ({', '.join(steps)}): select their shots"

    def action_approve_step(self) -> None:
        """Approve every pending draft of the step in the preview, or else of the
        earliest step that has pending drafts (first candidate per target)."""
        pick = self._picked()

        def job(token: CancelToken) -> None:
            steps = [pick.step] if pick is not None else [s for s in Step if self.pipeline.pending(s)][:1]
            if not steps:
                self.say("nothing waits for a decision", severity="warning")
                return
            approved = self.pipeline.approve_step(steps[0], mode="tui", cancel=token)
            self.say(f"approved {len(approved)} {steps[0].value} draft(s)")

        self.start_job("approve step", job,
                       undo=f"approval of every pending {pick.step.value} draft" if pick else "approval of a step")

    def action_reject(self, arg: str = "") -> None:
        self._decide(None, approve=False, note=arg)

    def action_redo(self, arg: str = "") -> None:
        if arg:
            self._redo_with(arg)
            return
        pick = self._picked()
        if pick is None:
            self.notify("nothing here to redo", severity="warning")
            return
        self.push_screen(NoteScreen("What should change in the new version?", pick.step.value),
                         lambda note: self._redo_with(note) if note is not None else None)

    def _redo_with(self, note: str) -> None:
        pick = self._picked()
        if pick is None:
            self.notify("nothing here to redo", severity="warning")
            return
        if pick.step == Step.BEATS:
            # A beat sheet is redone by conversation: the note is a request on that sheet.
            def job(token: CancelToken) -> None:
                self.pipeline.reject(pick.id, note=note)
                if note:
                    reply = self.conversation.send(note, cancel=token)
                    self.post_message(self.Said("agent", reply.text))
            self.start_job("redo", job, undo=f"redo of draft {pick.id}")
            return

        def job(token: CancelToken) -> None:
            self.pipeline.reject(pick.id, note=note)
            report = self.pipeline.run_step(pick.step, only={pick.target}, cancel=token, on_progress=self._emit)
            self.say(f"redo: {report.summary()}")

        self.start_job("redo", job, undo=f"redo of draft {pick.id}")

    def action_next_candidate(self) -> None:
        self.candidate += 1
        self._update_preview()

    def action_previous_candidate(self) -> None:
        self.candidate -= 1
        self._update_preview()

    def action_edit(self, ref: str = "") -> None:
        sheet = self.view.sheet if self.view else None
        if sheet is None:
            self.notify("approve a beat sheet before editing shots", severity="warning")
            return
        try:
            shot = sheet.shot(ref) if ref else next(s for s in sheet.shots
                                                    if s.id == self.query_one(ShotBoard).selected_shot)
        except (KeyError, StopIteration):
            self.notify("select a shot on the board (or /edit NUMBER)", severity="warning")
            return

        def saved(changes: dict | None) -> None:
            if not changes:
                return

            def job(token: CancelToken) -> None:
                _, stale = self.pipeline.changes_stale(lambda: self.pipeline.revise_shot(shot.id, changes))
                self.say(f"shot {shot.number}: {', '.join(changes)} changed; {len(stale)} draft(s) now stale")

            self.start_job("edit", job, undo=f"edit of shot {shot.number}")

        self.push_screen(EditShotScreen(shot), saved)

    def action_cast(self, arg: str = "") -> None:
        """The cast screen, or `/cast NAME LANG=BACKEND:VOICE [speed=1.2]` directly."""
        if arg:
            self._recast(arg)
            return

        def job() -> None:
            rows = self.pipeline.casting()
            options = self.pipeline.voice_pools()
            self.call_from_thread(self.push_screen, CastScreen(rows, options, on_sample=self._sample_voice),
                                  lambda line: self._recast(line) if line else None)

        self.run_worker(job, thread=True, group="cast", exit_on_error=False)

    def action_translate(self, arg: str = "") -> None:
        """The translations screen, `/translate SHOT.N LANG TEXT` to type one, `/translate draft`."""
        if arg.strip().lower() == "draft":
            def draft(token: CancelToken) -> None:
                if self.pipeline.backend(Step.TRANSLATE) is None:
                    r = next(r for r in self.pipeline.registry.readiness() if r.step == Step.TRANSLATE)
                    self.say(f"{r.detail}. {r.fix}", severity="warning")
                    return
                report = self.pipeline.run_step(Step.TRANSLATE, cancel=token, on_progress=self._emit)
                self.say(report.summary() + ("; approve them on the board or in /translate"
                                             if report.created else ""))

            self.start_job("translate", draft)
            return
        if arg.strip():
            self._type_translation(arg)
            return

        def job() -> None:
            langs = self.store.settings.languages
            if len(langs) < 2:
                self.say(f"this project is only in {langs[0]}; add a language to dub into: "
                         f"inkubator languages --project {self.store.root} {langs[0]} ja", severity="warning")
                return
            rows = [{"line": ref, "language": t.request.target, "character": t.request.character,
                     "text": t.request.text, "translation": d.data["text"] if d else None,
                     "status": d.status.value if d else "todo", "flag": d.data.get("flag") if d else None}
                    for ref, t, d in self.pipeline.translations()]
            can = self.pipeline.backend(Step.TRANSLATE) is not None
            how = ("`/translate draft` drafts the missing ones with the model; approve them like any draft"
                   if can else "the embedded model cannot translate, so you type them: Enter on a line, "
                               "then your translation")
            self.call_from_thread(self.push_screen, TranslateScreen(rows, how),
                                  lambda line: self._type_translation(line) if line else None)

        self.run_worker(job, thread=True, group="translate", exit_on_error=False)

    def _type_translation(self, line: str) -> None:
        parts = line.split(maxsplit=2)
        if len(parts) < 3:
            self.notify("write it as SHOT.N LANG TEXT, e.g. 1.1 ja 灯りはまだついている。", severity="error")
            return
        ref, language, text = parts

        def job(token: CancelToken) -> None:
            d, stale = self.pipeline.changes_stale(lambda: self.pipeline.type_translation(ref, language, text))
            self.say(f"line {ref} in {language}: {d.data['text']}"
                     + (f" — {d.data['flag']}" if d.data.get("flag") else "")
                     + (f"; {len(stale)} draft(s) now stale" if stale else ""))

        self.start_job("translate", job, undo=f"translation of line {ref} ({language})")

    def _sample_voice(self, name: str, language: str) -> None:
        """Hear `name`'s cast in `language` say their first line (nothing is drafted)."""
        from . import media

        def job() -> None:
            try:
                # a toast as well as the chat line: the cast screen covers the chat
                self.say(f"{name} ({language}): " + media.play_wav(self.pipeline.sample_voice(name, language)),
                         severity="information")
            except Exception as e:  # noqa: BLE001 - one line, the cast screen stays open
                self.say(f"could not sample {name}'s voice: {e}", severity="error")

        self.notify(f"{name} ({language}): rendering a sample…")
        self.run_worker(job, thread=True, group="audio", exit_on_error=False)

    def _recast(self, line: str) -> None:
        words = line.split()
        speed = next((w.split("=", 1)[1] for w in words if w.lower().startswith("speed=")), None)
        specs = [w for w in words if "=" in w and not w.lower().startswith("speed=")]
        name = " ".join(w for w in words if "=" not in w)
        try:
            if not name or not specs:
                raise ValueError("write it as NAME LANG=BACKEND:VOICE, e.g. Mira en=piper:joe speed=1.1")
            casts = [VoiceCast.parse(spec, float(speed) if speed else None) for spec in specs]
        except ValueError as e:
            self.notify(str(e), severity="error", markup=False)
            return

        def job(token: CancelToken) -> None:
            def recast() -> None:
                for language, cast in casts:
                    self.pipeline.recast(name, language, cast)

            _, stale = self.pipeline.changes_stale(recast)
            self.say(f"{name}: " + ", ".join(f"{lang} {c.label()}" for lang, c in casts)
                     + f"; {len(stale)} draft(s) now stale")

        self.start_job("cast", job, undo=f"recast of {name}")

    # ---- running -----------------------------------------------------------------------
    def action_run_next(self) -> None:
        def job(token: CancelToken) -> None:
            report, words = self.pipeline.advance(cancel=token, on_progress=self._emit)
            self.say(words, severity="warning" if report is not None and not report.ok else "information")

        self.start_job("run", job)

    def action_cancel(self) -> None:
        if self.cancel_token is not None:
            self.cancel_token.cancel()
            self.query_one("#jobline", Static).update("cancelling…")

    def action_sample(self) -> None:
        if self.view is not None and (self.view.sheet is not None or self.view.pending_sheets):
            self.notify("this project already has a beat sheet; the sample goes in a new project "
                        "(`inkubator` with no folder)", severity="warning")
            return
        text = sample_notes()
        self.query_one(ChatPane).add("director", text)
        self.send(text, notes=True)

    def action_play(self) -> None:
        from . import media

        if self.view is None:
            return
        shot_id = self.query_one(ShotBoard).selected_shot
        drafts = [self.view.latest(Step.VOICE, line) for line in self.view.line_ids.get(shot_id, [])]
        drafts = [d for d in drafts if d is not None and d.files]
        if not drafts:
            self.notify("this shot has no voice line yet", severity="warning")
            return
        path = self.store.assets.path(drafts[0].files[0])
        self.run_worker(lambda: self.say(media.play_wav(path)), thread=True, group="audio", exit_on_error=False)

    def action_open(self) -> None:
        from . import media

        if self.view is None:
            return
        shot_id = self.query_one(ShotBoard).selected_shot
        motion = self.view.latest(Step.MOTION, shot_id) if shot_id else None
        path = self.store.assets.path(motion.files[0]) if motion and motion.files else \
            (Path(self.view.animatic) if self.view.animatic else None)
        if path is None:
            self.notify("no clip here yet", severity="warning")
            return
        self.run_worker(lambda: self.say(media.open_path(path)), thread=True, group="open", exit_on_error=False)

    def action_export(self) -> None:
        from ..exports import ExportOptions, export

        c = self.loaded.config.export
        cols, rows = (int(n) for n in c.storyboard_grid.split("x"))
        options = ExportOptions(grid=(cols, rows), orientation=c.storyboard_orientation, order=c.shot_order,
                                sign=c.sign, signing_cert=c.signing_cert, signing_key=c.signing_key)

        def job(token: CancelToken) -> None:
            paths, ctx = export(self.store, options=options)
            out = (self.store.root / "exports").resolve()
            top = sorted({p.resolve().relative_to(out).parts[0] for p in paths if p.resolve().is_relative_to(out)})
            self.say(f"exported {len(paths)} files into {out}: " + ", ".join(top))
            for notice in ctx.notices:
                self.say(notice, severity="warning")

        self.start_job("export", job)

    def action_undo(self) -> None:
        """Take back this session's last change; with none, the shot list's last version."""
        def job(token: CancelToken) -> None:
            if self.history.done:
                self.say(self.history.undo(self.pipeline) + f" ({self.keys['reapply']} redoes it)")
            else:
                self.say(self.pipeline.undo_beats())

        self.start_job("undo", job)

    def action_reapply(self) -> None:
        self.start_job("redo", lambda token: self.say(self.history.redo(self.pipeline)))

    def action_doctor(self) -> None:
        def job() -> None:
            rows = doctor_rows(self.pipeline.registry)
            self.call_from_thread(self.push_screen, DoctorScreen(rows))

        self.run_worker(job, thread=True, group="doctor", exit_on_error=False)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):  # the help key toggles it
            self.pop_screen()
        else:
            self.push_screen(HelpScreen(self.keys))


def ready_project(project: Path) -> Path:
    """An inkubator project at `project`: opened as it is, or started in a new or empty folder."""
    if not (project / "project.sqlite").exists():  # Store.create refuses a file or a non-empty folder too
        if project.is_dir() and any(p for p in project.iterdir() if not p.name.startswith(".")):
            raise ProjectError(f"{project} is not an inkubator project; open a project folder, or give a new "
                               f"or empty folder to start one")
        Store.create(project).close()
    return project


def run_app(project: Path | None, load: Callable[[Path | None], LoadedConfig]) -> int:
    """`load(folder)`: the settings for a project folder (None: before one is chosen)."""
    loaded = load(None)  # a broken user file is reported before any folder is made
    if project is None:
        projects = recent_projects()
        if projects and sys.stdin.isatty() and sys.stdout.isatty():
            project = PickerApp(projects, default_project_dir(), loaded.config.ui.theme).run()
            if project is None:
                return 0
        else:
            project = default_project_dir()
    project = ready_project(project)
    loaded = load(project)
    remember(project)
    log_file = Path(loaded.config.runtime.log_file) if loaded.config.runtime.log_file else \
        user_log_path("inkubator") / "inkubator.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=log_file, level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = InkubatorApp(project, loaded, reload=load)
    try:
        app.run()
    finally:  # the log folded into project.sqlite, the writer lock let go
        app.store.close()
    print(f"project: {project}\nlog: {log_file}")
    return app.return_code or 0

