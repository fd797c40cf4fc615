"""The approved shots as an editor's timeline: OpenTimelineIO, a CMX 3600 EDL, and
Final Cut Pro 7 XML, so the cut continues in Resolve, Premiere, Avid or Nuke Studio.

One function (`build_timeline`) lays the project out once; each format writes that
timeline through an OpenTimelineIO adapter, simplified where the format cannot say
everything. The layout:

- a video track "Picture": one item per shot in script order, each exactly as long as
  the approved animatic cuts it (`ctx.timing()`, `round(seconds × fps)` frames, shots
  end to end as the animatic renders them). The item is the shot's approved clip
  (`media/shot-4A.mp4`), else its approved keyframe held as a still
  (`media/shot-4A.png`), else a Gap: the shot keeps its place and length either way.
  A marker at the head of each shot carries its number and its fields.
- one audio track per language that has voiced lines, "Dialogue (en)", each line at the
  time the animatic plays it (`VoiceClip.start_s`), Gaps between.

Holds. When the animatic runs a shot longer than its clip (the lines need the time), the
animatic shows the clip's last frame for the rest. The timeline says the same with a
second, still clip: that last frame, `media/shot-4A-hold.png` (made and signed by media.py). No clip
ever asks for more of its media than the media has, and the still needs no freeze-frame
effect, which the EDL and FCP XML adapters handle differently (or not at all).

Paths. `.otio` and `.edl` name media relative to the file (`media/shot-4A.mp4`), so the
whole `exports/` folder can move or go to another machine. FCP 7 XML names media by
`<pathurl>`, which Premiere and Resolve read as an absolute `file://localhost/…` URL
(a relative one is reported offline in Premiere), so that format alone gets absolute
URLs; after moving `exports/`, relink once in the editor (it finds the rest by name).

Start timecode 01:00:00:00 in all three: what Avid, Premiere and Resolve sequences start
at, so an EDL or XML from here lines up with the rest of an editor's project.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio

from ..project.assets import atomic_write_bytes
from ..project.models import Draft, Shot
from ..project.notes_file import without_controls
from .base import ExportContext, ExportUnavailable
from .media import MediaIndex, ShotMedia, collect_media

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange
KEY = "inkubator"  # our metadata namespace on every OTIO object we make
START_HOUR = 1  # programme start 01:00:00:00
# Marker colours by how far a shot has come: a clip, a still keyframe, nothing yet.
COLOURS = {"clip": otio.schema.MarkerColor.GREEN, "keyframe": otio.schema.MarkerColor.YELLOW,
           None: otio.schema.MarkerColor.RED}


class OtioExporter:
    name = "otio"
    filename = "timeline.otio"
    label = "OpenTimelineIO timeline: each shot's clip or keyframe, dialogue per language, shot markers"
    opens_in = "DaVinci Resolve 18.5+, OpenRV, Nuke Studio (OTIO import), otioview"

    def export(self, ctx: ExportContext, out: Path) -> list[Path]:
        tl = build_timeline(ctx, out)
        atomic_write_bytes(out, otio.adapters.write_to_string(tl, "otio_json").encode())
        return [out]


class EdlExporter:
    """CMX 3600: one video track, nothing else. The adapter writes only the first track
    (audio tracks are dropped, more than one video track is refused), so the EDL is the
    picture cut alone; the dialogue is in the .otio and .xml. Each event names its media by
    file name (`* FROM CLIP NAME:  shot-4A.mp4`, what Resolve's and Avid's conform match)
    and path (`* FROM CLIP: media/shot-4A.mp4`), with an 8-character reel (`SH4A`; `SH4AK`
    a keyframe still, `SH4AH` a hold) and a `* LOC:` locator (record timecode, Avid's
    reading) with the shot number. Premiere names events from an EDL's FROM comments
    UNKNOWN: Premiere users take the FCP 7 XML."""

    name = "edl"
    filename = "timeline.edl"
    label = "CMX 3600 EDL of the picture cut (one video track, reels SH<shot>)"
    opens_in = "any NLE: Avid, Premiere, Resolve (File → Import → Timeline)"

    def export(self, ctx: ExportContext, out: Path) -> list[Path]:
        _require_adapter("cmx_3600", "otio-cmx3600-adapter")
        tl = _for_edl(build_timeline(ctx, out))
        text = otio.adapters.write_to_string(tl, "cmx_3600", rate=ctx.settings.fps, style="avid")
        head, sep, rest = text.partition("\n\n")  # the header: TITLE, then the timecode mode
        atomic_write_bytes(out, (f"{head}\nFCM: NON-DROP FRAME{sep}{rest}" if sep else text).encode())
        return [out]


class FcpXmlExporter:
    """Final Cut Pro 7 XML (xmeml): picture, one audio track per language, shot markers
    with a readable comment. Media by absolute `file://localhost/` URL (see the module
    docstring), and the sequence's frame size given, or Premiere makes a 720×480 one."""

    name = "fcpxml"
    filename = "timeline.xml"
    label = "Final Cut Pro 7 XML: picture, dialogue per language, shot markers"
    opens_in = "Premiere Pro, DaVinci Resolve, Final Cut Pro 7"

    def export(self, ctx: ExportContext, out: Path) -> list[Path]:
        _require_adapter("fcp_xml", "otio-fcp-adapter")
        tl = _for_fcp(build_timeline(ctx, out, url=file_url))
        atomic_write_bytes(out, otio.adapters.write_to_string(tl, "fcp_xml").encode())
        return [out]


def file_url(path: Path) -> str:
    """An absolute `file://localhost/…` URL, the form Premiere writes in `<pathurl>`."""
    return "file://localhost" + path.resolve().as_uri()[len("file://"):]


def build_timeline(ctx: ExportContext, out: Path, url: Callable[[Path], str] | None = None) -> otio.schema.Timeline:
    """The project's timeline (see the module docstring). `url` names a media file;
    by default its path relative to `out`'s folder."""
    sheet = ctx.sheet
    if not any(ctx.keyframe(s) or ctx.motion(s) for s in sheet.shots):
        raise ExportUnavailable("approve keyframes first: a timeline needs at least one shot's picture")
    url = url or (lambda p: ctx.relative(p, out))
    fps = ctx.settings.fps
    media = collect_media(ctx)
    tl = otio.schema.Timeline(name=ctx.title, global_start_time=RT(START_HOUR * 3600 * fps, fps))
    tl.metadata[KEY] = {"project": without_controls(ctx.settings.title), "fps": fps,
                        "languages": list(ctx.settings.languages)}
    picture = otio.schema.Track(name="Picture", kind=otio.schema.TrackKind.Video)
    for st in ctx.timing():
        frames = max(1, round(st.seconds * fps))
        items = _shot_items(ctx, media, media.of(st.shot), frames, url)
        items[0].markers.append(_shot_marker(ctx, st.shot, st.seconds, items[0]))
        picture.extend(items)
    tl.tracks.append(picture)
    for lang in ctx.settings.languages:
        if media.voices.get(lang):
            tl.tracks.append(_dialogue_track(lang, media, fps, url))
    return tl


def _shot_items(ctx: ExportContext, media: MediaIndex, m: ShotMedia, frames: int,
                url: Callable[[Path], str]) -> list[otio.core.Item]:
    """A shot's picture for `frames` frames: its clip (and a hold on the clip's last frame
    when the shot runs longer), else its keyframe as a still, else a Gap."""
    fps = ctx.settings.fps
    number = m.shot.number
    if m.clip is not None:
        length, _ = _video_info(m.clip, fps, m.clip_seconds)
        take = min(frames, length)
        items: list[otio.core.Item] = [_clip(f"Shot {number}", url(m.clip), m.clip, take, length, fps,
                                             {"shot": number, "picture": "clip"})]
        if frames > take:
            still = m.hold or m.end_keyframe or m.keyframe
            rest = frames - take
            items.append(_clip(f"Shot {number} (hold)", url(still), still, rest, rest, fps,
                               {"shot": number, "picture": "hold"}) if still else _gap(rest, fps))
        return items
    if m.keyframe is not None:
        return [_clip(f"Shot {number}", url(m.keyframe), m.keyframe, frames, frames, fps,
                      {"shot": number, "picture": "keyframe"})]
    return [_gap(frames, fps)]


def _clip(name: str, target: str, path: Path, frames: int, available: int, fps: int, meta: dict) -> otio.schema.Clip:
    ref = otio.schema.ExternalReference(target_url=target, available_range=TR(RT(0, fps), RT(available, fps)))
    ref.name = path.name
    clip = otio.schema.Clip(name=name, media_reference=ref, source_range=TR(RT(0, fps), RT(frames, fps)))
    clip.metadata[KEY] = meta
    return clip


def _gap(frames: int, fps: int) -> otio.schema.Gap:
    return otio.schema.Gap(source_range=TR(RT(0, fps), RT(frames, fps)))


def _shot_marker(ctx: ExportContext, shot: Shot, seconds: float, item: otio.core.Item) -> otio.schema.Marker:
    """The shot's number and fields, at the head of its first item."""
    picture = item.metadata.get(KEY, {}).get("picture")
    fields = {
        "scene": shot.scene, "number": shot.number, "size": shot.size.value, "angle": shot.angle.value,
        "movement": shot.movement.value, "lens": shot.lens, "duration_s": shot.duration_s,
        "seconds": round(seconds, 3), "action": shot.action,
        "dialogue": [{"character": d.character, "text": d.text, "delivery": d.delivery} for d in shot.dialogue],
        "notes": shot.notes, "transition": shot.transition, "approval": _approval(ctx, shot),
    }
    start = item.source_range.start_time
    return otio.schema.Marker(name=shot.number, marked_range=TR(start, RT(0, start.rate)),
                              color=COLOURS[picture], metadata={KEY: fields})


def _approval(ctx: ExportContext, shot: Shot) -> dict:
    """What of the shot is approved, by whom and when (None: not yet)."""

    def who(d: Draft | None) -> dict | None:
        return None if d is None else {"version": d.version, "approver": d.provenance.approver,
                                       "approved_at": d.provenance.approved_at}

    voices = {lang: sum(ctx.voice_draft(shot, i, lang) is not None for i in range(len(shot.dialogue)))
              for lang in ctx.settings.languages}
    return {"keyframe": who(ctx.keyframe(shot)), "end_keyframe": who(ctx.keyframe(shot, "end")),
            "clip": who(ctx.motion(shot)),
            "voice": {lang: f"{n}/{len(shot.dialogue)}" for lang, n in voices.items()}}


def _dialogue_track(lang: str, media: MediaIndex, fps: int, url: Callable[[Path], str]) -> otio.schema.Track:
    """A language's voice lines at their times. A line that would start inside the one
    before (a dub longer than the original's gap) starts when that one ends."""
    track = otio.schema.Track(name=f"Dialogue ({lang})", kind=otio.schema.TrackKind.Audio)
    pos = 0
    for vc, path in media.voices[lang]:
        start = max(pos, round(vc.start_s * fps))
        if start > pos:
            track.append(_gap(start - pos, fps))
        frames = max(1, int(_wav_seconds(path, vc.seconds) * fps + 1e-6))  # whole frames the file has
        name = f"{vc.shot} line {vc.line}" + (f" — {vc.character.upper()}" if vc.character else "")
        clip = _clip(name, url(path), path, frames, frames, fps,
                     {"shot": vc.shot, "line": vc.line, "character": vc.character, "text": vc.text,
                      "language": vc.language})
        track.append(clip)
        pos = start + frames
    return track


# --- per-format simplifications -------------------------------------------------------

def _for_edl(tl: otio.schema.Timeline) -> otio.schema.Timeline:
    """The picture track alone, media named by file, short reels, locators at record
    timecode, and the record timecode starting at the timeline's start (the adapter reads
    it from the track's own start, as it does when it reads an EDL)."""
    tl = tl.deepcopy()
    picture = next(t for t in tl.tracks if t.kind == otio.schema.TrackKind.Video)
    for track in [t for t in tl.tracks if t is not picture]:
        tl.tracks.remove(track)
    start = tl.global_start_time
    for i, item in enumerate(picture):
        if not isinstance(item, otio.schema.Clip):
            continue
        ref = item.media_reference
        meta = item.metadata.get(KEY, {})
        item.name = ref.name or os.path.basename(ref.target_url)
        item.metadata["cmx_3600"] = {"reel": reel(meta.get("shot", ""), meta.get("picture", "clip"))}
        at = start + picture.range_of_child_at_index(i).start_time
        for marker in item.markers:
            marker.marked_range = TR(at, marker.marked_range.duration)
    picture.source_range = TR(RT(0, start.rate) - start, picture.duration())
    return tl


def reel(shot: str, picture: str = "clip") -> str:
    """An 8-character CMX reel name: SH + the shot number, K for a keyframe still, H for a hold."""
    return ("SH" + shot + {"keyframe": "K", "hold": "H"}.get(picture, ""))[:8]


def _for_fcp(tl: otio.schema.Timeline) -> otio.schema.Timeline:
    """Marker comments a person reads; each picture file's frame size (and no audio in
    it, which the adapter otherwise assumes); the sequence's frame size and rate."""
    tl = tl.deepcopy()
    fps = round(tl.global_start_time.rate)
    sizes: dict[str, tuple[int, int] | None] = {}
    for clip in tl.find_clips():
        for marker in clip.markers:
            marker.metadata["fcp_xml"] = {"comment": _marker_comment(marker.metadata.get(KEY, {}))}
        ref = clip.media_reference
        if clip.metadata.get(KEY, {}).get("picture"):
            if ref.target_url not in sizes:
                sizes[ref.target_url] = _picture_size(ref)
            if size := sizes[ref.target_url]:
                ref.metadata["fcp_xml"] = {"media": {"video": {"samplecharacteristics": {
                    "width": size[0], "height": size[1]}}}}
    width, height = next((s for s in sizes.values() if s), None) or (1920, 1080)
    tl.metadata["fcp_xml"] = {"media": {"video": {"format": {"samplecharacteristics": {
        "rate": {"timebase": fps, "ntsc": "FALSE"}, "width": width, "height": height,
        "anamorphic": "FALSE", "pixelaspectratio": "square", "fielddominance": "none"}}}}}
    return tl


def _marker_comment(f: dict) -> str:
    what = " ".join(x for x in (f.get("size"), f.get("angle"), f.get("movement"), f.get("lens")) if x)
    lines = " / ".join(f"{d['character']}: {d['text']}" for d in f.get("dialogue", []))
    return " — ".join(x for x in (f"Scene {f.get('scene')}, shot {f.get('number')}", what, f.get("action"),
                                  lines, f.get("notes")) if x)


def _picture_size(ref: otio.schema.ExternalReference) -> tuple[int, int] | None:
    path = Path(unquote(urlparse(ref.target_url).path))
    try:
        if path.suffix.lower() == ".png":
            from PIL import Image

            with Image.open(path) as im:
                return im.size
        return _video_info(path, 24, 0.0)[1]
    except (OSError, ValueError):
        return None


# --- reading the media ---------------------------------------------------------------

def _video_info(path: Path, fps: int, fallback_s: float) -> tuple[int, tuple[int, int] | None]:
    """A clip's length in frames at `fps` and its pixel size, from the file's header
    (ffmpeg); the draft's own length when the file cannot be read."""
    import imageio_ffmpeg

    try:
        reader = imageio_ffmpeg.read_frames(str(path))
        try:
            meta = next(reader)
        finally:
            reader.close()
        frames = round(float(meta["duration"]) * fps)
        if frames > 0:
            return frames, tuple(meta["size"])
    except (OSError, RuntimeError, StopIteration, KeyError, ValueError):
        pass
    return max(1, round(fallback_s * fps)), None


def _wav_seconds(path: Path, fallback: float) -> float:
    try:
        import soundfile

        info = soundfile.info(str(path))
        return info.frames / info.samplerate
    except (OSError, RuntimeError, ValueError):
        return fallback


def _require_adapter(adapter: str, package: str) -> None:
    if adapter not in otio.adapters.available_adapter_names():
        raise ExportUnavailable(f"the {adapter} writer is not installed here: pip install {package}")
