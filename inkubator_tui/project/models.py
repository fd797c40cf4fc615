"""Domain model (DESIGN.md §3). Pydantic types are the one shape shared by the
store, the pipeline, the agent, the CLI's JSON and the TUI."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SHOT_NUMBER_RE = re.compile(r"^[1-9][0-9]{0,3}[A-Z]?$")
ASSET_REL_RE = re.compile(r"^assets/([0-9a-f]{2})/(\1[0-9a-f]{62})(\.[a-z0-9]{1,8})?$")


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def stable_hash(obj: Any) -> str:
    """SHA-256 of a canonical JSON form: the identity of inputs and cache keys."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class Size(StrEnum):
    ECU = "ECU"
    CU = "CU"
    MCU = "MCU"
    MS = "MS"
    MWS = "MWS"
    WS = "WS"
    EWS = "EWS"
    OTS = "OTS"
    POV = "POV"
    INSERT = "INSERT"


class Angle(StrEnum):
    EYE = "eye-level"
    HIGH = "high"
    LOW = "low"
    OVERHEAD = "overhead"
    DUTCH = "dutch"
    AERIAL = "aerial"


class Movement(StrEnum):
    STATIC = "static"
    PAN = "pan"
    TILT = "tilt"
    DOLLY_IN = "dolly-in"
    DOLLY_OUT = "dolly-out"
    TRUCK = "truck"
    CRANE = "crane"
    HANDHELD = "handheld"
    ZOOM = "zoom"


class Step(StrEnum):
    """Pipeline steps in order; each arrow between them is an approval gate."""

    BEATS = "beats"
    KEYFRAMES = "keyframes"
    MOTION = "motion"
    # Each dialogue line into each further language of the project, before it is voiced.
    TRANSLATE = "translate"
    VOICE = "voice"
    ANIMATIC = "animatic"


class DraftStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    STALE = "stale"
    # An earlier version whose sibling was approved: kept for the record.
    SUPERSEDED = "superseded"


ShortText = Annotated[str, Field(max_length=2000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DialogueLine(_Model):
    id: str = ""
    # "" = the notes do not say who speaks: the agent asks (see `candidates`), never guesses.
    character: Annotated[str, Field(max_length=80)]
    text: Annotated[str, Field(min_length=1, max_length=1000)]
    # How it is said ("whispers", "shouting"): a direction for the voice step.
    delivery: Annotated[str, Field(max_length=80)] = ""
    # Who it could be when `character` is unknown, most likely first.
    candidates: list[Annotated[str, Field(max_length=80)]] = Field(default_factory=list, max_length=10)


class Shot(_Model):
    id: str = ""
    scene: int = Field(default=1, ge=1)
    number: str = "1"
    size: Size = Size.MS
    angle: Angle = Angle.EYE
    movement: Movement = Movement.STATIC
    lens: Annotated[str, Field(max_length=40)] = ""
    duration_s: float = Field(default=3.0, gt=0, le=120)
    action: ShortText = ""
    characters: list[Annotated[str, Field(max_length=80)]] = Field(default_factory=list, max_length=20)
    dialogue: list[DialogueLine] = Field(default_factory=list, max_length=40)
    image_prompt: Annotated[str, Field(max_length=400)] = ""
    seed: int = Field(default=0, ge=0, lt=2**32)
    # Directions to the crew that came with this shot ("keep it warm and quiet").
    notes: ShortText = ""
    # How this shot ends: "smash cut to white", "fade out", "dissolve" ("" = a plain cut).
    transition: Annotated[str, Field(max_length=40)] = ""
    # What the picture shows when the shot ends ("she has the letter in her hand"), when the
    # action changes it; "" = the camera move's last framing of the start picture.
    end_action: ShortText = ""
    # How a keyframe backend that draws end frames makes this shot's: "img2img" (the approved
    # start redrawn with the end action), "camera" (the start reframed as the move ends), or
    # "auto" (img2img when the action changes the picture, else camera).
    end_frame: Literal["auto", "img2img", "camera"] = "auto"
    # Fields the director's words fixed ("hold three seconds" → duration_s): the agent keeps them.
    pinned: list[Annotated[str, Field(max_length=20)]] = Field(default_factory=list, max_length=10)

    @field_validator("number")
    @classmethod
    def _number_shape(cls, v: str) -> str:
        v = v.strip().upper()
        if not SHOT_NUMBER_RE.match(v):
            raise ValueError(f"shot number {v!r} should look like 4 or 4A")
        return v


class Scene(_Model):
    number: int = Field(ge=1)
    heading: Annotated[str, Field(max_length=200)] = ""


class AssetRef(BaseModel):
    """A stored asset by content hash: what requests name as inputs, so a job means the
    same bytes on any machine (never an absolute path of this one)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    ext: Annotated[str, Field(pattern=r"^(\.[a-z0-9]{1,8})?$")] = ""

    @property
    def rel(self) -> str:
        """The path inside a project folder (`assets/ab/ab12….png`)."""
        return f"assets/{self.sha256[:2]}/{self.sha256}{self.ext}"

    @classmethod
    def of(cls, rel: str) -> AssetRef:
        m = ASSET_REL_RE.match(rel)
        if m is None:
            raise ValueError(f"{rel!r} is not a stored asset path (assets/<sha[:2]>/<sha256><ext>)")
        return cls(sha256=m.group(2), ext=m.group(3) or "")


class VoiceCast(_Model):
    """Who speaks a character's lines in one language."""

    # "" = the configured voice backend (`voice.backend`).
    backend: Annotated[str, Field(pattern=r"^([a-z][a-z0-9_.-]*)?$", max_length=64)] = ""
    # The backend's voice id (a Piper speaker, a Kokoro voice); "" = the backend's default.
    voice: Annotated[str, Field(max_length=120)] = ""
    # A clip of the actor's voice for engines that clone one (a stored asset).
    reference: AssetRef | None = None
    speed: float = Field(default=1.0, gt=0.2, le=4.0)
    # Engine parameters the backend understands (noise scale, pitch, emotion …).
    params: dict[Annotated[str, Field(max_length=40)], float | int | str | bool] = Field(default_factory=dict)
    # "default": default casting chose it (kept once lines were voiced, so adding a voice
    # later does not recast anyone); "director": a person chose it.
    chosen_by: Literal["director", "default"] = "director"

    def deps(self) -> dict:
        """What a line's voice depends on: who chose the cast does not change the read."""
        return self.model_dump(mode="json", exclude={"chosen_by"})

    @classmethod
    def parse(cls, spec: str, speed: float | None = None) -> tuple[str, VoiceCast]:
        """`en=piper:speaker` (or `en=speaker` for the configured engine, `en=kokoro:` for an
        engine's default voice) → the language and its cast; ValueError says how to write it."""
        language, sep, rest = spec.partition("=")
        if not sep or not language.strip():
            raise ValueError(f"{spec!r}: write a cast as LANG=BACKEND:VOICE, e.g. en=piper:joe or en=:p231")
        backend, colon, voice = rest.partition(":")
        if not colon:
            backend, voice = "", rest
        try:
            cast = cls(backend=backend.strip(), voice=voice.strip(), **({"speed": speed} if speed else {}))
        except ValueError as e:  # pydantic's ValidationError is a ValueError
            err = e.errors()[0] if hasattr(e, "errors") else {"loc": ("cast",), "msg": str(e)}
            raise ValueError(f"{spec!r}: {err['loc'][0]}: {err['msg']}") from None
        return language.strip(), cast

    def label(self) -> str:
        text = f"{self.backend or 'default'}:{self.voice or 'default'}"
        return text + (f" ×{self.speed:g}" if self.speed != 1.0 else "")


class Character(_Model):
    name: Annotated[str, Field(min_length=1, max_length=80)]
    look: Annotated[str, Field(max_length=400)] = ""
    # language -> who voices this character's lines in it (unset = default casting)
    voices: dict[Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")], VoiceCast] = \
        Field(default_factory=dict)
    seed: int = Field(default=0, ge=0, lt=2**32)
    # The shot whose approved start keyframe shows how this character looks ("" = the first
    # shot they are in), for keyframe backends that hold characters to a reference picture.
    reference_shot: Annotated[str, Field(max_length=8)] = ""

    @field_validator("voices", mode="before")
    @classmethod
    def _older_voice_ids(cls, v: Any) -> Any:
        """Projects saved before typed casting stored a bare voice id per language."""
        if isinstance(v, dict):
            return {k: ({"voice": c} if isinstance(c, str) else c) for k, c in v.items()}
        return v


class BeatSheet(_Model):
    """What the beats step drafts and a person approves: the whole shot list."""

    title: Annotated[str, Field(max_length=200)] = ""
    scenes: list[Scene] = Field(default_factory=list)
    characters: list[Character] = Field(default_factory=list)
    shots: list[Shot] = Field(default_factory=list)
    # Notes to the crew for the whole piece ("Music: low cello under all of this"); on approval
    # they join the project's style bible.
    notes: list[Annotated[str, Field(max_length=400)]] = Field(default_factory=list, max_length=40)

    def shot(self, ref: str) -> Shot:
        """A shot by id or by number (4A)."""
        for s in self.shots:
            if s.id == ref or s.number == ref.upper():
                return s
        raise KeyError(ref)

    def character(self, name: str) -> Character | None:
        return next((c for c in self.characters if c.name == name), None)


def base_language(code: str) -> str:
    """`en_US`, `en-us`, `EN` → `en`: casting matches languages by their base code."""
    return re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]


LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]


class ProjectSettings(_Model):
    title: Annotated[str, Field(max_length=200)] = "Untitled"
    aspect: Literal["16:9", "2.39:1", "1.85:1", "4:3", "1:1", "9:16"] = "16:9"
    fps: int = Field(default=24, ge=1, le=120)
    # The script's language first, then the languages it is dubbed into.
    languages: list[LanguageCode] = Field(default_factory=lambda: ["en"], min_length=1, max_length=12)
    # Subtitles drawn into each language's animatic (the .srt files are written either way).
    burn_captions: bool = False
    style_bible: Annotated[str, Field(max_length=4000)] = ""

    def frame_size(self, long_side: int = 640) -> tuple[int, int]:
        """Pixel size for this aspect, both sides multiples of 8."""
        w, h = {"16:9": (16, 9), "2.39:1": (239, 100), "1.85:1": (185, 100),
                "4:3": (4, 3), "1:1": (1, 1), "9:16": (9, 16)}[self.aspect]
        if w >= h:
            return long_side, max(8, round(long_side * h / w / 8) * 8)
        return max(8, round(long_side * w / h / 8) * 8), long_side


class Provenance(_Model):
    """Where an asset came from, enough to reproduce or audit it."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    tool: str
    backend: str
    model_id: str = ""
    weights_sha256: str = ""
    licence: str = ""
    # True when the backend is a labelled non-neural default (sketch board, rules).
    non_neural: bool = False
    prompt: str = ""
    negative_prompt: str = ""
    seed: int | None = None
    steps: int | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    inputs: list[str] = Field(default_factory=list)
    started_at: str = ""
    finished_at: str = ""
    approver: str = ""
    approved_at: str = ""
    # How approval was given: "interactive", "approve-all", "tui", "cli".
    approval_mode: str = ""


class Draft(_Model):
    """One generated version of one step's output for one target."""

    id: int
    step: Step
    target: str
    version: int
    status: DraftStatus
    cache_key: str
    deps_key: str
    # Draft ids this one was made from: staleness flows along these.
    upstream: list[int] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    provenance: Provenance
    note: str = ""
    created_at: str = ""


class ChatMessage(_Model):
    id: int = 0
    role: Literal["director", "agent", "system"]
    text: str
    created_at: str = ""
    # Structured payload: {"ops": [...], "plan": [...], "draft": id, ...}
    data: dict[str, Any] = Field(default_factory=dict)
