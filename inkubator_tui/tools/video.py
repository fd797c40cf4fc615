"""Frame and WAV plumbing shared by the motion and animatic backends
(ffmpeg comes inside the imageio-ffmpeg wheel, so this works offline; audio
files through soundfile, so any engine's WAV — 8/16/24/32-bit, float — reads)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image


def write_mp4(path: Path, frames: Iterable[Image.Image], size: tuple[int, int], fps: int, *,
              crf: int = 18, audio: Path | None = None) -> int:
    """Encode RGB frames (resized to `size`) as H.264, with an AAC track from `audio`."""
    params = ["-crf", str(crf), "-preset", "veryfast", "-movflags", "+faststart"]
    if audio is not None:
        params += ["-shortest"]
    gen = imageio_ffmpeg.write_frames(str(path), size, fps=fps, codec="libx264", quality=None,
                                      macro_block_size=8, output_params=params, ffmpeg_log_level="error",
                                      audio_path=str(audio) if audio else None,
                                      audio_codec="aac" if audio else None)
    gen.send(None)
    n = 0
    try:
        for frame in frames:
            if frame.size != size:
                frame = frame.resize(size, Image.BICUBIC)
            gen.send(np.ascontiguousarray(np.asarray(frame.convert("RGB"))).tobytes())
            n += 1
    finally:
        gen.close()
    return n


def read_mp4(path: Path) -> Iterator[Image.Image]:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    for raw in reader:
        yield Image.frombytes("RGB", (w, h), raw)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono int16 samples and the sample rate, whatever the file's sample format."""
    import soundfile

    # Read as float: libsndfile reads a float WAV as int without scaling (all zeros).
    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    return (np.clip(mono, -1.0, 1.0) * 32767).round().astype(np.int16), rate


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    import soundfile

    soundfile.write(str(path), samples.astype(np.int16), rate, subtype="PCM_16")


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target or len(samples) == 0:
        return samples
    n = int(round(len(samples) * target / rate))
    return np.interp(np.linspace(0, len(samples) - 1, n), np.arange(len(samples)), samples).astype(np.int16)
