"""The preview pane: the selected shot's drafts — the beat sheet, keyframe
candidates side by side, motion frames, voice lines — and what deciding means."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image as PILImage
from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from ..agents.director import rules_kept
from ..pipeline.steps import role_of, role_target
from ..views import STATUS_MARK, motion_summary
from ..project.models import BeatSheet, Draft, DraftStatus, Step
from ..project.store import Store
from . import media
from .pictures import fit, picture, prepare
from .viewer import Frame, Gallery, cells
from .state import ProjectView


@dataclass
class Preview:
    title: str
    body: RenderableType
    images: list[tuple[PILImage.Image, str, bool]] = field(default_factory=list)
    strip: list[PILImage.Image] = field(default_factory=list)
    footer: str = ""
    # how the pictures sit (see `arrange`): one above another, and each one's cells
    stack: bool = False
    cols: int = 0
    rows: int = 0


def sheet_text(sheet: BeatSheet) -> Text:
    """The beat sheet as a list that wraps well in a narrow pane."""
    out = Text()
    scene = None
    headings = {sc.number: sc.heading for sc in sheet.scenes}
    for s in sheet.shots:
        if s.scene != scene:
            scene = s.scene
            out.append(f"{headings.get(scene) or f'Scene {scene}'}\n", style="bold underline")
        out.append(f"{s.number:>2} ", style="bold")
        out.append(f"{s.size.value} · {s.angle.value} · {s.movement.value} · {s.duration_s:g}s\n", style="bold")
        out.append(f"   {s.action}\n")
        for d in s.dialogue:
            out.append(f"   {d.character or '? (who says this?)'}: “{d.text}”" + (f" ({d.delivery})" if d.delivery else "") + "\n",
                       style="italic")
    return out


def keyframes_shown(view: ProjectView, shot_id: str, pick: Draft | None) -> list[Draft]:
    """The keyframes to look at for a shot: the candidates when keyframes wait for a
    decision, else the start (and end) frame as they stand."""
    if pick is not None and pick.step == Step.KEYFRAMES:
        return view.decision(shot_id)
    return [d for d in (view.latest(Step.KEYFRAMES, shot_id), view.latest(Step.KEYFRAMES, role_target(shot_id, "end")))
            if d is not None]


def keyframe_pictures(view: ProjectView, store: Store, shot_id: str, pick: Draft | None, limit: int,
                      size: int = 1024) -> list[tuple[Draft, PILImage.Image, str]]:
    """(draft, picture, caption) for the keyframes shown, read from disk (a worker's job)."""
    out = []
    for d in keyframes_shown(view, shot_id, pick)[:limit]:
        path = store.assets.path(d.files[0]) if d.files and not store.assets.problem(d.files[0], content=False) \
            else None  # gone, or a link: never read through one
        if path is not None:
            img = PILImage.open(path).convert("RGB")
            img.thumbnail((size, size))
            role = "end " if role_of(d.target) == "end" else ""
            out.append((d, img, f"{role}v{d.version} {d.status.value}"))
    return out


def _picked(view: ProjectView, shot_id: str | None, candidate: int) -> tuple[Draft | None, str]:
    """The draft the decision keys act on, and a line saying what it is."""
    pick = view.picked(shot_id, candidate)
    if pick is None:
        return None, ""
    decision = view.decision(shot_id)
    where = f" ({candidate % len(decision) + 1} of {len(decision)}: [ ] to switch)" if len(decision) > 1 else ""
    label = "non-neural default" if pick.provenance.non_neural else pick.provenance.model_id
    seed = f", seed {pick.provenance.seed}" if pick.provenance.seed is not None else ""
    return pick, (f"{pick.step.value} draft {pick.id} v{pick.version}{where} · {pick.provenance.backend}, "
                  f"{label}{seed}")


def shot_title(shot: dict) -> str:
    return f"Shot {shot['number']} · {shot['size']} · {shot['angle']} · {shot['movement']} · {shot['duration_s']:g}s"


def build_gallery(view: ProjectView, store: Store, shot_id: str | None, candidate: int, screen: tuple[int, int],
                  kind: str = "auto") -> Gallery:
    """What the full-screen viewer shows for a shot on a screen of `screen` cells (a worker's
    job: it reads the pictures and prepares them for their cells)."""
    if view.pending_sheets:
        return Gallery("Beat sheet", empty="the beat sheet waits for your approval; keyframes come after it")
    shot = next((s for s in view.shots if s["id"] == shot_id), None)
    if shot is None:
        return Gallery("No shot", empty="select a shot on the board")
    pick, footer = _picked(view, shot_id, candidate)
    shown = keyframe_pictures(view, store, shot_id, pick, 4, size=1600)
    each, height = cells(len(shown) or 1, *screen)
    pictures = [(prepare(img, each, height, kind), caption, d is pick or (pick is None and i == 0))
                for i, (d, img, caption) in enumerate(shown)]
    return Gallery(f"{shot_title(shot)} — {shot['action'][:100]}", pictures,
                   footer or "nothing here waits for a decision")


def arrange(img: PILImage.Image, n: int, pane: tuple[int, int]) -> tuple[bool, int, int]:
    """How `n` pictures shaped like `img` sit in a pane of `pane` cells: side by side, or one
    above another when the pane is tall and narrow and that shows them larger; and the
    columns and rows each gets. Pictures take about two thirds of the height at most."""
    width, rows = max(16, pane[0] - 4), max(6, pane[1] * 2 // 3 - 2)
    side = fit(img, max(12, width // n - 3), rows - 3)
    stacked = fit(img, width - 3, max(4, rows // n - 3))
    stack = n > 1 and stacked[0] * stacked[1] > side[0] * side[1] * 1.2
    return (True, *stacked) if stack else (False, *side)


def build_preview(view: ProjectView, store: Store, shot_id: str | None, candidate: int,
                  pane: tuple[int, int] = (60, 30), kind: str = "auto") -> Preview:
    """Runs in a worker: reads images and clips from disk and prepares the pictures for
    the cells they get in a pane of `pane` cells."""
    pick, footer = _picked(view, shot_id, candidate)
    if pick is not None:
        footer += " · a approve · r reject · d redo with a note · v full screen"

    if view.pending_sheets:
        sheet = BeatSheet.model_validate(pick.data["sheet"])
        edit = pick.data.get("edit", {})
        kept = rules_kept(pick.data.get("agent", {}), len(sheet.shots))
        notes = []
        if edit:
            notes.append(Text("Edit: " + "; ".join(edit.get("said", [])), style="italic"))
        if kept:
            notes.append(Text(kept, style="dim"))
        return Preview(f"Beat sheet draft {pick.id} — {len(sheet.shots)} shots", Group(*notes, sheet_text(sheet)),
                       footer=footer)

    shot = next((s for s in view.shots if s["id"] == shot_id), None)
    if shot is None:
        if view.animatic:
            return Preview("Animatic", Text(f"{view.animatic}\no opens it in your player"), footer=footer)
        return Preview("No shots yet", Text("Send notes in the chat (or F2 for the sample) to draft a beat sheet."))

    title = shot_title(shot)
    lines: list[RenderableType] = [Text(shot["action"])]
    for i, d in enumerate(shot["dialogue"]):
        line_id = view.line_ids.get(shot_id, [])[i] if i < len(view.line_ids.get(shot_id, [])) else ""
        voice = view.latest(Step.VOICE, line_id) if line_id else None
        extra = ""
        if voice is not None:
            extra = f"  {STATUS_MARK.get(voice.status.value, '')} {voice.data.get('seconds', '?')}s"
        lines.append(Text.from_markup(f"[italic]{d['character']}: “{d['text']}”[/]{extra}"))
    steps = "  ".join(f"{k[0].upper()} {STATUS_MARK.get(v, v)}" for k, v in shot["steps"].items())
    lines.append(Text.from_markup(steps))

    shown = keyframe_pictures(view, store, shot_id, pick, 3, size=640)
    stack, cols, rows = arrange(shown[0][1], len(shown), pane) if shown else (False, 0, 0)
    images = [(prepare(img, cols, rows, kind), caption, d is pick) for d, img, caption in shown]
    strip: list[PILImage.Image] = []
    motion = view.latest(Step.MOTION, shot_id)
    if motion is not None and motion.files and motion.status != DraftStatus.STALE:
        path = store.assets.path(motion.files[0])
        if not store.assets.problem(motion.files[0], content=False):
            strip = media.strip(path, n=4, width=240)
            lines.append(Text(f"motion v{motion.version} ({motion.status.value}): {path}", style="dim"))
            how = motion_summary(motion)
            if how:
                lines.append(Text(how, style="dim italic"))
    animatic = pick if pick is not None and pick.step == Step.ANIMATIC else None
    if animatic is not None and animatic.files:
        path = store.assets.path(animatic.files[0])
        strip = media.strip(path, n=6, width=200) if not store.assets.problem(animatic.files[0], content=False) \
            else strip
        lines.append(Text(f"animatic draft {animatic.id}: {animatic.data.get('seconds', '?')}s, {path}",
                          style="dim"))
    elif view.animatic:
        lines.append(Text(f"animatic: {view.animatic} (o opens it)", style="dim"))
    return Preview(title, Group(*lines), images, strip, footer, stack, cols, rows)


class PreviewPane(VerticalScroll, can_focus=False):
    DEFAULT_CSS = """
    PreviewPane { padding: 0 1; }
    PreviewPane #ptitle { text-style: bold; }
    PreviewPane #pimages, PreviewPane #pstrip { height: auto; }
    PreviewPane .candidate { margin-right: 1; border: round $panel; }
    PreviewPane #pfooter { color: $text-muted; margin-top: 1; }
    """

    # how pictures are drawn (the config's ui.images)
    kind = "auto"

    def compose(self) -> ComposeResult:
        # pictures first: they are what a person decides on; the text scrolls below them
        yield Static("", id="ptitle")
        yield Horizontal(id="pimages")
        yield Horizontal(id="pstrip")
        yield Static("", id="pbody")
        yield Static("", id="pfooter")

    live: tuple[PILImage.Image, str] | None = None

    def show_live(self, image: PILImage.Image, caption: str) -> None:
        """A running job's picture so far (a denoising preview); it stays until the job ends."""
        self.live = (image.convert("RGB"), caption)
        row = self.query_one("#pimages", Horizontal)
        row.remove_children()
        _, cols, rows = arrange(self.live[0], 1, (self.size.width, self.size.height))
        row.mount(picture(self.live[0], cols, rows, kind=self.kind, classes="candidate"))
        self.query_one("#pfooter", Static).update(f"live: {caption}")

    def end_live(self) -> None:
        self.live = None

    def show(self, p: Preview) -> None:
        self.query_one("#ptitle", Static).update(p.title)
        self.query_one("#pbody", Static).update(p.body)
        self.query_one("#pfooter", Static).update(p.footer)
        width = max(16, self.size.width - 4)
        row = self.query_one("#pimages", Horizontal)
        row.remove_children()
        if self.live is not None:
            self.show_live(*self.live)
        elif p.images:
            row.styles.layout = "vertical" if p.stack else "horizontal"
            row.mount_all(Frame(i, picture(img, p.cols, p.rows, kind=self.kind), Static(caption),
                                classes="picked" if picked else "") for i, (img, caption, picked) in enumerate(p.images))
        strip = self.query_one("#pstrip", Horizontal)
        strip.remove_children()
        if p.strip:
            each = max(8, width // len(p.strip) - 1)
            strip.mount_all(picture(img, each, kind=self.kind) for img in p.strip)
