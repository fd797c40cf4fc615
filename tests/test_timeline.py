"""Timeline exports (OTIO, CMX 3600 EDL, FCP 7 XML), each read back by OpenTimelineIO's
own adapters: shots in script order at the animatic's timing, media the files in
exports/media, dialogue per language at its times, shot markers."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio
import pytest
from PIL import Image

from conftest import FIVE_SHOTS, approve_all
from inkubator_tui.exports.base import ExportContext, ExportOptions, ExportUnavailable, ShotTime
from inkubator_tui.exports.timeline import EdlExporter, FcpXmlExporter, OtioExporter
from inkubator_tui.project.models import Step
from inkubator_tui.project.store import Store

HOUR = 3600


@pytest.fixture
def project(produced_project, tmp_path):
    root = tmp_path / "keeper"
    shutil.copytree(produced_project, root)
    store = Store.open(root)
    yield store
    store.close()


def export(store: Store, exporter, ctx: ExportContext | None = None) -> tuple[ExportContext, Path]:
    ctx = ctx or ExportContext(store, ExportOptions(sign=False))
    out = store.root / "exports" / exporter.filename
    assert exporter.export(ctx, out) == [out]
    return ctx, out


def frames(seconds: float, fps: int) -> int:
    return max(1, round(seconds * fps))


def tracks(tl, kind):
    return [t for t in tl.tracks if t.kind == kind]


def test_otio_follows_the_animatic_with_dialogue_per_language(project, tmp_path):
    ctx, out = export(project, OtioExporter())
    fps = ctx.settings.fps
    timing = ctx.timing()
    tl = otio.adapters.read_from_file(str(out))
    assert tl.name == "The Last Keeper"
    assert tl.global_start_time == otio.opentime.RationalTime(HOUR * fps, fps)
    [video] = tracks(tl, otio.schema.TrackKind.Video)
    clips = list(video)
    assert all(isinstance(c, otio.schema.Clip) for c in clips)
    assert [c.metadata["inkubator"]["shot"] for c in clips] == [st.shot.number for st in timing]
    assert [c.duration().value for c in clips] == [frames(st.seconds, fps) for st in timing]
    for clip, st in zip(clips, timing):
        ref = clip.media_reference
        assert ref.target_url == f"media/shot-{st.shot.number}.mp4"
        assert (out.parent / ref.target_url).is_file()
        assert clip.source_range.end_time_exclusive() <= ref.available_range.end_time_exclusive()
        [marker] = clip.markers
        f = marker.metadata["inkubator"]
        assert marker.name == st.shot.number and marker.color == "GREEN"
        assert (f["scene"], f["number"], f["size"], f["action"]) == (st.shot.scene, st.shot.number,
                                                                     st.shot.size.value, st.shot.action)
        assert [d["text"] for d in f["dialogue"]] == [d.text for d in st.shot.dialogue]
        assert f["approval"]["keyframe"]["approver"] == f["approval"]["clip"]["approver"] == "tester"
    assert [m.metadata["inkubator"]["movement"] for c in clips for m in c.markers][1] == "dolly-in"

    audio = tracks(tl, otio.schema.TrackKind.Audio)
    assert [t.name for t in audio] == ["Dialogue (en)", "Dialogue (ja)"]
    for track, lang in zip(audio, ["en", "ja"]):
        lines = [c for c in track if isinstance(c, otio.schema.Clip)]
        placed = ctx.voice_clips(lang)
        assert len(lines) == len(placed) == 2
        for clip, vc in zip(lines, placed):
            start = track.range_of_child(clip).start_time.value
            assert abs(start - vc.start_s * fps) <= 1
            assert clip.media_reference.target_url == f"media/shot-{vc.shot}-line{vc.line}.{lang}.wav"
            assert (out.parent / clip.media_reference.target_url).is_file()
            assert clip.metadata["inkubator"] == {"shot": vc.shot, "line": vc.line, "character": vc.character,
                                                  "text": vc.text, "language": lang}
        assert lines[0].name == "1 line 1 — OSKAR"
    assert lines[0].metadata["inkubator"]["text"] == "まだ回っている。"

    # exports/ moved elsewhere (another machine): the references still resolve
    moved = tmp_path / "elsewhere" / "exports"
    shutil.copytree(out.parent, moved)
    tl2 = otio.adapters.read_from_file(str(moved / out.name))
    urls = [c.media_reference.target_url for c in tl2.find_clips()]
    assert len(urls) == 8 and all((moved / u).is_file() for u in urls)


def test_edl_is_the_picture_cut_with_short_reels(project):
    ctx, out = export(project, EdlExporter())
    fps = ctx.settings.fps
    timing = ctx.timing()
    text = out.read_text()
    assert text.startswith("TITLE: The Last Keeper\nFCM: NON-DROP FRAME\n")
    first = next(line for line in text.splitlines() if line.startswith("001"))
    assert first.split()[-2] == "01:00:00:00"  # record in: the programme starts at 01:00:00:00
    edl = otio.adapters.read_from_file(str(out), "cmx_3600", rate=fps)
    [video] = edl.tracks  # picture only: the adapter writes one track
    assert video.kind == otio.schema.TrackKind.Video
    clips = list(video)
    assert [c.name for c in clips] == [f"shot-{st.shot.number}.mp4" for st in timing]
    assert [c.duration().value for c in clips] == [frames(st.seconds, fps) for st in timing]
    assert [c.metadata["cmx_3600"]["reel"] for c in clips] == [f"SH{st.shot.number}" for st in timing]
    assert all((out.parent / c.media_reference.target_url).is_file() for c in clips)
    assert [m.name for c in clips for m in c.markers] == [st.shot.number for st in timing]


def test_fcp_xml_has_picture_dialogue_and_absolute_file_urls(project):
    ctx, out = export(project, FcpXmlExporter())
    fps = ctx.settings.fps
    timing = ctx.timing()
    tl = otio.adapters.read_from_file(str(out), "fcp_xml")
    assert tl.global_start_time.value == HOUR * fps
    [video] = tracks(tl, otio.schema.TrackKind.Video)
    clips = [c for c in video if isinstance(c, otio.schema.Clip)]
    assert [c.name for c in clips] == [f"Shot {st.shot.number}" for st in timing]
    assert [c.duration().value for c in clips] == [frames(st.seconds, fps) for st in timing]
    for clip in tl.find_clips():
        url = clip.media_reference.target_url
        assert url.startswith("file://localhost/") and Path(unquote(urlparse(url).path)).is_file()
    marker = clips[0].markers[0]
    assert marker.name == "1" and "Oskar: It still turns." in marker.metadata["fcp_xml"]["comment"]
    audio = tracks(tl, otio.schema.TrackKind.Audio)
    assert len(audio) == 2 and all(len([c for c in t if isinstance(c, otio.schema.Clip)]) == 2 for t in audio)
    assert "<width>640</width>" in out.read_text()  # the sequence's frame size, not Premiere's 720×480


def test_a_shot_longer_than_its_clip_holds_the_last_frame(project, monkeypatch):
    real = ExportContext.timing

    def longer(self):  # the animatic gave shot 2 another second for its lines
        out, later = [], 0.0
        for st in real(self):
            extra = 1.0 if st.shot.number == "2" else 0.0
            out.append(ShotTime(st.shot, st.start_s + later, st.seconds + extra))
            later += extra
        return out

    monkeypatch.setattr(ExportContext, "timing", longer)
    ctx, out = export(project, OtioExporter())
    fps = ctx.settings.fps
    tl = otio.adapters.read_from_file(str(out))
    video = tl.tracks[0]
    two = [c for c in video if c.metadata["inkubator"]["shot"] == "2"]
    assert [c.metadata["inkubator"]["picture"] for c in two] == ["clip", "hold"]
    assert [c.duration().value for c in two] == [3 * fps, fps]
    assert two[1].media_reference.target_url == "media/shot-2-hold.png"
    with Image.open(out.parent / "media" / "shot-2-hold.png") as im:
        assert im.size == (640, 360)
    for clip in video:  # nothing asks for more than its media has
        assert clip.source_range.end_time_exclusive() <= clip.media_reference.available_range.end_time_exclusive()
    assert video.duration().value == sum(frames(st.seconds, fps) for st in ctx.timing())

    _, edl_out = export(project, EdlExporter(), ctx)
    edl = otio.adapters.read_from_file(str(edl_out), "cmx_3600", rate=fps)
    assert [c.metadata["cmx_3600"]["reel"] for c in edl.tracks[0]] == ["SH1", "SH2", "SH2H", "SH3", "SH4"]
    _, xml_out = export(project, FcpXmlExporter(), ctx)
    xml = otio.adapters.read_from_file(str(xml_out), "fcp_xml")
    assert [c.duration().value for c in xml.tracks[0] if c.name.startswith("Shot 2")] == [3 * fps, fps]


def test_keyframes_alone_make_a_timeline_of_stills(pipe, store, doubles):
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    for exporter in (OtioExporter(), EdlExporter(), FcpXmlExporter()):
        with pytest.raises(ExportUnavailable, match="approve keyframes first"):
            export(store, exporter)
    doubles[Step.KEYFRAMES].fail_on = {"3"}  # shot 3 has no picture: a gap keeps its place
    pipe.run_step(Step.KEYFRAMES)
    approve_all(pipe, Step.KEYFRAMES)

    ctx, out = export(store, OtioExporter())
    fps = ctx.settings.fps
    shots = ctx.sheet.shots
    tl = otio.adapters.read_from_file(str(out))
    assert len(tl.tracks) == 1  # no voices yet, no dialogue tracks
    items = list(tl.tracks[0])
    assert [type(i).__name__ for i in items] == ["Clip", "Clip", "Gap", "Clip", "Clip"]
    assert [i.duration().value for i in items] == [frames(s.duration_s, fps) for s in shots]
    assert [m.name for i in items for m in i.markers] == [s.number for s in shots]
    assert items[2].markers[0].color == "RED" and items[0].markers[0].color == "YELLOW"
    for clip, shot in ((i, s) for i, s in zip(items, shots) if isinstance(i, otio.schema.Clip)):
        assert clip.media_reference.target_url == f"media/shot-{shot.number}.png"
        assert clip.media_reference.available_range.duration == clip.duration()
        assert (out.parent / clip.media_reference.target_url).is_file()

    _, edl_out = export(store, EdlExporter(), ctx)
    edl = otio.adapters.read_from_file(str(edl_out), "cmx_3600", rate=fps)
    clips = [c for c in edl.tracks[0] if isinstance(c, otio.schema.Clip)]
    assert [c.metadata["cmx_3600"]["reel"] for c in clips] == ["SH1K", "SH2K", "SH4K", "SH5K"]
    assert edl.tracks[0].duration().value == sum(frames(s.duration_s, fps) for s in shots)
    _, xml_out = export(store, FcpXmlExporter(), ctx)
    xml = otio.adapters.read_from_file(str(xml_out), "fcp_xml")
    assert xml.tracks[0].duration().value == sum(frames(s.duration_s, fps) for s in shots)
