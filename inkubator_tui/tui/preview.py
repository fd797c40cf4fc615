"""The preview pane: the selected shot's drafts — the beat sheet, keyframe
candidates side by side, motion frames, voice lines — and what deciding means."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image as PILImage
from PIL import ImageFilter
from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static
from textual_image.widget import Image  # imported before the app starts: it probes the terminal once

from ..agents.director import rules_kept
from ..pipeline.steps import role_of, role_target
from ..views import STATUS_MARK, motion_summary
from ..project.models import BeatSheet, DraftStatus, Step
from ..project.store import Store
from . import media
from .state import ProjectView


@dataclass
class Preview:
    title: str
    body: RenderableType
    images: list[tuple[PILImage.Image, str, bool]] = field(default_factory=list)
    strip: list[PILImage.Image] = field(default_factory=list)
    footer: str = ""


def sheet_text(sheet: BeatSheet) -> Text:
    """The beat sheet as a list that wraps well in a narrow pane."""
    out = Text()
    scene = None
    headings = {sc.number: sc.heading for sc in sheet.scenes}
    for s in sheet.shots:
        if s.scene != scene:
            scene = s.scene
            out.append(f"{headings.get(scene) or f'Scene {scene}'}\n", style="bold underline")
        out.append(f"{s.number:>3}  ", style="bold")
        out.append(f"{s.size.value} · {s.angle.value} · {s.movement.value} · {s.duration_s:g}s\n", style="bold")
        out.append(f"     {s.action}\n")
        for d in s.dialogue:
            out.append(f"     {d.character or '? (who says this?)'}: “{d.text}”" + (f" ({d.delivery})" if d.delivery else "") + "\n",
                       style="italic")
    return out


def build_preview(view: ProjectView, store: Store, shot_id: str | None, candidate: int) -> Preview:
    """Runs in a worker: reads images and clips from disk."""
    decision = view.decision(shot_id)
    pick = decision[candidate % len(decision)] if decision else None
    footer = ""
    if pick is not None:
        where = f" ({candidate % len(decision) + 1} of {len(decision)}: [ ] to switch)" if len(decision) > 1 else ""
        label = "non-neural default" if pick.provenance.non_neural else pick.provenance.model_id
        footer = (f"{pick.step.value} draft {pick.id} v{pick.version}{where} · {pick.provenance.backend}, {label} · "
                  f"a approve · r reject · d redo with a note")

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

    title = (f"Shot {shot['number']} · {shot['size']} · {shot['angle']} · {shot['movement']} · "
             f"{shot['duration_s']:g}s")
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

    images: list[tuple[PILImage.Image, str, bool]] = []
    shown = decision if pick is not None and pick.step == Step.KEYFRAMES else \
        [d for d in (view.latest(Step.KEYFRAMES, shot_id), view.latest(Step.KEYFRAMES, role_target(shot_id, "end")))
         if d is not None]
    for d in shown[:3]:
        if d.files and store.assets.path(d.files[0]).is_file():
            img = PILImage.open(store.assets.path(d.files[0])).convert("RGB")
            img.thumbnail((480, 480))
            # Terminal cells are coarse pixels: thicken thin strokes so a sketch stays legible.
            img = img.filter(ImageFilter.MinFilter(5))
            role = "end " if role_of(d.target) == "end" else ""
            images.append((img, f"{role}v{d.version} {d.status.value}", d is pick))
    strip: list[PILImage.Image] = []
    motion = view.latest(Step.MOTION, shot_id)
    if motion is not None and motion.files and motion.status != DraftStatus.STALE:
        path = store.assets.path(motion.files[0])
        if path.is_file():
            strip = media.strip(path, n=4, width=240)
            lines.append(Text(f"motion v{motion.version} ({motion.status.value}): {path}", style="dim"))
            how = motion_summary(motion)
            if how:
                lines.append(Text(how, style="dim italic"))
    animatic = pick if pick is not None and pick.step == Step.ANIMATIC else None
    if animatic is not None and animatic.files:
        path = store.assets.path(animatic.files[0])
        strip = media.strip(path, n=6, width=200) if path.is_file() else strip
        lines.append(Text(f"animatic draft {animatic.id}: {animatic.data.get('seconds', '?')}s, {path}",
                          style="dim"))
    elif view.animatic:
        lines.append(Text(f"animatic: {view.animatic} (o opens it)", style="dim"))
    return Preview(title, Group(*lines), images, strip, footer)


def _image(img: PILImage.Image, width: int, classes: str = "") -> Image:
    widget = Image(img, classes=classes)
    # textual-image draws nothing with auto size: give it cells explicitly (cells are about 1:2)
    widget.styles.width = width
    widget.styles.height = max(2, round(width * img.height / img.width / 2))
    return widget


class PreviewPane(VerticalScroll, can_focus=False):
    DEFAULT_CSS = """
    PreviewPane { padding: 0 1; }
    PreviewPane #ptitle { text-style: bold; }
    PreviewPane #pimages, PreviewPane #pstrip { height: auto; }
    PreviewPane .candidate { margin-right: 1; border: round $panel; }
    PreviewPane .picked { border: round $accent; }
    PreviewPane #pfooter { color: $text-muted; margin-top: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="ptitle")
        yield Static("", id="pbody")
        yield Horizontal(id="pimages")
        yield Horizontal(id="pstrip")
        yield Static("", id="pfooter")

    live: tuple[PILImage.Image, str] | None = None

    def show_live(self, image: PILImage.Image, caption: str) -> None:
        """A running job's picture so far (a denoising preview); it stays until the job ends."""
        self.live = (image.convert("RGB"), caption)
        row = self.query_one("#pimages", Horizontal)
        row.remove_children()
        row.mount(_image(self.live[0], max(16, min(60, self.size.width - 4)), "candidate"))
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
            each = max(12, width // len(p.images) - 3)
            row.mount_all(_image(img, each, "candidate picked" if picked else "candidate") for img, _, picked
                          in p.images)
        strip = self.query_one("#pstrip", Horizontal)
        strip.remove_children()
        if p.strip:
            each = max(8, width // len(p.strip) - 1)
            strip.mount_all(_image(img, each) for img in p.strip)
