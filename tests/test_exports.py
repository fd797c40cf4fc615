"""Exports: shot-list CSV, Fountain, OTIO timeline, provenance."""

from __future__ import annotations

import csv
import io
import json

import opentimelineio as otio
import pytest

from conftest import FIVE_SHOTS, approve_all, produce_all
from inkubator_tui.exports import CSV_COLUMNS, export_all, fountain, shot_list_csv, timeline_otio
from inkubator_tui.project.models import Step
from inkubator_tui.project.store import ProjectError


def test_exports_follow_the_approved_project(pipe, store):
    with pytest.raises(ProjectError, match="approve a beat sheet"):
        export_all(store)
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    assert store.settings.title == "Five"  # the notes' title replaces the default
    rows = list(csv.reader(io.StringIO(shot_list_csv(store))))
    assert rows[0] == CSV_COLUMNS and len(rows) == 6 and rows[4][7] == "Mira: It works."
    text = fountain(store)
    assert "INT. LAB - NIGHT" in text and "[[SHOT 3: CU" in text and "MIRA\nIt works." in text
    with pytest.raises(ProjectError, match="approve an animatic"):
        timeline_otio(store)
    produce_all(pipe)
    (store.root / "exports" / "animatic.mp4").unlink()  # exports are derived: written again when missing
    paths = {p.name for p in export_all(store)}
    assert paths == {"shotlist.csv", "script.fountain", "timeline.otio", "provenance.json", "animatic.mp4",
                     "animatic.srt", "animatic.en.mp4", "animatic.en.srt"}
    assert (store.root / "exports" / "animatic.mp4").is_file()
    tl = otio.adapters.read_from_file(str(store.root / "exports" / "timeline.otio"))
    assert len(tl.tracks[0]) == 5
    prov = json.loads((store.root / "exports" / "provenance.json").read_text())
    assert {r["step"] for r in prov["approved"]} == {"beats", "keyframes", "motion", "voice", "animatic"}
    assert all(r["approver"] == "tester" for r in prov["approved"])
