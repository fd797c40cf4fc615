"""The gated pipeline: beats → keyframes → motion → voice → animatic.

The agent and tools propose drafts; only a person approves. A step runs only
on approved inputs; every run makes new draft versions and never overwrites;
revisions mark exactly their dependants stale; unchanged inputs do no work.
"""

from __future__ import annotations

import dataclasses
import getpass
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from ..project.models import (
    BeatSheet,
    Character,
    DialogueLine,
    Draft,
    DraftStatus,
    Provenance,
    Shot,
    Step,
    VoiceCast,
    stable_hash,
    utcnow,
)
from ..project.assets import refuse_links
from ..project.errors import disk_full, is_disk_full
from ..project.notes_file import NotesFileError, check_size, without_controls
from ..project.store import ProjectError, Store
from .backend import Backend, BackendInfo, CancelToken, ProgressEvent, VoiceOption, capabilities
from .dubbing import timing
from .executors import LocalExecutor, Outcome, RayExecutor, WorkItem, make_executor, remove_workdir
from .registry import Registry
from .requests import BeatsRequest, Request
from .steps import SHEET_TARGET, Blocked, Context, Task, language_target, plan
from . import integrity
from .subtitles import animatic_exports

LIVE = (DraftStatus.PENDING, DraftStatus.APPROVED)
T = TypeVar("T")
ANIMATIC_EXPORT = Path("exports") / "animatic.mp4"


@dataclass
class StepReport:
    """What one run of one step did, in terms a person and a script can use."""

    step: Step
    backend: str | None = None
    created: list[Draft] = field(default_factory=list)
    cached: list[Draft] = field(default_factory=list)
    up_to_date: int = 0
    blocked: list[Blocked] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.cancelled

    def summary(self) -> str:
        if self.backend is None and self.step == Step.TRANSLATE:
            return "translate: no model here can translate; you type each translation (inkubator translate)"
        if self.backend is None:
            return f"{self.step.value}: no backend; skipped"
        parts = [f"{len(self.created)} new", f"{len(self.cached)} from cache", f"{self.up_to_date} up to date"]
        if self.blocked:
            parts.append(f"{len(self.blocked)} blocked")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.cancelled:
            parts.append("cancelled")
        return f"{self.step.value} ({self.backend}): " + ", ".join(parts)


class Pipeline:
    def __init__(self, store: Store, registry: Registry, executor: LocalExecutor | RayExecutor | None = None):
        self.store = store
        self.registry = registry
        rt = registry.config.runtime
        # Render jobs go to the configured executor; the beats step stays in this process
        # (it streams tokens to the chat and keeps its model loaded).
        self.executor = executor or make_executor(rt.executor, workers=rt.jobs, ray_address=rt.ray_address)
        self.local = self.executor if isinstance(self.executor, LocalExecutor) else LocalExecutor(rt.jobs)
        self._loaded: set[int] = set()
        self._pools: tuple[tuple[str, ...], dict[str, list[VoiceOption]]] | None = None
        # Things a person must hear about once (a non-commercial licence approved into the project);
        # the CLI prints them and the app says them, then clears the list.
        self.notices: list[str] = []
        self._told: set[str] = set()  # what "auto" passed over, said once for the pipeline's life

    # ---- helpers ---------------------------------------------------------
    def notice(self, text: str) -> None:
        """Tell the person `text`; a line still waiting to be read is not repeated."""
        if text not in self.notices:
            self.notices.append(text)

    def backend(self, step: Step) -> Backend | None:
        return self.registry.resolve(step)

    def enabled_steps(self) -> set[Step]:
        return {s for s in Step if self.backend(s) is not None}

    def context(self) -> Context:
        enabled = self.enabled_steps()
        motion = self.backend(Step.MOTION)
        keyframe = self.backend(Step.KEYFRAMES)
        return Context(self.store, enabled, end_frames=capabilities(motion).inputs.get("end", "") if motion else "",
                       pools=self.voice_pools(), long_side=self.registry.config.keyframe.long_side,
                       keyframe_inputs=dict(capabilities(keyframe).inputs) if keyframe else {},
                       on=self.registry.config.motion.on)

    def voice_pools(self) -> dict[str, list[VoiceOption]]:
        """Per project language, the voices default casting hands out: the configured engine's
        first (named "" in casts: "the configured engine"), then every other ready engine's,
        native before accented before robotic. Built once per pipeline (engines list their
        voices without loading a model)."""
        languages = tuple(self.store.settings.languages or ["en"])
        if self._pools is not None and self._pools[0] == languages:
            return self._pools[1]
        default = self.backend(Step.VOICE)
        engines: list[tuple[str, Any]] = [("", default)] if default is not None else []
        if default is not None and getattr(default, "_inkubator_spec", None) is not None:
            default_name = default.info().name
            for spec in self.registry.specs_for(Step.VOICE):
                if spec.name == default_name:
                    continue
                try:
                    if spec.load_class().readiness(self.registry.config).ready:
                        engines.append((spec.name, self.registry.named(Step.VOICE, spec.name)))
                except Exception:  # noqa: BLE001 - an engine that cannot list voices is left out
                    continue
        pools: dict[str, list[VoiceOption]] = {}
        for language in languages:
            options: list[VoiceOption] = []
            for name, engine in engines:
                if hasattr(engine, "catalog"):
                    found = engine.catalog(language)
                elif hasattr(engine, "voices"):
                    found = [VoiceOption(name, v, language) for v in engine.voices(language)]
                else:
                    found = []
                options += [dataclasses.replace(o, engine=name) for o in found]
            rank = {"native": 0, "accented": 1, "robotic": 2}
            pools[language] = sorted(options, key=lambda o: rank.get(o.quality, 3))  # stable: engine order kept
        self._pools = (languages, pools)
        return pools

    def keep_default_casts(self) -> list[str]:
        """Write default casting into the sheet for every speaking character and language not
        yet cast, so voicing a line fixes its voice: a voice installed later recasts no one."""
        ctx = self.context()
        sheet = self.store.sheet()
        if sheet is None:
            return []
        said = []
        speaking = dict.fromkeys(ln.character for shot in sheet.shots for ln in shot.dialogue if ln.character)
        for name in speaking:
            ch = sheet.character(name)
            if ch is None:
                continue
            for language in self.store.settings.languages or ["en"]:
                if language not in ch.voices:
                    cast = ctx.cast(name, language)
                    if cast.voice or cast.backend:
                        ch.voices = {**ch.voices, language: cast}
                        said.append(f"{name} {language}={cast.label()}")
        if said:
            self.store.replace_sheet(sheet, "default casting kept: " + ", ".join(said))
        return said

    def _ensure_loaded(self, backend: Backend, emit: Callable[[ProgressEvent], None]) -> None:
        if id(backend) not in self._loaded:
            name = backend.info().name
            backend.load(lambda f, m: emit(ProgressEvent(f"load {name}", f, m)))
            self._loaded.add(id(backend))

    # ---- running ---------------------------------------------------------
    def draft_beats(self, notes: str, *, source: str = "notes", cancel: CancelToken | None = None,
                    on_progress: Callable[[ProgressEvent], None] | None = None,
                    on_token: Callable[[str], None] | None = None,
                    on_partial: Callable[[Any], None] | None = None) -> StepReport:
        """Draft a beat sheet from the director's notes, unless a live draft for
        these notes exists (edits made by conversation count: they descend from them)."""
        notes = without_controls(notes)
        if not notes.strip():
            raise ProjectError("the notes are empty; write what happens, scene by scene")
        try:
            check_size(notes)
        except NotesFileError as e:
            raise ProjectError(str(e)) from None
        deps = {"step": Step.BEATS.value, "notes": notes}
        task = Task(Step.BEATS, SHEET_TARGET, "beat sheet", deps, BeatsRequest(notes=notes))
        return self._run(Step.BEATS, [task], [], cancel, on_progress, on_token=on_token, on_partial=on_partial)

    def import_sheet(self, sheet: BeatSheet, *, text: str, source: str, reader: str,
                     title_page: dict[str, str] | None = None) -> Draft:
        """A beat sheet read from a screenplay (Fountain, Final Draft) as a pending draft: the
        director approves it like any other. The same file imported again finds its draft."""
        deps = {"step": Step.BEATS.value, "notes": text}
        task = Task(Step.BEATS, SHEET_TARGET, "beat sheet", deps, BeatsRequest(notes=text))
        data = BeatSheet.model_validate(sheet.model_dump(mode="json")).model_dump(mode="json")
        key = stable_hash({"import": reader, "sheet": data})
        hit = self.store.find_cached(key)
        if hit is not None and hit.status in LIVE and hit.deps_key == task.deps_key:
            return hit
        now = utcnow()
        prov = Provenance(tool=Step.BEATS.value, backend="import", model_id=reader, licence="", non_neural=True,
                          prompt=text, parameters={"file": source}, started_at=now, finished_at=now)
        return self.store.add_draft(step=Step.BEATS, target=SHEET_TARGET, cache_key=key, deps_key=task.deps_key,
                                    provenance=prov, data={"sheet": data, "source": source,
                                                           "title_page": dict(title_page or {})})

    def run_step(self, step: Step, *, cancel: CancelToken | None = None,
                 on_progress: Callable[[ProgressEvent], None] | None = None,
                 only: set[str] | None = None) -> StepReport:
        """Make drafts for every target of `step` whose inputs are approved and
        that has no live draft for its current inputs. `only` limits targets."""
        if step == Step.BEATS:
            raise ValueError("use draft_beats(notes) for the beats step")
        if step == Step.VOICE and self.backend(Step.VOICE) is not None:
            self.keep_default_casts()
        self.refresh_staleness()
        tasks, blocked = plan(step, self.context())
        if only is not None:
            tasks = [t for t in tasks if t.target in only]
            blocked = [b for b in blocked if b.target in only]
        return self._run(step, tasks, blocked, cancel, on_progress)

    def _run(self, step: Step, tasks: list[Task], blocked: list[Blocked], cancel: CancelToken | None,
             on_progress: Callable[[ProgressEvent], None] | None,
             on_token: Callable[[str], None] | None = None,
             on_partial: Callable[[Any], None] | None = None) -> StepReport:
        backend = self.backend(step)
        report = StepReport(step, backend=backend.info().name if backend else None, blocked=blocked)
        for r in self.registry.passed_over(step):  # `auto` chose another: the person's setting does not work
            said = f"{r.detail}; {step.value} uses {report.backend or 'no backend'} instead"
            if said not in self._told:  # once, not after every job of the step
                self._told.add(said)
                self.notice(said)
        if backend is None:
            return report
        cancel = cancel or CancelToken()
        outer = on_progress or (lambda e: None)

        def emit(e: ProgressEvent) -> None:  # every event says which step it belongs to
            outer(ProgressEvent(e.job, e.fraction, e.message, step.value, e.preview))

        candidates = self.registry.config.keyframe.candidates if step == Step.KEYFRAMES else 1

        work: list[tuple[Task, Backend, BackendInfo, str, Request]] = []  # task, its backend, info, key, request
        for task in tasks:
            drafts = self.store.drafts(step, task.target)
            live = [d for d in drafts if d.status in LIVE and d.deps_key == task.deps_key]
            if any(d.status == DraftStatus.APPROVED for d in live) or len(live) >= candidates:
                report.up_to_date += 1
                continue
            try:
                mine = self.registry.named(step, task.backend)
            except Exception as e:  # noqa: BLE001 - a cast naming an engine that is not here
                report.failed.append((task.label, _one_line(e)))
                continue
            info = mine.info()
            rejected = [d for d in drafts if d.status == DraftStatus.REJECTED]
            note = drafts[-1].note if drafts and drafts[-1].status == DraftStatus.REJECTED else ""
            for i in range(len(live), candidates):
                seed = (task.seed + len(rejected) + i) % 2**32
                key = stable_hash({"backend": asdict(info), "deps": task.deps_key, "seed": seed, "note": note})
                hit = self.store.find_cached(key)
                if hit is not None:
                    report.cached.append(self._reuse(hit, task))
                else:
                    work.append((task, mine, info, key, task.request.model_copy(update={"seed": seed, "note": note})))

        if not work:
            return report
        remote = step != Step.BEATS and not isinstance(self.executor, LocalExecutor)
        scratch = refuse_links(self.store.root, self.store.root / ".work")
        scratch.mkdir(exist_ok=True)
        by_name: dict[str, tuple[Task, BackendInfo, str, Request]] = {}
        items = []
        for n, (task, mine, info, key, request) in enumerate(work):
            if not remote:  # a worker elsewhere loads its own copy
                self._ensure_loaded(mine, emit)
            name = f"{task.label}" + (f" #{n + 1}" if candidates > 1 else "")
            try:  # what a job reads is checked whole first: a swapped file never reaches a tool
                files = {r: self.store.assets.verified(r.rel) for r in request.inputs().values()}
            except ProjectError as e:
                report.failed.append((name, str(e)))
                continue
            by_name[name] = (task, info, key, request)
            items.append(WorkItem(name, self.registry.handle(mine), request, files, on_token=on_token,
                                  on_partial=on_partial))

        executor = self.executor if remote else self.local
        for outcome in executor.run(items, scratch=scratch, cancel=cancel, on_progress=emit):
            task, info, key, request = by_name[outcome.job]
            try:
                if outcome.cancelled:
                    report.cancelled = True
                elif outcome.error is not None:
                    report.failed.append((outcome.job, _one_line(outcome.error)))
                else:
                    report.created.append(self._commit(task, request, info, key, outcome))
                    for text in outcome.result.notices:
                        self.notice(text)
            except (ValidationError, ValueError, OSError) as e:
                report.failed.append((outcome.job, f"bad result from {info.name}: {_one_line(e)}"))
            finally:
                remove_workdir(outcome)
        return report

    def _commit(self, task: Task, request: Request, info: BackendInfo, key: str, outcome: Outcome) -> Draft:
        result = outcome.result
        data = dict(result.data)
        if task.step == Step.BEATS:
            # Model output is validated into the domain type before it is stored.
            data["sheet"] = BeatSheet.model_validate(data.get("sheet")).model_dump(mode="json")
        by_name = request.inputs()
        prov = Provenance(
            tool=task.step.value, backend=info.name, model_id=result.model_id or info.model_id,
            weights_sha256=info.weights_sha256, licence=result.licence or info.licence, non_neural=info.non_neural,
            prompt=result.prompt, negative_prompt=result.negative_prompt, seed=request.seed, steps=result.steps,
            parameters={**info.parameters, **result.parameters, "backend_version": info.version,
                        **({"inputs": {name: r.rel for name, r in by_name.items()}} if by_name else {})},
            inputs=[f for d in task.upstream for f in d.files], started_at=outcome.started,
            finished_at=outcome.finished)
        files = []
        for f in result.files:
            if not Path(f).is_file():
                raise ValueError(f"{info.name} said it wrote {f}, but there is no such file")
            files.append(self.store.assets.put_file(Path(f), prov))
        return self.store.add_draft(step=task.step, target=task.target, cache_key=key, deps_key=task.deps_key,
                                    provenance=prov, files=files, data=data, upstream=[d.id for d in task.upstream])

    def _reuse(self, hit: Draft, task: Task) -> Draft:
        prov = hit.provenance.model_copy(update={"approver": "", "approved_at": "", "approval_mode": "",
                                                 "parameters": {**hit.provenance.parameters,
                                                                "cached_from_draft": hit.id}})
        return self.store.add_draft(step=task.step, target=task.target, cache_key=hit.cache_key,
                                    deps_key=task.deps_key, provenance=prov, files=hit.files, data=hit.data,
                                    upstream=[d.id for d in task.upstream])

    def advance(self, *, cancel: CancelToken | None = None,
                on_progress: Callable[[ProgressEvent], None] | None = None) -> tuple[StepReport | None, str]:
        """Run the next step that has work, stopping at the first gate.

        Returns the report of the step that ran (None when nothing could) and a
        sentence for the person: what ran, or what waits for them."""
        if self.pending(Step.BEATS):
            return None, "the beat sheet awaits your approval"
        if self.store.sheet() is None:
            return None, "send notes first: there is no beat sheet yet"
        for step in (Step.KEYFRAMES, Step.MOTION, Step.TRANSLATE, Step.VOICE, Step.ANIMATIC):
            if self.backend(step) is None:
                continue
            waiting = self.pending(step)
            if waiting:
                return None, f"{len(waiting)} {step.value} draft(s) await your approval"
            report = self.run_step(step, cancel=cancel, on_progress=on_progress)
            if report.created or report.cached or report.failed or report.cancelled:
                return report, report.summary()
            if report.blocked:
                return report, f"{step.value}: " + "; ".join(f"{b.label}: {b.reason}" for b in report.blocked[:3])
        return None, "everything is approved and up to date"

    def undo_beats(self, approver: str | None = None) -> str:
        """Take back the last change to the shot list: withdraw the newest pending
        beats draft, or else return to the previously approved version."""
        beats = self.store.drafts(Step.BEATS, SHEET_TARGET)
        pending = [d for d in beats if d.status == DraftStatus.PENDING]
        if pending:
            self.reject(pending[-1].id, note="undone", approver=approver)
            return f"withdrew beats draft {pending[-1].id}"
        approved = [d for d in beats if d.status == DraftStatus.APPROVED]
        earlier = [d for d in beats if d.status == DraftStatus.SUPERSEDED and approved and d.id < approved[-1].id
                   and d.provenance.approved_at]
        if not earlier:
            raise ProjectError("nothing to undo in the shot list")
        self.approve(earlier[-1].id, mode="undo", approver=approver)
        return f"back to beats draft {earlier[-1].id}"

    # ---- approval ----------------------------------------------------------
    def approve(self, draft_id: int, *, mode: str = "cli", approver: str | None = None) -> Draft:
        """Approve one draft: its siblings are superseded, dependants re-checked."""
        d = self.store.draft(draft_id)
        if d.status == DraftStatus.APPROVED:
            return d
        if d.status == DraftStatus.STALE or (d.step != Step.BEATS and not self._inputs_current(d)):
            raise ProjectError(f"draft {d.id} is stale (its inputs changed since it was made); "
                               f"run the {d.step.value} step again for a new version")
        if d.step == Step.BEATS and not (d.data.get("sheet") or {}).get("shots"):
            raise ProjectError(f"draft {d.id} is a beat sheet with no shots; there is nothing to approve "
                               "(send notes that say what happens, scene by scene)")
        who = approver or _whoami()
        prov = d.provenance.model_copy(update={"approver": who, "approved_at": utcnow(), "approval_mode": mode})
        if d.provenance.parameters.get("non_commercial") and not any(
                x.provenance.parameters.get("non_commercial") for x in self.store.drafts(status=DraftStatus.APPROVED)):
            self.notices.append(f"draft {d.id} was made by {d.provenance.model_id} under {d.provenance.licence}: "
                                "this project now holds non-commercial audio; recast before any commercial use")
        with self.store.transaction():
            for sib in self.store.drafts(d.step, d.target, LIVE):
                if sib.id != d.id:
                    self.store.set_status(sib.id, DraftStatus.SUPERSEDED,
                                          why=f"draft {sib.id}: superseded by draft {d.id}")
            self.store.set_status(d.id, DraftStatus.APPROVED, provenance=prov,
                                  why=f"draft {d.id}: {d.step.value} {d.target} approved by {who} ({mode})")
            if d.step == Step.BEATS:
                self._apply_sheet(BeatSheet.model_validate(d.data["sheet"]), f"beat sheet from draft {d.id} applied")
        for f in d.files:
            self.store.assets.write_sidecar(self.store.assets.path(f), prov)
        if d.step == Step.ANIMATIC and d.files:
            animatic_exports(self.store, self.store.draft(d.id))
        self.refresh_staleness()
        return self.store.draft(d.id)

    def approve_step(self, step: Step, *, mode: str, approver: str | None = None,
                     cancel: CancelToken | None = None) -> list[Draft]:
        """Approve every pending draft of `step`; where a target has several candidates,
        the first is taken (the others are superseded by it)."""
        seen: set[str] = set()
        approved = []
        for d in self.pending(step):
            if d.target not in seen:
                if cancel is not None:
                    cancel.check()
                approved.append(self.approve(d.id, mode=mode, approver=approver))
                seen.add(d.target)
        return approved

    def changes_stale(self, change: Callable[[], T]) -> tuple[T, list[Draft]]:
        """Make a change (a revision, a recast) and say which drafts it made stale."""
        before = {d.id for d in self.store.drafts(status=DraftStatus.STALE)}
        result = change()
        return result, [d for d in self.store.drafts(status=DraftStatus.STALE) if d.id not in before]

    def propose_sheet(self, sheet: BeatSheet, provenance: Provenance, *, base: Draft | None, said: list[str],
                      extra: dict[str, Any]) -> Draft:
        """Record a beat sheet made by conversation (an edit, an alternative) as a pending
        draft, validated like a backend's. It descends from the notes of its base, so
        re-running those notes finds it up to date."""
        data = BeatSheet.model_validate(sheet.model_dump(mode="json")).model_dump(mode="json")
        return self.store.add_draft(step=Step.BEATS, target=SHEET_TARGET,
                                    cache_key=stable_hash({"edit": said, "sheet": data}),
                                    deps_key=base.deps_key if base else "edit", provenance=provenance,
                                    data={"sheet": data, **extra})

    def reject(self, draft_id: int, *, note: str = "", approver: str | None = None) -> Draft:
        """Reject a draft, keeping it for the record; `note` steers the redo."""
        d = self.store.draft(draft_id)
        who = approver or _whoami()
        self.store.set_status(d.id, DraftStatus.REJECTED, note=note,
                              why=f"draft {d.id}: rejected by {who}" + (f": {note}" if note else ""))
        return self.store.draft(d.id)

    def _inputs_current(self, d: Draft) -> bool:
        tasks, _ = plan(d.step, self.context())
        return any(t.target == d.target and t.deps_key == d.deps_key for t in tasks)

    # ---- revision and staleness ---------------------------------------------
    def _apply_sheet(self, sheet: BeatSheet, why: str) -> None:
        """Make `sheet` the working shot list, keeping the ids of shots whose
        number already existed so their downstream work can stay valid."""
        current = self.store.sheet()
        ids = {s.number: s.id for s in (current.shots if current else [])}
        for shot in sheet.shots:
            shot.id = ids.get(shot.number) or f"s{uuid.uuid4().hex[:8]}"
            for i, line in enumerate(shot.dialogue):
                line.id = f"{shot.id}-l{i + 1}"
        names = {c.name for c in sheet.characters}
        for shot in sheet.shots:
            for ch in [*shot.characters, *(line.character for line in shot.dialogue)]:
                if ch and ch not in names:  # "" = a line whose speaker is still a question
                    raise ProjectError(f"shot {shot.number} names {ch!r}, who is not in the characters list")
        self.store.replace_sheet(sheet, why)

    def revise_shot(self, ref: str, changes: dict[str, Any]) -> Shot:
        """Change fields of one shot (by number or id); returns the new shot."""
        sheet = self.store.sheet()
        if sheet is None:
            raise ProjectError("there is no approved beat sheet to revise yet")
        try:
            shot = sheet.shot(ref)
        except KeyError:
            raise ProjectError(f"no shot {ref!r}; shots are {', '.join(s.number for s in sheet.shots)}") from None
        unknown = set(changes) - set(Shot.model_fields) | ({"id"} & set(changes))
        if unknown:
            raise ProjectError(f"cannot change {', '.join(sorted(unknown))}; fields are "
                               f"{', '.join(f for f in Shot.model_fields if f != 'id')}")
        try:
            new = Shot.model_validate({**shot.model_dump(), **changes})
        except ValidationError as e:
            err = e.errors()[0]
            raise ProjectError(f"shot {shot.number}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
        new.id = shot.id
        for i, line in enumerate(new.dialogue):
            line.id = f"{shot.id}-l{i + 1}"
        for ch in new.characters + [line.character for line in new.dialogue]:
            if ch and sheet.character(ch) is None:
                sheet.characters.append(Character(name=ch))
        sheet.shots = [new if s.id == shot.id else s for s in sheet.shots]
        self.store.replace_sheet(sheet, f"shot {shot.number} revised: {', '.join(sorted(changes))}")
        self.refresh_staleness()
        return new

    def recast(self, character: str, language: str, cast: VoiceCast) -> VoiceCast:
        """Cast `character` in `language`: exactly that character's lines in it go stale."""
        sheet, ch = self.character(character)
        backend = self.registry.named(Step.VOICE, cast.backend)  # an unknown engine is an error here, not later
        if backend is None:
            raise ProjectError("there is no voice backend to cast with (voice.backend = none)")
        choices = backend.voices(language) if hasattr(backend, "voices") else []
        if cast.voice and choices and cast.voice not in choices:
            raise ProjectError(f"{backend.info().name} has no voice {cast.voice!r} for {language}; "
                               f"its voices: {', '.join(choices)}")
        ch.voices = {**ch.voices, language: cast}
        self.store.replace_sheet(sheet, f"{ch.name} cast in {language}: {cast.label()}")
        self.refresh_staleness()
        return cast

    def line(self, ref: str) -> tuple[Shot, int, DialogueLine]:
        """A dialogue line by `SHOT.N` (`3.1`, `4A.2`: shot 3's first line) or by its id."""
        sheet = self.store.sheet()
        if sheet is None:
            raise ProjectError("there is no approved beat sheet yet")
        for shot in sheet.shots:
            for i, line in enumerate(shot.dialogue):
                if line.id == ref or f"{shot.number}.{i + 1}" == ref.strip().upper():
                    return shot, i, line
        some = ", ".join(f"{s.number}.{i + 1}" for s in sheet.shots for i, _ in enumerate(s.dialogue))
        raise ProjectError(f"no line {ref!r}; lines are SHOT.N: {some[:200] or 'none (no dialogue yet)'}")

    def translations(self, language: str | None = None) -> list[tuple[str, Task, Draft | None]]:
        """Each line's translation into each further language (or one): its `SHOT.N` ref, the
        task and the live draft (approved or pending) for the line as it reads now."""
        ctx = self.context()
        tasks, _ = plan(Step.TRANSLATE, ctx)
        sheet = ctx.sheet
        refs = {line.id: f"{s.number}.{i + 1}" for s in (sheet.shots if sheet else [])
                for i, line in enumerate(s.dialogue)}
        rows = []
        for t in tasks:
            if language and t.request.target != language:
                continue
            live = [d for d in ctx.drafts(Step.TRANSLATE, t.target) if d.status in LIVE and d.deps_key == t.deps_key]
            rows.append((refs[t.request.line_id], t, (live[-1] if live else None)))
        return rows

    def type_translation(self, ref: str, language: str, text: str, *, approver: str | None = None) -> Draft:
        """The director's own translation of one line: a draft they approve by typing it."""
        text = " ".join(text.split())
        if not text:
            raise ProjectError("the translation is empty; type what the line says in " + language)
        if language not in (self.store.settings.languages or ["en"])[1:]:
            raise ProjectError(f"{language} is not a dubbing language of this project (languages: "
                               f"{', '.join(self.store.settings.languages)}); add it: inkubator languages")
        _, _, line = self.line(ref)
        task = next((t for _, t, _ in self.translations(language) if t.request.line_id == line.id), None)
        if task is None:
            raise ProjectError(f"line {ref} has nothing to translate")
        who = approver or _whoami()
        prov = Provenance(tool=Step.TRANSLATE.value, backend="typed", model_id=f"typed by {who}", non_neural=True,
                          prompt=line.text, parameters={"character": line.character}, started_at=utcnow(),
                          finished_at=utcnow())
        data = {"text": text, "source_text": line.text, "language": language, "source": task.request.source,
                **timing(line.text, task.request.source, text, language, self.registry.config.translate.long_ratio)}
        d = self.store.add_draft(step=Step.TRANSLATE, target=task.target, cache_key=stable_hash({"typed": data}),
                                 deps_key=task.deps_key, provenance=prov, data=data)
        return self.approve(d.id, mode="typed", approver=who)

    def character(self, name: str):
        sheet = self.store.sheet()
        if sheet is None:
            raise ProjectError("there is no approved beat sheet yet")
        ch = sheet.character(name) or next((c for c in sheet.characters if c.name.lower() == name.lower()), None)
        if ch is None:
            raise ProjectError(f"no character {name!r}; characters are "
                               f"{', '.join(c.name for c in sheet.characters) or 'none yet'}")
        return sheet, ch

    def set_look(self, name: str, *, look: str | None = None, reference_shot: str | None = None):
        """Change how a character looks, or which shot's approved keyframe shows them ("" = the
        first shot they are in): the keyframes drawn from the old look or picture go stale."""
        sheet, ch = self.character(name)
        said = []
        if look is not None:
            ch.look = look.strip()
            said.append(f"looks: {ch.look or '(no description)'}")
        if reference_shot is not None:
            ref = reference_shot.strip().upper()
            if ref:
                try:
                    shot = sheet.shot(ref)
                except KeyError:
                    raise ProjectError(f"there is no shot {ref}; shots are "
                                       f"{', '.join(s.number for s in sheet.shots)}") from None
                if ch.name not in shot.characters:
                    raise ProjectError(f"{ch.name} is not in shot {shot.number}; choose a shot they are in: "
                                       + ", ".join(s.number for s in sheet.shots if ch.name in s.characters))
                ref = shot.number
            ch.reference_shot = ref
            said.append(f"reference: shot {ref}" if ref else "reference: their first shot")
        self.store.replace_sheet(sheet, f"{ch.name} {'; '.join(said)}")
        self.refresh_staleness()
        return ch

    def sample_voice(self, character: str, language: str, cast: VoiceCast | None = None,
                     cancel: CancelToken | None = None) -> Path:
        """Say the character's first line in `language` (or a short sentence) with their cast,
        or `cast` to audition one, into `.work/samples/`; nothing is drafted or approved."""
        from .requests import VoiceRequest

        _, ch = self.character(character)
        ctx = self.context()
        cast = cast or ctx.cast(ch.name, language)
        backend = self.registry.named(Step.VOICE, cast.backend)
        if backend is None:
            raise ProjectError("there is no voice backend (voice.backend = none)")
        text = f"This is {ch.name}."
        for shot in ctx.sheet.shots:
            line = next((ln for ln in shot.dialogue if ln.character == ch.name), None)
            if line is None:
                continue
            if language == ctx.primary:
                text = line.text
            else:
                tr = ctx.approved(Step.TRANSLATE, language_target(line.id, language, ""))
                text = tr.data["text"] if tr else text
            break
        folder = self.store.root / ".work" / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        backend.load()
        request = VoiceRequest(line_id=f"sample-{ch.name}", text=text, character=ch.name, language=language,
                               cast=cast)
        files = {cast.reference: self.store.assets.verified(cast.reference.rel)} if cast.reference else {}
        from .backend import JobContext

        result = backend(request, JobContext(workdir=folder, cancel=cancel or CancelToken(), files=files))
        return Path(result.files[0])

    def casting(self) -> list[tuple[str, str, VoiceCast, bool]]:
        """Every speaking character × language: (name, language, cast, chosen by the director)."""
        ctx = self.context()
        if ctx.sheet is None:
            return []
        rows = []
        for ch in ctx.sheet.characters:
            for language in self.store.settings.languages or ["en"]:
                cast = ctx.cast(ch.name, language)
                rows.append((ch.name, language, cast, cast.chosen_by == "director"))
        return rows

    def repair(self) -> list[str]:
        """Make again what a kill left undone (sidecars, animatic exports); see integrity.py."""
        return integrity.repair(self.store) if self.store.writable else []

    def refresh_staleness(self) -> list[int]:
        """Mark stale every live draft whose inputs no longer match; returns their ids."""
        newly: list[int] = []
        for step in (Step.KEYFRAMES, Step.MOTION, Step.TRANSLATE, Step.VOICE, Step.ANIMATIC):
            ctx = self.context()
            tasks, _ = plan(step, ctx)
            current = {t.target: t.deps_key for t in tasks}
            for d in self.store.drafts(step, status=LIVE):
                if current.get(d.target) != d.deps_key:
                    self.store.set_status(d.id, DraftStatus.STALE,
                                          why=f"draft {d.id}: {step.value} {d.target} stale (inputs changed)")
                    newly.append(d.id)
        return newly

    # ---- reading -----------------------------------------------------------
    def pending(self, step: Step | None = None) -> list[Draft]:
        return self.store.drafts(step, status=DraftStatus.PENDING)


def _one_line(e: BaseException) -> str:
    if is_disk_full(e):  # a job's own files found no room: what to do, not errno 28
        return str(disk_full(Path(e.filename).parent if getattr(e, "filename", None) else Path.cwd(), None))
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
