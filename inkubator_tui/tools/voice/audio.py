"""What every voice engine does to its raw samples before a line is a draft:
trim the silence an engine leaves at either end, bring the line to the
project's loudness (EBU R128 / ITU-R BS.1770 integrated loudness, measured
by `pyloudnorm`) plus the delivery's gain, keep the peak below -1 dBFS,
write a 16-bit WAV through `soundfile`, and say what was measured.

Normalising per line, not per engine, is what lets two engines speak in one
scene without one character shouting over the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_LUFS = -20.0
PEAK_DBFS = -1.0
# The limiter aims just under the ceiling, so 16-bit rounding never lands a sample above it.
_CEILING = 10 ** (PEAK_DBFS / 20) * 0.999
# Silence is anything this far below the line's own peak; keep a little air at the ends.
SILENCE_BELOW_PEAK_DB = 40.0
PAD_S = 0.04
# BS.1770 measures 400 ms blocks: shorter lines are measured looped to this length.
MIN_MEASURE_S = 0.5


@dataclass(frozen=True)
class Measured:
    seconds: float
    lufs: float  # integrated loudness after normalising (-inf for silence)
    peak_db: float
    trimmed_s: float  # silence cut from the ends
    gain_db: float  # gain applied to reach the level
    sample_rate: int

    def record(self) -> dict:
        return {"seconds": round(self.seconds, 3), "lufs": _r(self.lufs), "peak_db": _r(self.peak_db),
                "trimmed_s": round(self.trimmed_s, 3), "gain_db": _r(self.gain_db), "sample_rate": self.sample_rate}


def _r(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 2)


def mono_float(samples: np.ndarray) -> np.ndarray:
    """Any engine's output (int16, float, stereo) as mono float32 in [-1, 1]."""
    a = np.asarray(samples)
    if a.dtype.kind in "iu":  # scale integers first: the channel average below is float
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    if a.ndim > 1:
        a = a.mean(axis=1 if a.shape[1] <= 8 else 0)
    return np.nan_to_num(a.astype(np.float32, copy=False))


def trim(samples: np.ndarray, rate: int) -> np.ndarray:
    """Cut leading and trailing silence (relative to the line's peak), keeping PAD_S."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak <= 1e-6:
        return samples[:0]
    # Judge by 10 ms windows, so a single click does not count as speech.
    win = max(1, rate // 100)
    n = len(samples) // win
    if n == 0:
        return samples
    rms = np.sqrt(np.mean(samples[: n * win].reshape(n, win) ** 2, axis=1))
    loud = np.nonzero(rms > peak * 10 ** (-SILENCE_BELOW_PEAK_DB / 20))[0]
    if loud.size == 0:
        return samples[:0]
    pad = int(PAD_S * rate)
    start = max(0, loud[0] * win - pad)
    end = min(len(samples), (loud[-1] + 1) * win + pad)
    return samples[start:end]


def loudness(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS (-inf for silence)."""
    import pyloudnorm

    if samples.size == 0 or float(np.max(np.abs(samples))) <= 1e-6:
        return float("-inf")
    need = int(MIN_MEASURE_S * rate)
    if len(samples) < need:
        samples = np.tile(samples, need // len(samples) + 1)[:need]
    return float(pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64)))


def limit(x: np.ndarray, knee_db: float = -6.0) -> np.ndarray:
    """Soft-limit peaks above `knee_db` so nothing passes PEAK_DBFS (a tanh knee: brief
    peaks are rounded, speech below the knee is untouched)."""
    t, c = 10 ** (knee_db / 20), _CEILING
    mag = np.abs(x)
    over = mag > t
    if not over.any():
        return x
    y = x.copy()
    y[over] = np.sign(x[over]) * (t + (c - t) * np.tanh((mag[over] - t) / (c - t)))
    return y


def finish(samples: np.ndarray, rate: int, out: Path, *, target_lufs: float = DEFAULT_LUFS,
           gain_db: float = 0.0) -> Measured:
    """Trim, normalise to `target_lufs + gain_db` (peak-limited), write a 16-bit WAV."""
    import soundfile

    raw = mono_float(samples)
    cut = trim(raw, rate)
    if cut.size == 0:
        raise ValueError("the engine made silence for this line")
    before = loudness(cut, rate)
    want = target_lufs + gain_db
    gain = (want - before) if np.isfinite(before) else 0.0
    most = gain + 6.0  # never push more than 6 dB into the limiter: that would be distortion
    # A peaky voice would clip at the target level: soft-limit its peaks and measure again,
    # so it reaches the level instead of sitting under it (two passes converge within 0.2 LU).
    # Where the limiter touched nothing, the level is exactly the gain: no second measurement.
    got = before + gain
    for attempt in range(3):
        scaled = cut * 10 ** (gain / 20)
        level = limit(scaled)
        if level is scaled:
            got = before + gain
            break
        got = loudness(level, rate)
        if not np.isfinite(got) or abs(got - want) < 0.2 or attempt == 2:
            break  # `got` and `gain` describe the level written
        gain = min(most, gain + want - got)
    soundfile.write(str(out), level, rate, subtype="PCM_16")
    peak_db = 20 * np.log10(max(float(np.max(np.abs(level))), 1e-9))
    return Measured(seconds=len(level) / rate, lufs=got, peak_db=peak_db,
                    trimmed_s=(len(raw) - len(cut)) / rate, gain_db=gain, sample_rate=rate)
