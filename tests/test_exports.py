"""Exports as a whole: every format the project's state allows, written again from the
approved drafts, the shot list as a spreadsheet reads it, the provenance report against
its published schema, and Content Credentials read back by c2pa's own reader."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import c2pa
import jsonschema
import pytest

from conftest import FIVE_SHOTS, approve_all, produce_all
from inkubator_tui.exports import ExportContext, ExportOptions, export, export_all
from inkubator_tui.exports.base import LEAD_IN_S, TAIL_S
from inkubator_tui.exports.credentials import read_credentials
from inkubator_tui.exports.provenance import report_schema, restrictions
from inkubator_tui.exports.shotlist import CSV_COLUMNS, cell, shot_list_csv
from inkubator_tui.project.models import Step
from inkubator_tui.project.store import ProjectError, Store

UNSIGNED = ExportOptions(sign=False)
SCHEMA = Path(__file__).parents[1] / "schemas" / "provenance-report.schema.json"


def _copy(produced_project, tmp_path) -> Store:
    root = tmp_path / "p"
    shutil.copytree(produced_project, root)
    return Store.open(root)


def _rows(ctx: ExportContext) -> list[list[str]]:
    return list(csv.reader(io.StringIO(shot_list_csv(ctx))))


def test_exports_follow_the_approved_project(pipe, store):
    with pytest.raises(ProjectError, match="approve a beat sheet"):
        export_all(store, UNSIGNED)
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    assert store.settings.title == "Five"  # the notes' title replaces the default
    rows = _rows(ExportContext(store, UNSIGNED))
    assert rows[0] == CSV_COLUMNS and len(rows) == 6 and rows[4][7] == "Mira: It works."
    with pytest.raises(ProjectError, match="otio: approve keyframes"):
        export(store, ["otio"], options=UNSIGNED)
    produce_all(pipe)
    (store.root / "exports" / "animatic.mp4").unlink()  # exports are derived: written again when missing
    paths = {p.relative_to(store.root / "exports").as_posix() for p in export_all(store, UNSIGNED)}
    assert {"script.fountain", "script.fdx", "shotlist.csv", "timeline.otio", "timeline.edl", "timeline.xml",
            "storyboard.html", "storyboard.pdf", "provenance.json", "provenance.md", "provenance.schema.json",
            "animatic.mp4", "animatic.srt", "animatic.en.mp4", "animatic.en.srt", "media/shot-1.png"} <= paths
    assert (store.root / "exports" / "animatic.mp4").is_file()
    prov = json.loads((store.root / "exports" / "provenance.json").read_text())
    assert {r["step"] for r in prov["assets"]} == {"beats", "keyframes", "motion", "voice", "animatic"}
    assert all(r["approver"] == "tester" for r in prov["assets"])


def test_the_timing_rule_is_the_animatics():
    from inkubator_tui.tools import animatic

    assert (LEAD_IN_S, TAIL_S) == (animatic.LEAD_IN_S, animatic.TAIL_S)


def test_the_shot_list_fills_lens_notes_status_and_orders_by_setup(pipe, store):
    pipe.draft_beats(FIVE_SHOTS)
    approve_all(pipe, Step.BEATS)
    pipe.revise_shot("2", {"lens": "35mm", "notes": "=HYPERLINK(\"http://x\")", "size": "CU"})
    ctx = ExportContext(store, UNSIGNED)
    rows = {r[1]: dict(zip(CSV_COLUMNS, r)) for r in _rows(ctx)[1:]}
    assert rows["2"]["Lens"] == "35mm" and rows["2"]["Notes"].startswith("'=")  # never a formula
    assert rows["1"]["Status"] == "drafted"
    pipe.run_step(Step.KEYFRAMES)
    assert _rows(ExportContext(store, UNSIGNED))[1][9] == "keyframes pending"
    setup = _rows(ExportContext(store, ExportOptions(sign=False, order="setup")))[1:]
    assert sorted(r[1] for r in setup) == sorted(r[1] for r in _rows(ctx)[1:])
    keys = [(r[0], r[2], r[3], r[5]) for r in setup]  # scene, size, angle, lens: one camera setup
    assert len(set(keys)) < len(keys)  # the notes have shots that share a setup
    for k in set(keys):  # each setup's shots are next to each other
        at = [i for i, x in enumerate(keys) if x == k]
        assert at == list(range(at[0], at[0] + len(at))), keys


@pytest.mark.parametrize("value,shown", [("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
                                         ("a\x1b[2Jb", "ab"), ("two\nlines", "two lines"), ("plain", "plain")])
def test_a_cell_is_text_a_spreadsheet_will_not_run(value, shown):
    assert cell(value) == shown


def test_the_provenance_report_meets_its_published_schema(produced_project, tmp_path):
    assert json.loads(SCHEMA.read_text()) == report_schema()  # the published schema is the model's
    store = _copy(produced_project, tmp_path)
    paths, _ = export(store, ["provenance"], options=UNSIGNED)
    report = json.loads(paths[0].read_text())
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))
    labels = {a["label"] for a in report["assets"]}
    assert {"beat sheet", "shot 1 keyframe", "shot 2 clip", "shot 1 line 1 voice", "shot 1 line 1 (ja) voice",
            "animatic", "animatic (ja)"} <= labels
    kf = next(a for a in report["assets"] if a["label"] == "shot 1 keyframe")
    assert kf["non_neural"] and kf["files"][0]["present"] and len(kf["files"][0]["sha256"]) == 64
    assert kf["approver"] == "tester" and kf["seconds"] is not None
    md = paths[1].read_text()
    assert md.startswith("# Provenance: The Last Keeper") and "| shot 1 keyframe |" in md
    # an asset made under a non-commercial licence is flagged at the top
    bad = report["assets"][0] | {"licence": "CPML (Coqui Public Model License)"}
    assert restrictions(bad["licence"], {}) == ["non-commercial use only"]
    assert restrictions("CreativeML OpenRAIL-M", {})[0].startswith("use-based restrictions")
    assert restrictions("MIT", {}) == [] and restrictions("Apache-2.0", {"non_commercial": True})


def test_a_restrictive_licence_heads_the_summary(produced_project, tmp_path):
    store = _copy(produced_project, tmp_path)
    voice = store.drafts(Step.VOICE)[0]
    with store.transaction() as c:  # as if this line had been voiced by XTTS under the CPML
        c.execute("UPDATE drafts SET provenance = json_set(provenance, '$.licence', 'CPML') WHERE id = ?",
                  (voice.id,))
    paths, _ = export(store, ["provenance"], options=UNSIGNED)
    md = paths[1].read_text()
    head = md.split("## Beats")[0]
    assert "## ⚠ Restrictive licences" in head and "non-commercial use only" in head
    assert json.loads(paths[0].read_text())["restricted"] == [voice.id]


def test_exported_pictures_and_clips_carry_content_credentials(produced_project, tmp_path):
    store = _copy(produced_project, tmp_path)
    paths, ctx = export(store, ["media", "animatic"])
    assert ctx.notices == []
    exports = store.root / "exports"
    for name in ("media/shot-1.png", "media/shot-2.mp4", "animatic.mp4", "animatic.ja.mp4"):
        reader = c2pa.Reader(str(exports / name))
        store_json = json.loads(reader.json())
        # Valid = intact; the installation's own key is on no trust list, so the signer is "untrusted"
        assert reader.get_validation_state() == "Valid", name
        codes = [s["code"] for s in store_json.get("validation_status", [])]
        assert codes == ["signingCredential.untrusted"], (name, codes)
    png = read_credentials(exports / "media" / "shot-1.png")
    manifest = png["manifests"][png["active_manifest"]]
    text = json.dumps(manifest)
    assert "algorithmicMedia" in text and "tester" in text  # the sketch board is a non-neural default
    anim = read_credentials(exports / "animatic.mp4")
    manifest = anim["manifests"][anim["active_manifest"]]
    titles = {i["title"] for i in manifest.get("ingredients", [])}
    assert {"shot 1", "shot 4", "shot 1 line 1 (en)"} <= titles
    # the animatic is the approved draft's picture and sound: only the manifest was added
    assert (exports / "animatic.mp4").stat().st_size > store.assets.path(
        store.drafts(Step.ANIMATIC, "project")[0].files[0]).stat().st_size
    # a second export reuses the signed media instead of signing again
    before = (exports / "media" / "shot-1.png").stat().st_mtime_ns
    export(store, ["media"])
    assert (exports / "media" / "shot-1.png").stat().st_mtime_ns == before


def test_unsigned_exports_say_why(produced_project, tmp_path):
    store = _copy(produced_project, tmp_path)
    opts = ExportOptions(signing_cert=str(tmp_path / "nope.pem"), signing_key=str(tmp_path / "nope.key"))
    paths, ctx = export(store, ["media"], options=opts)
    assert paths and any("without Content Credentials" in n and "nope.pem" in n for n in ctx.notices)
    with pytest.raises(Exception):
        read_credentials(store.root / "exports" / "media" / "shot-1.png")


def test_one_format_to_a_path_of_your_choice(produced_project, tmp_path):
    store = _copy(produced_project, tmp_path)
    out = tmp_path / "elsewhere" / "board.pdf"
    out.parent.mkdir()
    paths, _ = export(store, ["pdf"], options=UNSIGNED, out=out)
    assert paths == [out] and out.read_bytes().startswith(b"%PDF")
    with pytest.raises(ProjectError, match="no export format 'docx'"):
        export(store, ["docx"], options=UNSIGNED)
    with pytest.raises(ProjectError, match="one --format"):
        export(store, ["pdf", "html"], options=UNSIGNED, out=out)


def test_a_hold_frame_is_signed_with_its_clip_as_parent(produced_project, tmp_path, monkeypatch):
    from inkubator_tui.exports.base import ShotTime

    store = _copy(produced_project, tmp_path)
    real = ExportContext.timing
    monkeypatch.setattr(ExportContext, "timing", lambda self: [  # the animatic gave shot 2 another second
        ShotTime(st.shot, st.start_s, st.seconds + (1.0 if st.shot.number == "2" else 0.0)) for st in real(self)])
    paths, ctx = export(store, ["media"])
    hold = store.root / "exports" / "media" / "shot-2-hold.png"
    assert hold in paths and not (store.root / "exports" / "media" / "shot-1-hold.png").exists()
    made = read_credentials(hold)
    assert made["validation_state"] == "Valid"
    manifest = made["manifests"][made["active_manifest"]]
    assert [(i["title"], i["relationship"]) for i in manifest["ingredients"]] == [("shot 2 clip", "parentOf")]
