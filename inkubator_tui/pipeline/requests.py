"""One typed request per step, and the typed result every backend returns.

The planner builds a request from approved project state; a backend reads
nothing else. Requests are plain data: they pickle, travel to another
process or a Ray worker, and name their inputs as stored assets by content
hash (`AssetRef`), never as paths of this machine. The executor turns each
named input into a local file before the backend runs (`JobContext.path`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..project.models import AssetRef, Movement, Shot, Step, VoiceCast

Role = Literal["start", "end"]
ROLES: tuple[Role, ...] = ("start", "end")


class Request(BaseModel):
    """What one job reads. `seed` and `note` (the director's note from the last
    rejection: "redo with a note") are set per candidate by the pipeline."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    step: ClassVar[Step]

    seed: int = Field(default=0, ge=0, lt=2**32)
    note: Annotated[str, Field(max_length=2000)] = ""

    def inputs(self) -> dict[str, AssetRef]:
        """The stored assets this job reads, by name ("start", "end", "shot 3 line 1" …)."""
        return {}


class BeatsRequest(Request):
    step: ClassVar[Step] = Step.BEATS

    notes: str


class KeyframeRequest(Request):
    """One picture of a shot: its start, or (for shots that move or change) its end."""

    step: ClassVar[Step] = Step.KEYFRAMES

    shot: Shot
    role: Role = "start"
    prompt: str
    negative_prompt: str = ""
    width: int = Field(ge=8, le=8192)
    height: int = Field(ge=8, le=8192)
    # Each character in shot and how they look, for backends that hold characters consistent.
    looks: dict[str, str] = Field(default_factory=dict)
    # Each character's own seed: the same character is drawn from the same noise in every shot.
    seeds: dict[str, int] = Field(default_factory=dict)
    # A character's approved reference picture (a keyframe of the shot that introduces them),
    # for backends that read one (`Capabilities.inputs["references"]`).
    references: dict[str, AssetRef] = Field(default_factory=dict)
    style: str = ""
    # For an end frame: the shot's approved start frame, when the backend makes ends from it
    # (`Capabilities.inputs["start"]`).
    start: AssetRef | None = None
    # A picture to start from (image-to-image) given by the person.
    init_image: AssetRef | None = None

    def inputs(self) -> dict[str, AssetRef]:
        out = {f"reference {name}": r for name, r in self.references.items()}
        if self.start:
            out["start"] = self.start
        if self.init_image:
            out["init_image"] = self.init_image
        return out


class MotionRequest(Request):
    """In-betweens for one shot from its start frame to its end frame. With no
    approved end frame (`end` is None) the backend derives one from the camera
    move and says so in its result."""

    step: ClassVar[Step] = Step.MOTION

    shot: Shot
    start: AssetRef
    end: AssetRef | None = None
    frames: int = Field(ge=1)
    fps: int = Field(ge=1, le=120)
    movement: Movement
    # A new drawing every `on` frames (animating on ones, twos or threes).
    on: Literal[1, 2, 3] = 1
    # The end keyframe is a non-neural diagram (a sketch panel of where the camera arrives), not a
    # picture to morph into: flow networks smear line drawings on flat paper.
    end_is_diagram: bool = False

    def inputs(self) -> dict[str, AssetRef]:
        return {"start": self.start, **({"end": self.end} if self.end else {})}


class TranslateRequest(Request):
    """One dialogue line into one language, as a draft for a person to approve."""

    step: ClassVar[Step] = Step.TRANSLATE

    line_id: str
    text: str
    character: str = ""
    delivery: str = ""
    source: str = "en"
    target: str
    # The lines around it, in the source language, so a reply reads in context.
    context: tuple[str, ...] = ()


class VoiceRequest(Request):
    """One dialogue line in one language, spoken by the character's cast voice."""

    step: ClassVar[Step] = Step.VOICE

    line_id: str
    text: str
    character: str
    delivery: str = ""
    language: str = "en"
    cast: VoiceCast = VoiceCast()

    def inputs(self) -> dict[str, AssetRef]:
        return {"reference": self.cast.reference} if self.cast.reference else {}


class AnimaticShot(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    number: str
    duration_s: float
    keyframe: AssetRef
    motion: AssetRef | None = None
    # The shot's approved voice lines, in script order.
    voices: tuple[AssetRef, ...] = ()
    # What each of those lines says (in the animatic's language), for subtitles.
    subtitles: tuple[str, ...] = ()


class AnimaticRequest(Request):
    step: ClassVar[Step] = Step.ANIMATIC

    fps: int = Field(ge=1, le=120)
    shots: tuple[AnimaticShot, ...]
    language: str = "en"
    # Draw each line's words into the picture while it is spoken.
    burn_captions: bool = False

    def inputs(self) -> dict[str, AssetRef]:
        out: dict[str, AssetRef] = {}
        for s in self.shots:
            out[f"shot {s.number} keyframe"] = s.keyframe
            if s.motion:
                out[f"shot {s.number} motion"] = s.motion
            out.update({f"shot {s.number} line {i + 1}": v for i, v in enumerate(s.voices)})
        return out


REQUEST_TYPES: dict[Step, type[Request]] = {t.step: t for t in
                                            (BeatsRequest, KeyframeRequest, MotionRequest, TranslateRequest,
                                             VoiceRequest, AnimaticRequest)}


class Result(BaseModel):
    """What a backend made: files in the job's workdir and what provenance needs.

    `model_id` and `licence` name the model that made *this* result when it is not
    the backend's default (one voice backend serves voices under different licences)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    files: list[Path] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    prompt: str = ""
    negative_prompt: str = ""
    steps: int | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    model_id: str = ""
    licence: str = ""
    # What the person should hear about this result, once ("line 12 of the notes: … only its first
    # 2,000 were read"); said by the pipeline, never stored with the draft.
    notices: list[str] = Field(default_factory=list)
