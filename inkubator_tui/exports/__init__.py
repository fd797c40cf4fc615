"""Interchange files a production already uses: shot-list CSV, Fountain,
an OpenTimelineIO timeline of the animatic, and a provenance report."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..pipeline.subtitles import all_animatic_exports
from ..project.assets import atomic_write_bytes
from ..project.models import DraftStatus, Step
from ..project.store import ProjectError, Store

CSV_COLUMNS = ["Scene", "Shot", "Size", "Angle", "Movement", "Lens", "Description", "Dialogue", "Duration", "Notes"]


def shot_list_csv(store: Store) -> str:
    sheet = _sheet(store)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for s in sheet.shots:
        dialogue = " / ".join(f"{d.character}: {d.text}" + (f" ({d.delivery})" if d.delivery else "")
                              for d in s.dialogue)
        w.writerow([s.scene, s.number, s.size.value, s.angle.value, s.movement.value, s.lens, s.action, dialogue,
                    f"{s.duration_s:g}", s.notes])
    return buf.getvalue()


def fountain(store: Store) -> str:
    """The shot list as a Fountain screenplay, shots as [[SHOT: ...]] notes."""
    sheet = _sheet(store)
    out = [f"Title: {sheet.title or store.settings.title}", ""]
    headings = {sc.number: sc.heading for sc in sheet.scenes}
    scene = None
    for s in sheet.shots:
        if s.scene != scene:
            scene = s.scene
            out += [headings.get(scene) or f"INT. SCENE {scene} - DAY", ""]
            if not (headings.get(scene) or "").startswith(("INT", "EXT", "EST", "I/E")):
                out[-2] = "." + out[-2]  # a forced scene heading
        out += [f"[[SHOT {s.number}: {s.size.value}, {s.angle.value}, {s.movement.value}, {s.duration_s:g}s]]",
                s.action, ""]
        for d in s.dialogue:
            out.append(d.character.upper())
            if d.delivery:
                out.append(f"({d.delivery})")
            out += [d.text, ""]
    return "\n".join(out)


def timeline_otio(store: Store) -> str:
    """The approved animatic as an OTIO timeline: one clip per shot."""
    import opentimelineio as otio

    animatic = store.drafts(Step.ANIMATIC, "project", DraftStatus.APPROVED)
    if not animatic:
        raise ProjectError("approve an animatic first; the timeline follows its cuts")
    d = animatic[-1]
    fps = d.data.get("fps", store.settings.fps)
    media = otio.schema.ExternalReference(target_url=str(store.assets.path(d.files[0])))
    tl = otio.schema.Timeline(name=store.settings.title)
    track = otio.schema.Track(name="Animatic", kind=otio.schema.TrackKind.Video)
    cuts = d.data.get("cuts")
    if not cuts:  # an animatic backend that did not report its cuts: use the shot durations
        t, cuts = 0.0, []
        for s in _sheet(store).shots:
            cuts.append({"shot": s.number, "start_s": t, "seconds": s.duration_s})
            t += s.duration_s
    for cut in cuts:
        rng = otio.opentime.TimeRange(otio.opentime.RationalTime(round(cut["start_s"] * fps), fps),
                                      otio.opentime.RationalTime(round(cut["seconds"] * fps), fps))
        track.append(otio.schema.Clip(name=f"Shot {cut['shot']}", media_reference=media.clone(),
                                      source_range=rng))
    tl.tracks.append(track)
    return otio.adapters.write_to_string(tl, "otio_json")


def provenance_report(store: Store) -> str:
    rows = []
    approved = store.drafts(status=DraftStatus.APPROVED)
    if not approved:
        raise ProjectError("nothing is approved yet")
    for d in approved:
        rows.append({"draft": d.id, "step": d.step.value, "target": d.target, "version": d.version,
                     "files": d.files, **d.provenance.model_dump()})
    return json.dumps({"project": store.settings.title, "approved": rows}, indent=2)


def export_all(store: Store) -> list[Path]:
    """Write every export that the project's state allows; returns the paths."""
    out = store.root / "exports"
    written = []
    for name, make in (("shotlist.csv", shot_list_csv), ("script.fountain", fountain),
                       ("timeline.otio", timeline_otio), ("provenance.json", provenance_report)):
        try:
            text = make(store)
        except ProjectError:
            continue
        atomic_write_bytes(out / name, text.encode())
        written.append(out / name)
    # The approved animatics are derived files too: written again (with their subtitles) each time.
    written += all_animatic_exports(store)
    if not written:
        raise ProjectError("nothing to export yet: approve a beat sheet first")
    return written


def _sheet(store: Store):
    sheet = store.sheet()
    if sheet is None:
        raise ProjectError("approve a beat sheet first")
    return sheet
