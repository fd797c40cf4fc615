"""What each step needs and depends on.

For every step and target this module answers two questions: which inputs
define the work (`deps`, hashed into `deps_key`), and is every input approved
(otherwise the target is `Blocked`, with the reason in words). Staleness is
then exact: a draft is stale when the deps of its target have changed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from ..project.models import (
    AssetRef,
    BeatSheet,
    Draft,
    DraftStatus,
    Movement,
    ProjectSettings,
    Shot,
    Step,
    VoiceCast,
    stable_hash,
)
from ..project.store import Store
from .backend import VoiceOption
from .casting import character_gender, default_casting
from .requests import (
    AnimaticRequest,
    AnimaticShot,
    KeyframeRequest,
    MotionRequest,
    Request,
    Role,
    TranslateRequest,
    VoiceRequest,
)

SHEET_TARGET = "sheet"
ANIMATIC_TARGET = "project"
END_SUFFIX = "/end"
LANGUAGE_SEP = "@"


def language_target(base: str, language: str, primary: str) -> str:
    """A target in one language: the plain target in the script's own language (as before
    dubbing existed), `<target>@<lang>` in each further one."""
    return base if language == primary else f"{base}{LANGUAGE_SEP}{language}"


def language_of(target: str, primary: str) -> str:
    return target.rpartition(LANGUAGE_SEP)[2] if LANGUAGE_SEP in target else primary


def role_target(shot_id: str, role: Role) -> str:
    """The draft target of a shot's keyframe in one role: the shot id for its start
    (as before roles existed), `<id>/end` for its end."""
    return shot_id + END_SUFFIX if role == "end" else shot_id


def role_of(target: str) -> Role:
    return "end" if target.endswith(END_SUFFIX) else "start"


@dataclass
class Task:
    step: Step
    target: str
    label: str
    deps: dict
    # What the backend reads; the pipeline sets its seed and note per candidate.
    request: Request | None = None
    seed: int = 0
    # The backend by name for this task ("" = the step's configured one): a cast names its engine.
    backend: str = ""
    upstream: list[Draft] = field(default_factory=list)

    @property
    def deps_key(self) -> str:
        return stable_hash({"step": self.step.value, **self.deps})
@dataclass
class Blocked:
    step: Step
    target: str
    label: str
    reason: str


class Context:
    """A read-only view of the project that planning works from, and what the
    configured backends ask of it."""

    def __init__(self, store: Store, enabled: set[Step] | None = None, *, end_frames: str = "",
                 voices: list[str] | None = None, long_side: int = 640,
                 keyframe_inputs: dict[str, str] | None = None, on: int = 1,
                 pools: dict[str, list[VoiceOption]] | None = None):
        self.settings: ProjectSettings = store.settings
        self.sheet: BeatSheet | None = store.sheet()
        # Steps that have a backend; the animatic waits only on those.
        self.enabled = set(Step) if enabled is None else enabled
        # Whether the motion backend reads an end frame: "required", "optional" or "" (it does not).
        self.end_frames = end_frames if Step.MOTION in self.enabled else ""
        # Voices default casting hands out, per language: the configured engine's first, then
        # every ready engine's, native before accented before robotic (`Pipeline.voice_pools`).
        # `voices` alone is the configured engine's list for every language.
        self.pools = dict(pools or {})
        self.voices = list(voices or [])
        self.long_side = long_side
        # What the keyframe backend reads besides the shot: "start" (end frames are made from the
        # approved start frame), "references" (characters' reference pictures); each "required"
        # or "optional".
        self.keyframe_inputs = dict(keyframe_inputs or {})
        # Motion animated on ones, twos or threes (`motion.on`).
        self.on = on
        self._speaking = list(dict.fromkeys(line.character for shot in (self.sheet.shots if self.sheet else [])
                                            for line in shot.dialogue if line.character))
        self._defaults: dict[str, dict[str, VoiceCast]] = {}
        self._by_target: dict[tuple[Step, str], list[Draft]] = {}
        for d in store.drafts():
            self._by_target.setdefault((d.step, d.target), []).append(d)

    def drafts(self, step: Step, target: str) -> list[Draft]:
        return self._by_target.get((step, target), [])

    def approved(self, step: Step, target: str) -> Draft | None:
        return next((d for d in reversed(self.drafts(step, target)) if d.status == DraftStatus.APPROVED), None)

    def waiting_words(self, step: Step, target: str) -> str:
        ds = self.drafts(step, target)
        pending = [d for d in ds if d.status == DraftStatus.PENDING]
        if pending:
            return f"{step.value} draft {', '.join(str(d.id) for d in pending)} awaits approval"
        if ds and ds[-1].status == DraftStatus.STALE:
            return f"{step.value} is stale (its inputs changed); run it again"
        if ds and ds[-1].status == DraftStatus.REJECTED:
            return f"{step.value} was rejected; run it again for a new version"
        return f"{step.value} not made yet"


    def roles(self, shot: Shot) -> list[Role]:
        """The keyframes a shot needs: its start, and an end when the motion backend
        reads one and the shot moves or its action changes the picture (always, when
        the backend requires it)."""
        if self.end_frames == "required":
            return ["start", "end"]
        changes = shot.movement not in (Movement.STATIC, Movement.HANDHELD) or bool(shot.end_action.strip())
        return ["start", "end"] if self.end_frames == "optional" and changes else ["start"]

    def reference_shot(self, character: str) -> Shot | None:
        """The shot whose approved start frame shows how `character` looks: the director's
        choice, else the first shot they are in."""
        if self.sheet is None:
            return None
        ch = self.sheet.character(character)
        if ch is not None and ch.reference_shot:
            try:
                return self.sheet.shot(ch.reference_shot)
            except KeyError:
                pass
        return next((s for s in self.sheet.shots if character in s.characters), None)

    def character_seed(self, name: str) -> int:
        ch = self.sheet.character(name) if self.sheet else None
        return ch.seed if ch is not None and ch.seed else zlib.crc32(name.encode())

    @property
    def primary(self) -> str:
        """The script's own language."""
        return (self.settings.languages or ["en"])[0]

    def cast(self, character: str, language: str) -> VoiceCast:
        """Who voices `character` in `language`: the director's casting (or a default kept
        when lines were voiced), else default casting over the language's voice pool."""
        sheet = self.sheet
        ch = sheet.character(character) if sheet else None
        if ch is not None and language in ch.voices:
            return ch.voices[language]
        if language not in self._defaults:
            self._defaults[language] = self._default_casts(language)
        return self._defaults[language].get(character, VoiceCast(chosen_by="default"))

    def _default_casts(self, language: str) -> dict[str, VoiceCast]:
        pool = self.pools.get(language)
        if pool is None:
            pool = [VoiceOption("", v, language) for v in self.voices]
        sheet = self.sheet
        kept = {(c.voices[language].backend, c.voices[language].voice) for c in (sheet.characters if sheet else [])
                if language in c.voices}
        uncast = [n for n in self._speaking if not (sheet and sheet.character(n) and language in
                                                     sheet.character(n).voices)]
        genders = {n: character_gender(sheet.character(n) if sheet else None, n) for n in uncast}
        picks = default_casting(uncast, genders, pool, taken=kept)
        return {n: VoiceCast(backend=o.engine, voice=o.voice, chosen_by="default") for n, o in picks.items()}


def line_label(shot: Shot, index: int) -> str:
    return f"shot {shot.number} line {index + 1}"


def keyframe_prompt(shot: Shot, role: Role) -> str:
    """What the picture shows: the shot's image prompt (or its action) at the start;
    at the end, the end of the action, or where the camera move arrives."""
    base = shot.image_prompt or shot.action
    if role == "start":
        return base
    if shot.end_action.strip():
        return shot.end_action.strip()
    return f"{base} (end of the {shot.movement.value})" if base else f"end of the {shot.movement.value}"


def ref(draft: Draft) -> AssetRef:
    return AssetRef.of(draft.files[0])


def plan(step: Step, ctx: Context) -> tuple[list[Task], list[Blocked]]:
    """The work `step` could do now, and what is blocked and why."""
    if step == Step.BEATS:
        raise ValueError("beats are planned from notes, not from the project")
    sheet = ctx.sheet
    if sheet is None:
        return [], [Blocked(step, SHEET_TARGET, "beat sheet", "beats not approved yet")]
    tasks: list[Task] = []
    blocked: list[Blocked] = []
    s = ctx.settings

    if step == Step.KEYFRAMES:
        w, h = s.frame_size(ctx.long_side)
        wants = ctx.keyframe_inputs
        for shot in sheet.shots:
            looks = {c: (sheet.character(c).look if sheet.character(c) else "") for c in shot.characters}
            seeds = {c: ctx.character_seed(c) for c in shot.characters}
            framing = shot.model_dump(mode="json", exclude={"id", "dialogue", "notes", "duration_s", "end_action",
                                                            "end_frame"})
            references, waiting, upstream = {}, [], []
            for c in shot.characters if "references" in wants else ():
                introduces = ctx.reference_shot(c)
                if introduces is None or introduces.id == shot.id:
                    continue  # this shot shows them first: it sets their look
                d = ctx.approved(Step.KEYFRAMES, introduces.id)
                if d is not None:
                    references[c] = ref(d)
                    upstream.append(d)
                elif wants["references"] == "required":
                    waiting.append(f"drawn after {c}'s reference, shot {introduces.number}, is approved "
                                   f"({ctx.waiting_words(Step.KEYFRAMES, introduces.id)})")
            # Keys are added only when set, so projects made before they existed stay fresh.
            base = {"shot": framing, "looks": looks, "style": s.style_bible, "aspect": s.aspect,
                    **({"references": {c: r.sha256 for c, r in references.items()}} if references else {})}
            for role in ctx.roles(shot):
                label = f"shot {shot.number}" + (" end" if role == "end" else "")
                target = role_target(shot.id, role)
                deps, start, task_upstream = dict(base), None, list(upstream)
                if role == "end":  # the end frame also depends on how the shot ends
                    deps.update({"role": "end", "end_action": shot.end_action,
                                 **({"end_frame": shot.end_frame} if shot.end_frame != "auto" else {})})
                    if "start" in wants:
                        d = ctx.approved(Step.KEYFRAMES, shot.id)
                        if d is None:
                            if wants["start"] == "required":
                                blocked.append(Blocked(step, target, label, "made from the approved start frame; "
                                                       + ctx.waiting_words(Step.KEYFRAMES, shot.id)))
                                continue
                        else:
                            start, deps["start"] = ref(d), d.id
                            task_upstream.append(d)
                if waiting:
                    blocked.append(Blocked(step, target, label, "; ".join(waiting)))
                    continue
                request = KeyframeRequest(shot=shot, role=role, prompt=keyframe_prompt(shot, role), width=w,
                                          height=h, looks=looks, seeds=seeds, references=references,
                                          style=s.style_bible, start=start)
                tasks.append(Task(step, target, label, deps, request, seed=shot.seed, upstream=task_upstream))

    elif step == Step.MOTION:
        for shot in sheet.shots:
            frames: dict[str, Draft] = {}
            waiting = []
            for role in ctx.roles(shot):
                target = role_target(shot.id, role)
                kf = ctx.approved(Step.KEYFRAMES, target)
                if kf is None:
                    waiting.append(("end " if role == "end" else "") + ctx.waiting_words(Step.KEYFRAMES, target))
                else:
                    frames[role] = kf
            if waiting:
                blocked.append(Blocked(step, shot.id, f"shot {shot.number}", "; ".join(waiting)))
                continue
            start, end = frames["start"], frames.get("end")
            deps = {"keyframe": start.id, "movement": shot.movement.value, "duration_s": shot.duration_s,
                    "fps": s.fps, "aspect": s.aspect}
            if end is not None:
                deps["end"] = end.id
            if ctx.on != 1:  # on ones adds nothing, so clips made before `motion.on` existed stay current
                deps["on"] = ctx.on
            request = MotionRequest(shot=shot, start=ref(start), end=ref(end) if end else None,
                                    frames=max(1, round(shot.duration_s * s.fps)), fps=s.fps,
                                    movement=shot.movement, on=ctx.on,
                                    end_is_diagram=bool(end and end.provenance.non_neural))
            tasks.append(Task(step, shot.id, f"shot {shot.number}", deps, request, seed=shot.seed,
                              upstream=[start, *([end] if end else [])]))

    elif step == Step.TRANSLATE:
        lines = [(shot, i, line) for shot in sheet.shots for i, line in enumerate(shot.dialogue)]
        for n, (shot, i, line) in enumerate(lines):
            around = tuple(f"{ln.character}: {ln.text}" for _, _, ln in lines[max(0, n - 2):n + 3] if ln is not line)
            for language in s.languages[1:]:
                deps = {"text": line.text, "character": line.character, "delivery": line.delivery,
                        "source": ctx.primary, "language": language}
                request = TranslateRequest(line_id=line.id, text=line.text, character=line.character,
                                           delivery=line.delivery, source=ctx.primary, target=language,
                                           context=around)
                tasks.append(Task(step, language_target(line.id, language, ""), f"{line_label(shot, i)} ({language})",
                                  deps, request, seed=shot.seed))

    elif step == Step.VOICE:
        for language in s.languages:
            for shot in sheet.shots:
                for i, line in enumerate(shot.dialogue):
                    target = language_target(line.id, language, ctx.primary)
                    label = line_label(shot, i) + ("" if language == ctx.primary else f" ({language})")
                    text, upstream = line.text, []
                    if language != ctx.primary:
                        tr = ctx.approved(Step.TRANSLATE, language_target(line.id, language, ""))
                        if tr is None:
                            blocked.append(Blocked(step, target, label, translation_waiting(ctx, line.id, language)))
                            continue
                        text, upstream = tr.data["text"], [tr]
                    cast = ctx.cast(line.character, language)
                    deps = {"text": text, "character": line.character, "delivery": line.delivery,
                            "cast": cast.deps(), "language": language}
                    request = VoiceRequest(line_id=line.id, text=text, character=line.character,
                                           delivery=line.delivery, language=language, cast=cast)
                    tasks.append(Task(step, target, label, deps, request, seed=shot.seed, backend=cast.backend,
                                      upstream=upstream))

    elif step == Step.ANIMATIC:
        for language in s.languages:
            _plan_animatic(ctx, language, tasks, blocked)
    return tasks, blocked


def translation_waiting(ctx: Context, line_id: str, language: str) -> str:
    target = language_target(line_id, language, "")
    if ctx.drafts(Step.TRANSLATE, target) or Step.TRANSLATE in ctx.enabled:
        return f"its {language} translation: " + ctx.waiting_words(Step.TRANSLATE, target)
    return f"waits for its {language} translation (type it: inkubator translate, or /translate in the app)"


def _plan_animatic(ctx: Context, language: str, tasks: list[Task], blocked: list[Blocked]) -> None:
    """One animatic per language: the same pictures, that language's approved lines."""
    sheet, s = ctx.sheet, ctx.settings
    step = Step.ANIMATIC
    shots, upstream, missing, cuts, untranslated = [], [], [], [], 0
    for shot in sheet.shots:
        kf = ctx.approved(Step.KEYFRAMES, shot.id)
        mo = ctx.approved(Step.MOTION, shot.id) if (Step.MOTION in ctx.enabled) else None
        if kf is None:
            missing.append(f"shot {shot.number}: {ctx.waiting_words(Step.KEYFRAMES, shot.id)}")
        if (Step.MOTION in ctx.enabled) and mo is None:
            missing.append(f"shot {shot.number}: {ctx.waiting_words(Step.MOTION, shot.id)}")
        voices = []
        for i, line in enumerate(shot.dialogue if Step.VOICE in ctx.enabled else []):
            target = language_target(line.id, language, ctx.primary)
            v = ctx.approved(Step.VOICE, target)
            if v is not None:
                voices.append(v)
            elif language != ctx.primary and not ctx.approved(Step.TRANSLATE, language_target(line.id, language, "")):
                untranslated += 1
            else:
                missing.append(f"{line_label(shot, i)}: {ctx.waiting_words(Step.VOICE, target)}")
        upstream += [d for d in (kf, mo, *voices) if d is not None]
        shots.append({"id": shot.id, "number": shot.number, "duration_s": shot.duration_s,
                      "keyframe": kf.id if kf else None, "motion": mo.id if mo else None,
                      "voice": [v.id for v in voices]})
        if kf is not None:
            cuts.append(AnimaticShot(number=shot.number, duration_s=shot.duration_s, keyframe=ref(kf),
                                     motion=ref(mo) if mo else None, voices=tuple(ref(v) for v in voices),
                                     subtitles=tuple(v.provenance.prompt for v in voices)))
    label = "animatic" + ("" if language == ctx.primary else f" ({language})")
    target = language_target(ANIMATIC_TARGET, language, ctx.primary)
    if untranslated:
        missing.insert(0, f"{untranslated} line(s) wait for their {language} translation")
    if missing:
        blocked.append(Blocked(step, target, label, "; ".join(missing)))
        return
    # Keys are added only when set, so animatics made before dubbing existed stay current.
    deps = {"shots": shots, "fps": s.fps, "aspect": s.aspect,
            **({"language": language} if language != ctx.primary else {}),
            **({"captions": True} if s.burn_captions else {})}
    tasks.append(Task(step, target, label, deps,
                      AnimaticRequest(fps=s.fps, shots=tuple(cuts), language=language, burn_captions=s.burn_captions),
                      upstream=upstream))
