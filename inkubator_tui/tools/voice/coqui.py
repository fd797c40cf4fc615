"""Coqui TTS (coqui-tts) from the user's own model files, never by model name
(a name makes Coqui download). Two setups:

- a VITS-style model: `voice.coqui_model_path` (its .pth) and
  `voice.coqui_config_path` (its config.json; default: config.json beside the
  .pth), its speakers cast as voices;
- an XTTS folder, `voice.xtts_path` (model.pth, config.json, vocab.json), which
  clones each character's reference clip (`inkubator cast … --reference`).
  XTTS weights are under the CPML: non-commercial use only, and every line made
  with them says so in its provenance, with the consent the cast recorded.

coqui-tts imports torch and torchaudio, which take seconds and can fail on a
mismatched build, so planning (readiness, catalog) reads the config files
only, and readiness probes the import in a subprocess.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from ...config import Config
from ...pipeline.backend import (BackendError, BackendInfo, Capabilities, JobContext, Progress, Readiness,
                                 no_progress, starts_with, what_file_is)
from ...pipeline.requests import Result, VoiceRequest
from ...project.assets import weights_sha256
from ...project.models import Step
from .common import VoiceOption, base_language, delivery_of, voice_result

NAME = "coqui"
XTTS_LICENCE = "CPML (Coqui Public Model License): non-commercial use only"
VITS_LICENCE = "the licence of your model files (see its model card)"
XTTS_FILES = ("model.pth", "config.json", "vocab.json")
# The voice ids: a one-speaker model's only voice, and XTTS's clone of the character's clip.
DEFAULT_VOICE = "default"
CLONE_VOICE = "clone"
NOT_CONFIGURED_FIX = ("set voice.coqui_model_path + voice.coqui_config_path (a VITS model's files) or "
                      "voice.xtts_path (an XTTS folder); never a model name")
PROBE_TIMEOUT_S = 60


@dataclass(frozen=True)
class Setup:
    """The configured model: a VITS .pth and its config, or an XTTS folder."""

    xtts: bool
    model: Path  # the .pth, or the XTTS folder
    config: Path

    @property
    def weights(self) -> Path:
        return self.model / "model.pth" if self.xtts else self.model

    @property
    def model_id(self) -> str:
        return f"XTTS {self.model.name}" if self.xtts else self.model.name

    @property
    def licence(self) -> str:
        return XTTS_LICENCE if self.xtts else VITS_LICENCE

    def problem(self) -> str:
        """The first configured file that is not there or not what it should be (the weights a
        PyTorch checkpoint, the configs JSON), as words; '' when all are. Read from the files'
        first bytes, so doctor can say it without importing coqui-tts."""
        if self.xtts:
            if not self.model.exists():
                return f"voice.xtts_path {self.model} does not exist"
            if not self.model.is_dir():
                return f"voice.xtts_path {self.model} is not an XTTS folder ({what_file_is(self.model)})"
            gone = [name for name in XTTS_FILES if not (self.model / name).is_file()]
            if gone:
                return f"{', '.join(gone)} missing in the XTTS folder {self.model}"
            if not is_checkpoint(self.weights):
                return (f"voice.xtts_path {self.model}: model.pth is not a PyTorch checkpoint "
                        f"({what_file_is(self.weights)})")
            bad = next((f for f in (self.config, self.model / "vocab.json") if not isinstance(read_json(f), dict)),
                       None)
            return f"voice.xtts_path {self.model}: {bad.name} is not JSON ({what_file_is(bad)})" if bad else ""
        if str(self.model) == ".":
            return "voice.coqui_model_path (the model's .pth) is not set"
        if not self.model.exists():
            return f"voice.coqui_model_path {self.model} does not exist"
        if not is_checkpoint(self.model):
            return f"voice.coqui_model_path {self.model} is not a PyTorch checkpoint ({what_file_is(self.model)})"
        if not self.config.is_file():
            return f"the model's config {self.config} does not exist (voice.coqui_config_path)"
        if not isinstance(read_json(self.config), dict):
            return (f"the model's config {self.config} is not JSON ({what_file_is(self.config)}) "
                    "(voice.coqui_config_path)")
        return ""


def is_checkpoint(path: Path) -> bool:
    """What torch.save writes: a zip (torch 1.6 and later), or before that a pickle."""
    return starts_with(path, b"PK\x03\x04", b"\x80")


def setup_of(config: Config) -> Setup | None:
    """The configured Coqui model; a VITS model wins when both kinds are set (its licence is
    the user's own; XTTS is non-commercial)."""
    v = config.voice
    if v.coqui_model_path or v.coqui_config_path:
        model = Path(v.coqui_model_path).expanduser()
        cfg = Path(v.coqui_config_path).expanduser() if v.coqui_config_path else model.with_name("config.json")
        return Setup(False, model, cfg)
    if v.xtts_path:
        folder = Path(v.xtts_path).expanduser()
        return Setup(True, folder, folder / "config.json")
    return None


def _torch_version() -> str:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def _import_failure(stderr: str) -> str:
    """The error that ended a failed import, in one line: the last `…Error:` line, its message
    (continued on the next lines when the header is bare) cut at the first sentence."""
    lines = stderr.strip().splitlines()
    heads = [i for i, line in enumerate(lines) if re.match(r"^[A-Za-z_][\w.]*(Error|Exception)\b", line)]
    if not heads:
        return lines[-1].strip() if lines else "no error output"
    text = " ".join(line.strip() for line in lines[heads[-1]:] if line.strip())
    sentence = re.match(r"^.*?[.!?](?=\s|$)", text)
    return (sentence.group(0) if sentence else text)[:300]


@cache
def import_problem() -> str:
    """Why `import TTS.api` fails here ('' when it imports), probed in a fresh interpreter once
    per process: importing it in-process would load torch for a readiness check, and a
    broken torchaudio build can crash the importing process."""
    try:
        probe = subprocess.run([sys.executable, "-c", "import TTS.api"], capture_output=True, text=True,
                               timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"importing it took over {PROBE_TIMEOUT_S} s"
    except OSError as e:
        return str(e)
    return "" if probe.returncode == 0 else _import_failure(probe.stderr)


def import_fix() -> str:
    return (f"install torchaudio and torchcodec builds that match torch {_torch_version()} (CPU: pip install "
            "torchaudio torchcodec --index-url https://download.pytorch.org/whl/cpu)")


def _problem(config: Config) -> tuple[str, str] | None:
    """(what is wrong, how to fix it) for the configured files, or None when they are there."""
    setup = setup_of(config)
    if setup is None:
        return "no Coqui model configured", NOT_CONFIGURED_FIX
    problem = setup.problem()
    return (problem, _problem_fix(setup)) if problem else None


def _problem_fix(setup: Setup) -> str:
    return ("point voice.xtts_path at a folder holding " + ", ".join(XTTS_FILES) if setup.xtts
            else "point voice.coqui_model_path at your model's .pth and voice.coqui_config_path at its config.json")


@cache
def _read_json(path: str, mtime_ns: int) -> Any:
    """A Coqui JSON file; Coqui's configs may hold // comments (outside strings)."""
    text = Path(path).read_text(encoding="utf-8")
    return json.loads(re.sub(r'("(?:[^"\\]|\\.)*")|//[^\n]*', lambda m: m.group(1) or "", text))


def read_json(path: Path) -> Any:
    try:
        return _read_json(str(path), path.stat().st_mtime_ns)
    except (OSError, ValueError):
        return None


def _beside(name: Any, config_path: Path) -> Path | None:
    """A file a config names: as written, else by its name beside the config (configs keep
    the training machine's absolute paths)."""
    if isinstance(name, list):
        name = name[0] if name else None
    if not isinstance(name, str) or not name:
        return None
    path = Path(name).expanduser()
    return path if path.is_file() else config_path.with_name(path.name)


def _arg(cfg: dict, key: str) -> Any:
    """A setting from `model_args`, else the config's top level (Coqui's own lookup)."""
    args = cfg.get("model_args") or {}
    return args[key] if key in args else cfg.get(key)


def model_speakers(cfg: dict, config_path: Path) -> list[str]:
    """Speaker names by Coqui's own rule (its SpeakerManager), in its order: a model with
    speaker embeddings names them in `speakers` or a speakers file; a d-vector model in its
    d-vector file. Only JSON files are read (a .pth needs torch: its speakers are found when
    the model loads)."""
    if _arg(cfg, "use_speaker_embedding"):
        if isinstance(cfg.get("speakers"), list) and cfg["speakers"]:
            return [str(x) for x in cfg["speakers"]]
        name = _arg(cfg, "speaker_file") or _arg(cfg, "speakers_file")
    elif _arg(cfg, "use_d_vector_file"):
        name = _arg(cfg, "d_vector_file")
    else:
        return []
    path = _beside(name, config_path)
    data = read_json(path) if path and path.suffix == ".json" else None
    if not isinstance(data, dict):
        return []
    values = list(data.values())
    if values and all(isinstance(v, dict) for v in values):  # d-vectors: clip → {"name": speaker, …}
        return list(dict.fromkeys(str(v["name"]) for v in values if v.get("name")))
    return [str(x) for x in data]


def model_languages(cfg: dict, config_path: Path) -> list[str]:
    """The languages the model speaks, by Coqui's own rule (its LanguageManager): the language
    ids file of a model with language embeddings, else `languages`, else the datasets'
    languages, else `phoneme_language`, else English."""
    args = cfg.get("model_args") or {}
    path = _beside(args.get("language_ids_file"), config_path) if args.get("use_language_embedding") else None
    ids = read_json(path) if path else None
    if isinstance(ids, dict) and ids:
        return list(ids)
    if isinstance(cfg.get("languages"), list) and cfg["languages"]:
        return [str(x) for x in cfg["languages"]]
    datasets = sorted({d["language"] for d in cfg.get("datasets") or []
                       if isinstance(d, dict) and isinstance(d.get("language"), str) and d["language"]})
    if datasets:
        return datasets
    phoneme = cfg.get("phoneme_language")
    return [phoneme] if isinstance(phoneme, str) and phoneme else ["en"]


def match_language(language: str, offered: list[str]) -> str | None:
    """The model's code for `language`: the same code, else the same base ("zh" → "zh-cn")."""
    code = language.strip().lower().replace("_", "-")
    for x in offered:
        if x.lower().replace("_", "-") == code:
            return x
    return next((x for x in offered if base_language(x) == base_language(language)), None)


class CoquiVoice:
    step: ClassVar[Step] = Step.VOICE
    # XTTS needs the reference clip; a VITS model with a speaker encoder may clone one.
    capabilities: ClassVar[Capabilities] = Capabilities(inputs={"reference": "optional"})

    def __init__(self, config: Config):
        problem = _problem(config)
        if problem is not None:
            raise BackendError(f"{problem[0]}; {problem[1]}")
        self.config = config
        self.setup: Setup = setup_of(config)  # type: ignore[assignment]
        self._tts: Any = None
        self._length_scale: float | None = None  # the model's own pace, before delivery
        self._lock = threading.Lock()

    @classmethod
    def readiness(cls, config: Config) -> Readiness:
        problem = _problem(config)
        if problem is not None:
            setup = setup_of(config)
            setting = "" if setup is None else "voice.xtts_path" if setup.xtts else "voice.coqui_model_path"
            return Readiness(Step.VOICE, NAME, False, problem[0], fix=problem[1], setting=setting)
        if importlib.util.find_spec("TTS") is None:
            return Readiness(Step.VOICE, NAME, False, "coqui-tts is not installed", fix="pip install coqui-tts")
        failure = import_problem()
        if failure:
            return Readiness(Step.VOICE, NAME, False, f"coqui-tts does not import: {failure}", fix=import_fix())
        setup: Setup = setup_of(config)  # type: ignore[assignment]
        cfg = read_json(setup.config) or {}
        languages = ", ".join(model_languages(cfg, setup.config))
        if setup.xtts:
            return Readiness(Step.VOICE, NAME, True, f"Coqui XTTS {setup.model} ({languages}): clones each "
                             f"character's reference clip; {XTTS_LICENCE}")
        speakers = model_speakers(cfg, setup.config)
        return Readiness(Step.VOICE, NAME, True, f"Coqui {setup.model_id} ({languages}"
                         f"{f', {len(speakers)} speakers' if speakers else ''}), offline; {VITS_LICENCE}")

    def info(self) -> BackendInfo:
        s = self.setup
        return BackendInfo(name=NAME, model_id=s.model_id, weights_sha256=weights_sha256(s.weights),
                           licence=s.licence, version="1",
                           parameters={"speed": self.config.voice.speed, **({"non_commercial": True} if s.xtts
                                                                            else {})})

    def _config(self) -> dict:
        cfg = read_json(self.setup.config)
        return cfg if isinstance(cfg, dict) else {}

    def catalog(self, language: str) -> list[VoiceOption]:
        """The model's voices in `language`, from its config files alone (never imports coqui-tts)."""
        s, cfg = self.setup, self._config()
        spoken = match_language(language, model_languages(cfg, s.config))
        if spoken is None:
            return []
        if s.xtts:
            return [VoiceOption(NAME, CLONE_VOICE, spoken, "", "native", XTTS_LICENCE,
                                f"XTTS {s.model.name}: clones the character's reference clip (non-commercial)")]
        speakers = model_speakers(cfg, s.config)
        if not speakers:
            return [VoiceOption(NAME, DEFAULT_VOICE, spoken, "", "native", VITS_LICENCE, f"Coqui {s.model_id}")]
        return [VoiceOption(NAME, name, spoken, "", "native", VITS_LICENCE, f"Coqui {s.model_id}, speaker {name}")
                for name in speakers]

    def voices(self, language: str) -> list[str]:
        return [o.voice for o in self.catalog(language)]

    def load(self, progress: Progress = no_progress) -> None:
        """Build Coqui's TTS from the local files (a path, never a name: no download)."""
        with self._lock:
            if self._tts is not None:
                return
            progress(0.0, f"loading Coqui {self.setup.model_id}")
            try:
                import torch
                from TTS.api import TTS
            except (ImportError, OSError) as e:
                raise BackendError(f"coqui-tts does not import: {e}; {import_fix()}") from None
            want = self.config.runtime.device
            device = "cuda" if torch.cuda.is_available() and want != "cpu" else "cpu"
            if device == "cpu":
                torch.set_num_threads(self.config.runtime.threads)
            try:
                tts = TTS(model_path=str(self.setup.model), config_path=str(self.setup.config), progress_bar=False)
            except Exception as e:  # noqa: BLE001 - torch and coqui raise many kinds; the person needs one line
                said = str(e).strip().splitlines()
                raise BackendError(f"{self.setup.weights} does not load in coqui-tts "
                                   f"({said[0][:200] if said else type(e).__name__}); {_problem_fix(self.setup)}"
                                   ) from None
            self._tts = tts.to(device)
            self._length_scale = getattr(self._tts.synthesizer.tts_model, "length_scale", None)
            progress(1.0, "Coqui loaded")

    def _speaker(self, request: VoiceRequest) -> str | None:
        """The cast's speaker for a multi-speaker model (its first when none is cast)."""
        voice = request.cast.voice
        speakers = list(self._tts.speakers or []) if self._tts.is_multi_speaker else []
        if not speakers:
            if voice not in ("", DEFAULT_VOICE):
                raise BackendError(f"{self.setup.model_id} has one voice, no speaker {voice!r}; recast "
                                   f"{request.character} with `inkubator cast`")
            return None
        if voice in ("", DEFAULT_VOICE):
            return speakers[0]
        if voice not in speakers:
            raise BackendError(f"{self.setup.model_id} has no speaker {voice!r} (it has "
                               f"{', '.join(speakers[:8])}{' …' if len(speakers) > 8 else ''}); recast "
                               f"{request.character} with `inkubator cast`")
        return voice

    def __call__(self, request: VoiceRequest, ctx: JobContext) -> Result:
        import numpy as np

        ctx.cancel.check()
        s, cast = self.setup, request.cast
        who = request.character or "this character"
        if s.xtts and cast.reference is None:
            raise BackendError(f"XTTS clones a voice: give {who} a reference clip: inkubator cast {who} "
                               f"{request.language}=coqui: --reference clip.wav "
                               "--consent \"whose voice, and that they agreed\"")
        self.load()
        tts = self._tts
        spoken = list(tts.synthesizer.tts_model.language_manager.language_names)
        language = match_language(request.language, spoken)
        if language is None:
            raise BackendError(f"{s.model_id} does not speak {request.language} (it speaks {', '.join(spoken)}); "
                               f"cast {who} in {request.language} with another engine")
        delivery = delivery_of(request)
        speed = self.config.voice.speed * cast.speed * delivery.rate
        kwargs: dict[str, Any] = {}
        speaker, reference = None, None
        if s.xtts:
            reference, kwargs["speed"] = ctx.path(cast.reference), speed
        else:
            encoder = getattr(getattr(tts.synthesizer.tts_model, "speaker_manager", None), "encoder", None)
            if cast.reference is not None and encoder is not None:  # a VITS with a speaker encoder (YourTTS)
                reference = ctx.path(cast.reference)
            else:
                speaker = self._speaker(request)
        ctx.progress(0.1, f"{request.character}: {request.text[:40]}")
        # Coqui cannot be interrupted mid-line: cancel is checked before and after it speaks.
        with self._lock:
            ctx.cancel.check()
            if not s.xtts and self._length_scale is not None:  # VITS paces by length scale, not `speed`
                tts.synthesizer.tts_model.length_scale = self._length_scale / speed
            # Coqui refuses a language for a one-language model.
            wav = tts.tts(text=request.text, speaker=speaker, language=language if tts.is_multi_lingual else None,
                          speaker_wav=str(reference) if reference else None, **kwargs)
            rate = int(tts.synthesizer.output_sample_rate)
        ctx.cancel.check()
        samples = np.asarray(wav, dtype=np.float32)
        if not samples.size or float(np.max(np.abs(samples))) <= 1e-6:
            raise BackendError(f"Coqui made no sound for {request.text[:40]!r}")
        parameters: dict[str, Any] = {"speed": round(speed, 4), "speaker": speaker, "language": language,
                                      "reference": cast.reference.rel if reference else None,
                                      "weights_sha256": weights_sha256(s.weights),
                                      "unsupported": [k for k, on in (("pitch", delivery.pitch),
                                                                      ("whisper", delivery.whisper)) if on]}
        if s.xtts:
            parameters |= {"consent": cast.params.get("consent", ""), "non_commercial": True}
        return voice_result(request, ctx, samples, rate, delivery=delivery,
                            target_lufs=self.config.voice.loudness_lufs,
                            voice=CLONE_VOICE if s.xtts else (speaker or DEFAULT_VOICE),
                            model_id=s.model_id, licence=s.licence, parameters=parameters)
