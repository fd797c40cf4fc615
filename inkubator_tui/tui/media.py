"""Playing, opening and thumbnailing assets, for the app's workers (never the event loop)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

from ..tools.video import read_mp4, read_wav


def strip(mp4: Path, n: int = 4, width: int = 320) -> list[Image.Image]:
    """`n` frames spread over a clip, scaled to `width`."""
    frames = list(read_mp4(mp4))
    if not frames:
        return []
    picks = [frames[round(i * (len(frames) - 1) / max(1, n - 1))] for i in range(min(n, len(frames)))]
    return [f.resize((width, max(1, round(f.height * width / f.width)))) for f in picks]


def play_wav(path: Path) -> str:
    """Play a WAV on the default output; when there is none, say where the file is."""
    try:
        import sounddevice as sd

        sd.query_devices(kind="output")
    except Exception:  # noqa: BLE001 - no PortAudio, or no output device
        return f"no audio output device here; the WAV is at {path}"
    samples, rate = read_wav(path)
    sd.play(samples, rate)
    sd.wait()
    return f"played {path.name} ({len(samples) / rate:.1f}s)"


def open_path(path: Path) -> str:
    """Open a file with the system's player/viewer, or say where it is."""
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    if shutil.which(opener) is None:
        return f"no system opener ({opener}) here; the file is at {path}"
    subprocess.Popen([opener, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
    return f"opened {path}"
