"""What the voice engines share: the voices they offer for casting, and the one
way a line becomes a draft (delivery read, samples finished, provenance said)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np

from ...pipeline.backend import JobContext, VoiceOption
from ...pipeline.requests import Result, VoiceRequest
from . import audio
from .delivery import Delivery, parse

from ...project.models import base_language

__all__ = ["VoiceOption", "base_language", "delivery_of", "line_wav_name", "voice_result"]


def delivery_of(request: VoiceRequest) -> Delivery:
    """The read: the line's delivery words, then the redo note of the last rejection."""
    return parse(request.delivery, request.note)


def line_wav_name(request: VoiceRequest) -> str:
    key = hashlib.sha1(f"{request.line_id}@{request.language}".encode()).hexdigest()[:8]
    who = re.sub(r"[^A-Za-z0-9_-]+", "_", request.character or "unknown")[:40]
    return f"{key}-{who}.wav"


def voice_result(request: VoiceRequest, ctx: JobContext, samples: np.ndarray, rate: int, *,
                 delivery: Delivery, target_lufs: float, voice: str, parameters: dict[str, Any],
                 model_id: str = "", licence: str = "") -> Result:
    """Finish the engine's samples into the line's WAV and say how it was made."""
    out = ctx.workdir / line_wav_name(request)
    measured = audio.finish(samples, rate, out, target_lufs=target_lufs, gain_db=delivery.gain_db)
    return Result(
        files=[out], prompt=request.text, model_id=model_id, licence=licence,
        data=measured.record(),
        parameters={"character": request.character, "language": request.language, "voice": voice,
                    "delivery": request.delivery, **({"note": request.note} if request.note else {}),
                    "read": delivery.record(), "loudness_target_lufs": target_lufs, **parameters})
