"""espeak-ng: formant synthesis, the voice engine of last resort. It speaks about a
hundred languages with no model files at all, but it sounds robotic, and every
voice it offers is labelled so when casting.

One espeak language voice becomes eight distinct voices through espeak's
variants (`en-us+m3`, `en-us+f2`: pitch, formants, roughness). espeak-ng runs as
a subprocess per line: the text goes in through a file (never a shell, never
argv, so a line starting with "-" is spoken, not read as an option), and a
cancel kills the process.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import ClassVar

from ...config import Config
from ...pipeline.backend import (BackendError, BackendInfo, Cancelled, JobContext, Progress, Readiness,
                                 no_progress)
from ...pipeline.requests import Result, VoiceRequest
from ...project.models import Step
from .common import VoiceOption, delivery_of, voice_result

NAME = "espeak"
LICENCE = "GPL-3.0-or-later (espeak-ng)"
FIX = "apt install espeak-ng (make run installs it)"
# Variants in casting order: alternating gender and far-apart pitch/formant settings, so the
# first few characters cast get the most distinct voices.
VARIANTS = ("m1", "f1", "m3", "f3", "m2", "f2", "m4", "f4")
GENDER = {"m": "male", "f": "female"}
# espeak-ng's default rate (words a minute) and the range it speaks intelligibly.
WORDS_PER_MINUTE = 175
WPM_RANGE = (80, 450)
# `-p` pitch: 0..99, 50 = the voice's own; a semitone of delivery pitch moves it this much.
PITCH_DEFAULT, PITCH_PER_SEMITONE = 50, 8
LIST_TIMEOUT_S = 20
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8})*$")
# A row of `espeak-ng --voices=LANG`: Pty, Language, Age/Gender, VoiceName, File, Other Languages.
VOICE_ROW = re.compile(r"^\s*\d+\s+(?P<language>\S+)\s+\S+\s+(?P<name>.+?)\s+(?P<file>\S+/\S+)(?:\s+.*)?$")


def binary() -> str | None:
    return shutil.which("espeak-ng")


@cache
def version(program: str) -> str:
    """"1.51" from `eSpeak NG text-to-speech: 1.51  Data at: …`."""
    try:
        out = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=LIST_TIMEOUT_S).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    found = re.search(r"text-to-speech:\s*(\S+)", out)
    return found.group(1) if found else "?"


@cache
def language_voice(program: str, language: str) -> tuple[str, str]:
    """espeak's own voice for `language` as (voice id, its language): "en" → ("en", "en-gb"),
    "en_US" → ("en-us", "en-us"), "zh" → ("cmn", "cmn"); ("", "") when it has none.

    The id is the voice file's name: only that takes a variant (`-v en-gb+f2` silently
    drops the "+f2"; `-v en+f2` does not). MBROLA voices (they need separate data) and
    variants are skipped; an exact language match wins, else espeak's own priority order."""
    code = language.strip().lower().replace("_", "-")
    if not LANGUAGE_CODE.match(code):
        return "", ""
    try:
        out = subprocess.run([program, f"--voices={code}"], capture_output=True, text=True,
                             timeout=LIST_TIMEOUT_S).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "", ""
    rows = [m for m in map(VOICE_ROW.match, out.splitlines()[1:]) if m]
    usable = [(m["file"].rsplit("/", 1)[-1].lower(), m["language"]) for m in rows
              if not m["file"].startswith(("mb/", "!v/"))]
    exact = [v for v in usable if code in v]
    return (exact or usable or [("", "")])[0]


def _variant_words(variant: str) -> tuple[str, str]:
    """"f2" → ("female", "female 2")."""
    gender = GENDER[variant[0]]
    return gender, f"{gender} {variant[1:]}"


class EspeakVoice:
    step: ClassVar[Step] = Step.VOICE

    def __init__(self, config: Config):
        program = binary()
        if program is None:
            raise BackendError(f"espeak-ng is not installed; {FIX}")
        self.program = program
        self.speed = config.voice.speed
        self.loudness_lufs = config.voice.loudness_lufs

    @classmethod
    def readiness(cls, config: Config) -> Readiness:
        program = binary()
        if program is None:
            return Readiness(Step.VOICE, NAME, False, "espeak-ng is not installed", fix=FIX, non_neural=True)
        return Readiness(Step.VOICE, NAME, True,
                         f"espeak-ng {version(program)}: formant synthesis, robotic — a last resort",
                         non_neural=True)

    def info(self) -> BackendInfo:
        return BackendInfo(name=NAME, model_id=f"espeak-ng {version(self.program)}", licence=LICENCE,
                           non_neural=True, version="1", parameters={"speed": self.speed})

    def load(self, progress: Progress = no_progress) -> None:
        """Nothing to load: each line runs espeak-ng on its own."""

    def catalog(self, language: str) -> list[VoiceOption]:
        """espeak's voice for `language` in each variant, most distinct first ([] when it has none)."""
        voice, spoken = language_voice(self.program, language)
        if not voice:
            return []
        out = []
        for variant in VARIANTS:
            gender, words = _variant_words(variant)
            out.append(VoiceOption(NAME, f"{voice}+{variant}", spoken, gender, "robotic", LICENCE,
                                   f"espeak-ng {spoken}, {words} (robotic)"))
        return out

    def voices(self, language: str) -> list[str]:
        return [o.voice for o in self.catalog(language)]

    def _voice(self, request: VoiceRequest) -> str:
        """The cast voice as espeak takes it, or the first voice for the line's language. A cast
        may name any espeak language with a variant of ours: "en-gb+f2" is taken as "en+f2"."""
        voice = request.cast.voice
        if not voice:
            offered = self.voices(request.language)
            if not offered:
                raise BackendError(f"espeak-ng has no voice for {request.language!r}; `espeak-ng --voices` "
                                   "lists the languages it speaks")
            return offered[0]
        base, _, variant = voice.partition("+")
        found, _ = language_voice(self.program, base)
        if found and variant in VARIANTS:
            return f"{found}+{variant}"
        some = ", ".join((self.voices(request.language) or self.voices("en"))[:4])
        raise BackendError(f"espeak-ng has no voice {voice!r} (voices look like {some}: a language `espeak-ng "
                           f"--voices` lists, + one of {', '.join(VARIANTS)}); recast "
                           f"{request.character or 'the character'} with `inkubator cast`")

    def __call__(self, request: VoiceRequest, ctx: JobContext) -> Result:
        import soundfile

        ctx.cancel.check()
        voice = self._voice(request)
        delivery = delivery_of(request)
        base, _, variant = voice.partition("+")
        if delivery.whisper:  # espeak's whisper voices; whisperf keeps a female cast female
            variant = "whisperf" if variant.startswith("f") else "whisper"
        wpm = round(WORDS_PER_MINUTE * self.speed * request.cast.speed * delivery.rate)
        wpm = max(WPM_RANGE[0], min(WPM_RANGE[1], wpm))
        pitch = round(max(0, min(99, PITCH_DEFAULT + delivery.pitch * PITCH_PER_SEMITONE)))
        ctx.progress(0.1, f"{request.character}: {request.text[:40]}")
        with tempfile.TemporaryDirectory(prefix="inkubator-espeak-") as tmp:
            text, wav = Path(tmp) / "line.txt", Path(tmp) / "line.wav"
            text.write_text(request.text, encoding="utf-8")
            # -b 1: the text file is UTF-8.
            argv = [self.program, "-v", f"{base}+{variant}", "-s", str(wpm), "-p", str(pitch), "-b", "1",
                    "-w", str(wav), "-f", str(text)]
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True, errors="replace")
            unregister = ctx.cancel.on_cancel(proc.kill)
            try:
                _, err = proc.communicate()
            finally:
                unregister()
            if ctx.cancel.cancelled:
                raise Cancelled("cancelled")
            if proc.returncode != 0 or not wav.is_file():
                first = next((line for line in (err or "").splitlines() if line.strip()), "no message")
                raise BackendError(f"espeak-ng failed (exit {proc.returncode}) for {voice}: {first}")
            samples, rate = soundfile.read(str(wav), dtype="float32")
        if not samples.size or float(abs(samples).max()) <= 1e-6:
            raise BackendError(f"espeak-ng made no sound for {request.text[:40]!r} (nothing it can pronounce)")
        ctx.progress(0.9, "levelling")
        return voice_result(request, ctx, samples, rate, delivery=delivery, target_lufs=self.loudness_lufs,
                            voice=voice, parameters={"words_per_minute": wpm, "pitch": pitch, "variant": variant})
