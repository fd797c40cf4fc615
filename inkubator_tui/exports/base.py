"""The contract every export format meets, and what they share.

An exporter is one file per format behind one small protocol: a name, the
file it writes, the step it needs approved, and `export(ctx, out)`. They are
found by name in `BUILTINS` and in the entry-point group
`inkubator.exporters` (a plugin adds a format without touching this package).
Every format covers whatever steps exist: a beat sheet alone gives a
screenplay and a shot list; keyframes add a storyboard; clips, voices and an
animatic add a timeline.

`ExportContext` answers the questions each format asks (the sheet, each
shot's approved drafts, the voice lines of a language, the shot timing the
animatic cut) so the formats agree with each other.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from ..project.models import BeatSheet, Draft, DraftStatus, ProjectSettings, Shot, Step
from ..project.notes_file import without_controls
from ..project.store import ProjectError, Store

ENTRY_POINT_GROUP = "inkubator.exporters"
M = TypeVar("M")
# The animatic's timing rule (tools/animatic.py): a line starts this long after its shot's cut,
# each next line this long after the one before. Kept equal to the tool's by a test.
LEAD_IN_S = 0.25
TAIL_S = 0.35


class ExportUnavailable(ProjectError):
    """The project's state does not allow this format yet; the message says what to approve."""


@dataclass(frozen=True)
class ExportOptions:
    """Choices a person makes about an export (CLI flags, `[export]` config, the app)."""

    # storyboard: panels across × down on a page, and the page's orientation
    grid: tuple[int, int] = (3, 2)
    orientation: Literal["landscape", "portrait"] = "landscape"
    # shot list: script order, or setup order (shots grouped by scene, size, angle and lens)
    order: Literal["script", "setup"] = "script"
    # Content Credentials on exported pictures and videos
    sign: bool = True
    # a studio's own signing certificate chain (PEM) and private key; empty = this installation's own
    signing_cert: str = ""
    signing_key: str = ""


@dataclass(frozen=True)
class VoiceClip:
    """One approved voice line placed on the timeline."""

    shot: str  # shot number
    line: int  # 1-based within the shot
    character: str
    text: str
    language: str
    start_s: float  # from the start of the programme
    seconds: float
    draft: Draft


@dataclass(frozen=True)
class ShotTime:
    shot: Shot
    start_s: float
    seconds: float


@dataclass
class ExportContext:
    store: Store
    options: ExportOptions = ExportOptions()
    # what a person should know about this export (files left unsigned, and why), said once each
    notices: list[str] = field(default_factory=list)
    _media: dict[str, object] = field(default_factory=dict, repr=False)
    _timing: list[ShotTime] | None = field(default=None, repr=False)
    _sheet: BeatSheet | None = field(default=None, repr=False)

    def notice(self, text: str) -> None:
        if text and text not in self.notices:
            self.notices.append(text)

    @property
    def settings(self) -> ProjectSettings:
        return self.store.settings

    @property
    def sheet(self) -> BeatSheet:
        """The approved sheet with every text in it as words (see `words`), read and cleaned once
        per export like `timing` (every format asks for it, several times)."""
        if self._sheet is None:
            sheet = self.store.sheet()
            if sheet is None:
                raise ExportUnavailable("approve a beat sheet first")
            self._sheet = words(sheet)
        return self._sheet

    @property
    def title(self) -> str:
        return self.sheet.title or without_controls(self.settings.title)

    @property
    def primary(self) -> str:
        return (self.settings.languages or ["en"])[0]

    @property
    def exports_dir(self) -> Path:
        return self.store.root / "exports"

    def approved(self, step: Step, target: str) -> Draft | None:
        """The newest approved draft of a step's target."""
        found = self.store.drafts(step, target, DraftStatus.APPROVED)
        return found[-1] if found else None

    def keyframe(self, shot: Shot, role: Literal["start", "end"] = "start") -> Draft | None:
        from ..pipeline.steps import role_target

        return self.approved(Step.KEYFRAMES, role_target(shot.id, role))

    def motion(self, shot: Shot) -> Draft | None:
        return self.approved(Step.MOTION, shot.id)

    def animatic(self, language: str | None = None) -> Draft | None:
        from ..pipeline.steps import ANIMATIC_TARGET, language_target

        return self.approved(Step.ANIMATIC, language_target(ANIMATIC_TARGET, language or self.primary, self.primary))

    def shot_status(self, shot: Shot) -> str:
        """Where a shot stands, in words: "keyframes approved, motion pending, voice 1/2"."""
        from ..pipeline.steps import role_target

        def state(step: Step, targets: list[str]) -> str:
            drafts = [self.store.drafts(step, t) for t in targets]
            done = sum(any(d.status == DraftStatus.APPROVED for d in ds) for ds in drafts)
            if done == len(targets):
                return "approved"
            if any(d.status == DraftStatus.PENDING for ds in drafts for d in ds):
                return "pending" if not done else f"{done}/{len(targets)}, pending"
            if any(d.status == DraftStatus.STALE for ds in drafts for d in ds):
                return "stale"
            return f"{done}/{len(targets)}" if done else ""

        parts = []
        for step, targets in ((Step.KEYFRAMES, [shot.id] + ([role_target(shot.id, "end")]
                                                            if self.keyframe(shot, "end") else [])),
                              (Step.MOTION, [shot.id]), (Step.VOICE, [line.id for line in shot.dialogue])):
            if targets and (said := state(step, targets)):
                parts.append(f"{step.value} {said}")
        return ", ".join(parts) or "drafted"

    def asset(self, draft: Draft, index: int = 0) -> Path:
        """An approved file, checked whole against its hash before an export uses it."""
        return self.store.assets.verified(draft.files[index])

    def timing(self) -> list[ShotTime]:
        """Each shot's place in the programme: the approved animatic's cuts (a shot runs long
        enough for its lines), else the shots' own durations end to end."""
        if self._timing is not None:  # asked by every format and every language: read once per export
            return self._timing
        sheet = self.sheet
        anim = self.animatic()
        cuts = {c["shot"]: c for c in (anim.data.get("cuts") or [])} if anim else {}
        out, t = [], 0.0
        for shot in sheet.shots:
            cut = cuts.get(shot.number)
            seconds = float(cut["seconds"]) if cut else self._shot_seconds(shot)
            start = float(cut["start_s"]) if cut else t
            out.append(ShotTime(shot, start, seconds))
            t = start + seconds
        self._timing = out
        return out

    def _shot_seconds(self, shot: Shot) -> float:
        lines = [self.voice_draft(shot, i, self.primary) for i in range(len(shot.dialogue))]
        talk = [float(d.data.get("seconds", 0)) for d in lines if d is not None]
        return max(shot.duration_s, sum(talk) + LEAD_IN_S * len(talk) + TAIL_S if talk else 0)

    def voice_draft(self, shot: Shot, index: int, language: str) -> Draft | None:
        from ..pipeline.steps import language_target

        line = shot.dialogue[index]
        return self.approved(Step.VOICE, language_target(line.id, language, self.primary))

    def voice_clips(self, language: str) -> list[VoiceClip]:
        """Every approved voice line of `language` at its time, by the animatic's rule."""
        clips = []
        for st in self.timing():
            pos = st.start_s + LEAD_IN_S
            for i, line in enumerate(st.shot.dialogue):
                d = self.voice_draft(st.shot, i, language)
                if d is None:
                    continue
                seconds = float(d.data.get("seconds") or 0.0)
                clips.append(VoiceClip(st.shot.number, i + 1, line.character,
                                       without_controls(d.provenance.prompt) or line.text, language, round(pos, 3),
                                       seconds, d))
                pos += seconds + LEAD_IN_S
        return clips

    def relative(self, path: Path, out: Path) -> str:
        """`path` as seen from the folder of the exported file `out` (POSIX separators), so
        the export keeps working when the project folder moves."""
        return Path(os.path.relpath(path.resolve(), out.resolve().parent)).as_posix()


def words(value: M) -> M:
    """`value` with every text in it as words (`without_controls`: no terminal escapes, no C0 or
    C1 controls, newlines kept). Text is cleaned when it comes in, but the database may hold text
    from before that, or from an import: what an export writes for a terminal, a spreadsheet or an
    editor is cleaned again here, for every format (plugins too). Built without validation, so a
    line that was nothing but escapes becomes an empty line, not a failed export."""
    if type(value) is str:
        return without_controls(value)
    if isinstance(value, BaseModel):
        return value.model_construct(_fields_set=value.model_fields_set,
                                     **{name: words(getattr(value, name)) for name in type(value).model_fields})
    if isinstance(value, list):
        return [words(v) for v in value]
    if isinstance(value, dict):
        return {words(k): words(v) for k, v in value.items()}
    return value


@runtime_checkable
class Exporter(Protocol):
    """One export format. `export` writes `out` (and any files beside it) and returns every
    path written; it raises `ExportUnavailable` when the project has nothing for it yet."""

    name: str  # the --format name
    filename: str  # the default file name under exports/
    label: str  # what it is, in a few words
    opens_in: str  # the applications a person opens it with

    def export(self, ctx: ExportContext, out: Path) -> list[Path]: ...


@dataclass(frozen=True)
class ExporterSpec:
    name: str
    ref: str  # "module:Class"

    def load(self) -> Exporter:
        module, _, cls = self.ref.partition(":")
        return getattr(importlib.import_module(module), cls)()


BUILTINS: list[ExporterSpec] = [
    ExporterSpec("fountain", "inkubator_tui.exports.fountain:FountainExporter"),
    ExporterSpec("fdx", "inkubator_tui.exports.fdx:FdxExporter"),
    ExporterSpec("csv", "inkubator_tui.exports.shotlist:ShotListExporter"),
    ExporterSpec("media", "inkubator_tui.exports.media:MediaExporter"),
    ExporterSpec("otio", "inkubator_tui.exports.timeline:OtioExporter"),
    ExporterSpec("edl", "inkubator_tui.exports.timeline:EdlExporter"),
    ExporterSpec("fcpxml", "inkubator_tui.exports.timeline:FcpXmlExporter"),
    ExporterSpec("html", "inkubator_tui.exports.storyboard:HtmlStoryboardExporter"),
    ExporterSpec("pdf", "inkubator_tui.exports.storyboard:PdfStoryboardExporter"),
    ExporterSpec("animatic", "inkubator_tui.exports.animatic:AnimaticExporter"),
    ExporterSpec("srt", "inkubator_tui.exports.animatic:SubtitlesExporter"),
    ExporterSpec("provenance", "inkubator_tui.exports.provenance:ProvenanceExporter"),
]


def exporter_specs() -> list[ExporterSpec]:
    """Built-ins, then plugins (a plugin cannot shadow a built-in's name)."""
    names = {s.name for s in BUILTINS}
    plugins = [ExporterSpec(ep.name, ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP)
               if ep.name not in names]
    return BUILTINS + plugins


def exporter(name: str) -> Exporter:
    for spec in exporter_specs():
        if spec.name == name:
            return spec.load()
    known = ", ".join(s.name for s in exporter_specs())
    raise ProjectError(f"no export format {name!r}; choose one of: {known}")
