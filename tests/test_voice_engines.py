"""The last-resort voice engines: espeak-ng (real binary, real audio) and Coqui TTS from
the user's own files (config reading and readiness everywhere; the render through Coqui's
own API where coqui-tts imports)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from inkubator_tui.config import Config, RuntimeConfig, VoiceConfig
from inkubator_tui.pipeline.backend import BackendError, CancelToken, Cancelled, JobContext
from inkubator_tui.pipeline.requests import VoiceRequest
from inkubator_tui.project.models import AssetRef, VoiceCast
from inkubator_tui.tools.voice import coqui
from inkubator_tui.tools.voice.audio import loudness
from inkubator_tui.tools.voice.coqui import CoquiVoice
from inkubator_tui.tools.voice.espeak import EspeakVoice

LINE = "The lighthouse is still burning."

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed; make test installs it (apt)")


def request(voice: str = "", **kw) -> VoiceRequest:
    fields = {"line_id": "s1-l1", "text": LINE, "character": "Mira", "language": "en", "cast": VoiceCast(voice=voice)}
    return VoiceRequest(**(fields | kw))


def render(backend, req: VoiceRequest, tmp_path, name: str = "out"):
    workdir = tmp_path / name
    workdir.mkdir()
    result = backend(req, JobContext(workdir=workdir, cancel=CancelToken()))
    samples, rate = soundfile.read(str(result.files[0]), dtype="float32")
    return result, samples, rate


def fundamental_hz(samples: np.ndarray, rate: int) -> float:
    """Median pitch of the voiced 40 ms frames, by autocorrelation (60–400 Hz)."""
    n, peak = int(0.04 * rate), float(np.max(np.abs(samples)))
    lo, hi = rate // 400, rate // 60
    found = []
    for start in range(0, len(samples) - n, n // 2):
        frame = samples[start:start + n] - samples[start:start + n].mean()
        if np.sqrt(np.mean(frame ** 2)) < 0.1 * peak:
            continue
        ac = np.correlate(frame, frame, "full")[n - 1:]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3 * ac[0]:
            found.append(rate / lag)
    return float(np.median(found))


# espeak-ng


@pytest.fixture
def espeak():
    return EspeakVoice(Config())


@needs_espeak
def test_espeak_readiness_and_info_say_robotic(espeak):
    ready = EspeakVoice.readiness(Config())
    assert ready.ready and ready.non_neural and "robotic" in ready.detail and "espeak-ng 1." in ready.detail
    info = espeak.info()
    assert info.name == "espeak" and info.non_neural and info.model_id.startswith("espeak-ng ")
    assert info.licence == "GPL-3.0-or-later (espeak-ng)"


@needs_espeak
def test_espeak_catalog_offers_distinct_robotic_voices_of_both_genders(espeak):
    options = espeak.catalog("en")
    assert len({o.voice for o in options}) >= 8
    assert {o.quality for o in options} == {"robotic"}
    assert {o.gender for o in options} == {"male", "female"}
    # alternating genders first: the first two characters cast get a man and a woman
    assert options[0].gender != options[1].gender
    assert all("(robotic)" in o.label and o.voice.count("+") == 1 for o in options)
    assert espeak.voices("en") == [o.voice for o in options]
    assert espeak.catalog("xx-nope") == []


@needs_espeak
def test_espeak_renders_a_levelled_line(espeak, tmp_path):
    result, samples, rate = render(espeak, request(), tmp_path)
    assert result.files[0].is_file() and float(np.max(np.abs(samples))) > 0.01
    assert 0.8 <= len(samples) / rate <= 4.0
    assert abs(loudness(samples, rate) - Config().voice.loudness_lufs) <= 1.0
    assert result.parameters["words_per_minute"] == 175 and result.parameters["pitch"] == 50
    assert result.parameters["voice"] == espeak.voices("en")[0]
    assert espeak.info().non_neural


@needs_espeak
def test_espeak_delivery_slower_and_whispered(espeak, tmp_path):
    _, neutral, rate = render(espeak, request(), tmp_path, "neutral")
    tired, slow, _ = render(espeak, request(note="slower and more tired"), tmp_path, "tired")
    assert len(slow) >= 1.25 * len(neutral)
    assert tired.parameters["words_per_minute"] < 175
    whisper, quiet, _ = render(espeak, request(delivery="whispers"), tmp_path, "whisper")
    assert whisper.parameters["variant"].startswith("whisper")
    assert loudness(quiet, rate) <= loudness(neutral, rate) - 6


@needs_espeak
def test_espeak_variants_sound_different(espeak, tmp_path):
    male, m1, rate = render(espeak, request("en+m1"), tmp_path, "m1")
    female, f2, _ = render(espeak, request("en+f2"), tmp_path, "f2")
    assert (male.parameters["variant"], female.parameters["variant"]) == ("m1", "f2")
    assert fundamental_hz(f2, rate) > 1.5 * fundamental_hz(m1, rate)
    # a cast may name espeak's language ("en-gb") rather than its voice file ("en")
    gb, _, _ = render(espeak, request("en-gb+f2"), tmp_path, "gb")
    assert gb.parameters["voice"] == "en+f2"


@needs_espeak
def test_espeak_speaks_a_line_that_looks_like_an_option(espeak, tmp_path):
    _, samples, rate = render(espeak, request(text="-v is not an option"), tmp_path)
    assert 0.6 <= len(samples) / rate <= 4.0


@needs_espeak
def test_espeak_refuses_unknown_voices_and_languages(espeak, tmp_path):
    ctx = JobContext(workdir=tmp_path, cancel=CancelToken())
    for bad in ("klingon+m1", "en+zz9", "en"):
        with pytest.raises(BackendError, match=r"no voice .*en\+m1"):
            espeak(request(bad), ctx)
    with pytest.raises(BackendError, match=r"'xx-nope'.*espeak-ng --voices"):
        espeak(request(language="xx-nope"), ctx)


@needs_espeak
def test_espeak_cancel(espeak, tmp_path):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        espeak(request(), JobContext(workdir=tmp_path, cancel=token))
    # cancelled while it starts: the process is killed, nothing is written
    token = CancelToken()
    with pytest.raises(Cancelled):
        espeak(request(), JobContext(workdir=tmp_path, cancel=token, emit=lambda *_: token.cancel()))
    assert list(tmp_path.iterdir()) == []


# Coqui


def coqui_config(**voice) -> Config:
    return Config(voice=VoiceConfig(**voice), runtime=RuntimeConfig(device="cpu"))


# How a torch.save checkpoint opens (a zip): all that planning reads of the weights.
CHECKPOINT = b"PK\x03\x04 weights"


def probe_import() -> str:
    """'' when coqui-tts imports in a fresh interpreter here, else its error output."""
    done = subprocess.run([sys.executable, "-c", "import TTS.api"], capture_output=True, text=True, timeout=120)
    return "" if done.returncode == 0 else done.stderr


def test_coqui_readiness_without_a_model():
    ready = CoquiVoice.readiness(coqui_config())
    assert not ready.ready and ready.detail == "no Coqui model configured"
    assert all(words in ready.fix for words in ("voice.coqui_model_path", "voice.xtts_path", "never a model name"))
    with pytest.raises(BackendError, match="no Coqui model configured"):
        CoquiVoice(coqui_config())


def test_coqui_readiness_names_a_missing_file(tmp_path):
    ready = CoquiVoice.readiness(coqui_config(coqui_model_path=str(tmp_path / "nope.pth")))
    assert not ready.ready and "nope.pth" in ready.detail
    ready = CoquiVoice.readiness(coqui_config(coqui_config_path=str(tmp_path / "config.json")))
    assert not ready.ready and ready.detail == "voice.coqui_model_path (the model's .pth) is not set"
    folder = tmp_path / "xtts"
    folder.mkdir()
    (folder / "model.pth").write_bytes(b"x")
    ready = CoquiVoice.readiness(coqui_config(xtts_path=str(folder)))
    assert not ready.ready and "config.json" in ready.detail and "vocab.json" in ready.detail


def test_coqui_readiness_probes_the_import(tmp_path):
    (tmp_path / "model.pth").write_bytes(CHECKPOINT)
    (tmp_path / "config.json").write_text(json.dumps({"model": "vits", "phoneme_language": "en"}))
    config = coqui_config(coqui_model_path=str(tmp_path / "model.pth"),
                          coqui_config_path=str(tmp_path / "config.json"))
    ready = CoquiVoice.readiness(config)
    if importlib.util.find_spec("TTS") is None:  # coqui-tts is optional: not installed by make test
        assert (ready.ready, ready.detail, ready.fix) == (False, "coqui-tts is not installed", "pip install coqui-tts")
        return
    failure = probe_import()
    if failure:
        assert not ready.ready and ready.detail.startswith("coqui-tts does not import: ")
        assert "torchaudio and torchcodec" in ready.fix and "download.pytorch.org/whl/cpu" in ready.fix
    else:
        assert ready.ready and "model.pth" in ready.detail


def test_coqui_import_failure_is_one_line():
    stderr = ('Traceback (most recent call last):\n  File "x", line 1\nImportError: \n'
              "Coqui TTS requires the PyTorch and Torchaudio libraries but they were not found in your\n"
              "environment. Check out the instructions on the installation page:\n")
    assert coqui._import_failure(stderr) == ("ImportError: Coqui TTS requires the PyTorch and Torchaudio libraries "
                                             "but they were not found in your environment.")
    assert coqui._import_failure("OSError: libc10_cuda.so: cannot open shared object file\n") == \
        "OSError: libc10_cuda.so: cannot open shared object file"


@pytest.fixture
def no_coqui_import(monkeypatch):
    """Any `import TTS` fails: what reads config files must not need it."""
    monkeypatch.setitem(sys.modules, "TTS", None)


def test_coqui_catalog_reads_speakers_without_importing(tmp_path, no_coqui_import):
    (tmp_path / "model.pth").write_bytes(CHECKPOINT)
    (tmp_path / "speakers.json").write_text(json.dumps({"p225": 0, "p231": 1, "p240": 2}))
    cfg = {"model": "vits", "use_speaker_embedding": True, "speakers_file": "/trained/elsewhere/speakers.json",
           "model_args": {"use_speaker_embedding": True}, "datasets": [{"language": "en"}]}
    (tmp_path / "config.json").write_text("// trained on VCTK\n" + json.dumps(cfg))
    backend = CoquiVoice(coqui_config(coqui_model_path=str(tmp_path / "model.pth")))
    options = backend.catalog("en-US")
    assert [o.voice for o in options] == ["p225", "p231", "p240"]
    assert {(o.engine, o.language, o.quality) for o in options} == {("coqui", "en", "native")}
    assert backend.catalog("ja") == []
    cfg |= {"speakers": ["ana", "ben"], "phoneme_language": "de", "datasets": []}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert backend.voices("de") == ["ana", "ben"] and backend.voices("en") == []
    info = backend.info()
    assert info.model_id == "model.pth" and len(info.weights_sha256) == 64 and "model card" in info.licence


def test_coqui_catalog_of_a_one_voice_model(tmp_path, no_coqui_import):
    (tmp_path / "m.pth").write_bytes(CHECKPOINT)
    (tmp_path / "config.json").write_text(json.dumps({"model": "vits", "languages": []}))
    backend = CoquiVoice(coqui_config(coqui_model_path=str(tmp_path / "m.pth")))
    assert backend.voices("en") == ["default"]  # Coqui's rule: no language said = English


@pytest.fixture
def xtts_folder(tmp_path):
    folder = tmp_path / "XTTS-v2"
    folder.mkdir()
    (folder / "model.pth").write_bytes(CHECKPOINT)
    (folder / "vocab.json").write_text("{}")
    (folder / "config.json").write_text(json.dumps({"model": "xtts", "languages": ["en", "de", "zh-cn", "ja"]}))
    return folder


def test_coqui_xtts_is_labelled_non_commercial_and_needs_a_clip(xtts_folder, tmp_path, no_coqui_import):
    backend = CoquiVoice(coqui_config(xtts_path=str(xtts_folder)))
    info = backend.info()
    assert info.model_id == "XTTS XTTS-v2" and info.licence.startswith("CPML")
    assert info.parameters["non_commercial"] is True
    assert backend.voices("zh") == ["clone"] and backend.catalog("zh")[0].language == "zh-cn"
    assert backend.catalog("fi") == []
    assert backend.capabilities.inputs == {"reference": "optional"}
    with pytest.raises(BackendError, match="XTTS clones a voice: give Mira a reference clip: "
                                           r"inkubator cast Mira en=coqui: --reference clip.wav"):
        backend(request(), JobContext(workdir=tmp_path, cancel=CancelToken()))


@pytest.fixture
def coqui_api():
    try:
        importlib.import_module("TTS.api")
    except (ImportError, OSError) as e:
        why = " ".join(str(e).split())
        pytest.skip(f"coqui-tts (optional) does not import here ({type(e).__name__}: {why}); `pip install "
                    "coqui-tts` with torchaudio and torchcodec builds that match torch enables this test")


@pytest.fixture
def tiny_vits(tmp_path, coqui_api):
    """A randomly initialised two-speaker VITS small enough to build in a second, saved the way
    Coqui's trainer saves a checkpoint."""
    import torch
    from TTS.config.shared_configs import BaseAudioConfig
    from TTS.tts.configs.vits_config import VitsArgs, VitsConfig
    from TTS.tts.models.vits import Vits

    torch.manual_seed(0)
    args = VitsArgs(hidden_channels=16, hidden_channels_ffn_text_encoder=32, num_heads_text_encoder=2,
                    num_layers_text_encoder=1, num_layers_posterior_encoder=1, num_layers_flow=1, kernel_size_flow=3,
                    resblock_kernel_sizes_decoder=[3], resblock_dilation_sizes_decoder=[[1, 3, 5]],
                    upsample_rates_decoder=[8, 8, 4], upsample_initial_channel_decoder=16,
                    upsample_kernel_sizes_decoder=[16, 16, 8], init_discriminator=False, use_sdp=False,
                    use_speaker_embedding=True, speaker_embedding_channels=8)
    config = VitsConfig(model_args=args, audio=BaseAudioConfig(sample_rate=16000, hop_length=256, win_length=1024,
                                                               fft_size=1024),
                        use_phonemes=False, text_cleaner="basic_cleaners", phoneme_language="en",
                        speakers=["ana", "ben"])
    model = Vits(config)
    folder = tmp_path / "tiny-vits"
    folder.mkdir()
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    return folder


def test_coqui_renders_through_its_api(tiny_vits, tmp_path):
    config = coqui_config(coqui_model_path=str(tiny_vits / "model.pth"),
                          coqui_config_path=str(tiny_vits / "config.json"))
    backend = CoquiVoice(config)
    assert backend.voices("en") == ["ana", "ben"]
    result, samples, rate = render(backend, request("ben", delivery="slowly"), tmp_path)
    assert rate == 16000 and samples.size
    p = result.parameters
    assert (p["speaker"], p["language"], p["reference"], p["voice"]) == ("ben", "en", None, "ben")
    assert p["speed"] == pytest.approx(0.8)
    assert backend._tts.synthesizer.tts_model.length_scale == pytest.approx(1 / 0.8)
    assert result.model_id == "model.pth" and "non_commercial" not in p
    with pytest.raises(BackendError, match="no speaker 'zed'"):
        backend(request("zed"), JobContext(workdir=tmp_path, cancel=CancelToken()))
    with pytest.raises(BackendError, match="does not speak ja"):
        backend(request(language="ja"), JobContext(workdir=tmp_path, cancel=CancelToken()))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        backend(request(), JobContext(workdir=tmp_path, cancel=token))


class FakeXtts:
    """Stands in for a loaded XTTS (coqui-tts cannot always import): records how it is called,
    so the mapping of a line to Coqui's `tts()` arguments and its provenance are checked."""

    is_multi_lingual = True

    def __init__(self, languages):
        self.calls = []
        manager = type("Languages", (), {"language_names": languages})()
        self.synthesizer = type("Synth", (), {"output_sample_rate": 24000,
                                              "tts_model": type("Model", (), {"language_manager": manager})()})()

    def tts(self, **kwargs):
        self.calls.append(kwargs)
        return list(0.3 * np.sin(np.linspace(0, 2000, 24000)))


def test_coqui_xtts_clones_the_reference_and_records_consent(xtts_folder, tmp_path):
    backend = CoquiVoice(coqui_config(xtts_path=str(xtts_folder), speed=1.25))
    backend._tts = FakeXtts(["de", "en", "ja", "zh-cn"])
    clip = AssetRef(sha256="a" * 64, ext=".wav")
    local = tmp_path / "clip.wav"
    local.write_bytes(b"RIFF")
    req = request(language="zh", delivery="quickly", cast=VoiceCast(backend="coqui", reference=clip,
                                                                    params={"consent": "signed 2024-05-01"}))
    workdir = tmp_path / "out"
    workdir.mkdir()
    result = backend(req, JobContext(workdir=workdir, cancel=CancelToken(), files={clip: local}))
    (call,) = backend._tts.calls
    assert call == {"text": LINE, "speaker": None, "language": "zh-cn", "speaker_wav": str(local),
                    "speed": pytest.approx(1.25 * 1.2)}
    p = result.parameters
    assert (p["reference"], p["consent"], p["non_commercial"], p["voice"]) == (clip.rel, "signed 2024-05-01",
                                                                                True, "clone")
    assert result.licence.startswith("CPML") and result.data["sample_rate"] == 24000
