"""Animatic: approved shots (motion clip, or the keyframe held) + approved voice
lines → one H.264/AAC MP4, with ffmpeg from the imageio-ffmpeg wheel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import numpy as np
from PIL import Image

from ..config import Config
from ..pipeline.backend import BackendInfo, JobContext, Progress, Readiness, no_progress
from ..pipeline.requests import AnimaticRequest, Result
from ..project.models import Step
from . import captions
from .video import read_mp4, read_wav, resample, write_mp4, write_wav

RATE = 22050
LEAD_IN_S = 0.25  # a line starts this long after its shot's cut
TAIL_S = 0.35


class Animatic:
    step: ClassVar[Step] = Step.ANIMATIC

    def __init__(self, config: Config):
        self.crf = config.animatic.crf
        self.font = config.animatic.caption_font

    @classmethod
    def readiness(cls, config: Config) -> Readiness:
        try:
            import imageio_ffmpeg

            exe = imageio_ffmpeg.get_ffmpeg_exe()
        except Exception as e:  # noqa: BLE001 - report whatever is wrong
            return Readiness(Step.ANIMATIC, "ffmpeg", False, f"no ffmpeg: {e}", fix="pip install imageio-ffmpeg")
        return Readiness(Step.ANIMATIC, "ffmpeg", True, f"H.264 + AAC via {exe.rsplit('/', 1)[-1]}")

    def info(self) -> BackendInfo:
        return BackendInfo(name="ffmpeg", model_id="imageio-ffmpeg libx264/aac", licence="",
                           non_neural=True, version="1", parameters={"crf": self.crf})

    def load(self, progress: Progress = no_progress) -> None:
        pass

    def __call__(self, request: AnimaticRequest, ctx: JobContext) -> Result:
        fps, cancel, progress = request.fps, ctx.cancel, ctx.progress
        plan = []
        for shot in request.shots:
            audio = [read_wav(ctx.path(v)) for v in shot.voices]
            talk = sum(len(a) / r for a, r in audio) + LEAD_IN_S * len(audio) + TAIL_S
            seconds = max(shot.duration_s, talk if audio else 0)
            plan.append((shot, shot.keyframe, shot.motion, audio, seconds))

        size = Image.open(ctx.path(plan[0][1])).size
        total_frames = sum(max(1, round(s * fps)) for *_, s in plan)
        track = np.zeros(int(sum(s for *_, s in plan) * RATE) + RATE, dtype=np.int32)
        cuts, cues, t = [], [], 0.0
        for shot, _, _, audio, seconds in plan:
            cuts.append({"shot": shot.number, "start_s": round(t, 3), "seconds": round(seconds, 3)})
            pos = t + LEAD_IN_S
            for k, (samples, rate) in enumerate(audio):
                s = resample(samples, rate, RATE)
                i = int(pos * RATE)
                track[i:i + len(s)] += s
                text = shot.subtitles[k] if k < len(shot.subtitles) else ""
                cues.append({"shot": shot.number, "start_s": round(pos, 3), "end_s": round(pos + len(s) / RATE, 3),
                             "text": text})
                pos += len(s) / RATE + LEAD_IN_S
            t += seconds
        wav = ctx.workdir / "voice.wav"
        write_wav(wav, np.clip(track[: int(t * RATE)], -32768, 32767), RATE)

        def frames() -> Iterator[Image.Image]:
            done = 0
            for shot, kf, motion, _, seconds in plan:
                cancel.check()
                progress(done / total_frames, f"shot {shot.number}")
                n = max(1, round(seconds * fps))
                last = None
                source = read_mp4(ctx.path(motion)) if motion else iter(())
                for j in range(n):
                    frame = next(source, None)
                    if frame is None:  # hold: the keyframe, or the move's last frame
                        frame = last or Image.open(ctx.path(kf)).convert("RGB")
                    last = frame
                    if request.burn_captions:
                        frame = captions.burn(frame, captions.active(cues, (done + j) / fps), font=self.font)
                    yield frame
                done += n

        out = ctx.workdir / "animatic.mp4"
        n = write_mp4(out, frames(), size, fps, crf=self.crf, audio=wav)
        unburnt = [c for c in cues if request.burn_captions and c["text"]
                    and captions.font_for(captions.script_language(c["text"]), self.font) is None]
        burnt = ("burnt in" if not unburnt else
                 f"not burnt for {len(unburnt)} line(s): no font here draws their script; set animatic.caption_font")
        return Result(files=[out], data={"frames": n, "fps": fps, "seconds": round(t, 3), "cuts": cuts,
                                         "cues": cues, "language": request.language},
                      parameters={"fps": fps, "width": size[0], "height": size[1], "language": request.language,
                                  **({"captions": burnt} if request.burn_captions else {})})
