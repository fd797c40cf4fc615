"""The pipeline contract: one typed, serialisable request per step with named inputs,
start and end keyframes, casting per character, backend options and capabilities,
progress and cancel, and executors (a process of its own, Ray)."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from conftest import FIVE_SHOTS, Double, approve_all, produce_all
from inkubator_tui.agents.rules import RuleBeats
from inkubator_tui.config import load_config
from inkubator_tui.pipeline.backend import BackendError, Capabilities, CancelToken, JobContext
from inkubator_tui.pipeline.executors import BackendHandle, LocalExecutor, WorkItem
from inkubator_tui.pipeline.pipeline import Pipeline
from inkubator_tui.pipeline.registry import BackendSpec, Registry, UnknownBackend
from inkubator_tui.pipeline.requests import REQUEST_TYPES, BeatsRequest, Result, TranslateRequest, VoiceRequest
from inkubator_tui.project.models import AssetRef, Character, DraftStatus, Step, VoiceCast
from inkubator_tui.project.store import ProjectError, Store
from inkubator_tui.tools.motion.camera import CameraMove
from inkubator_tui.tools.video import read_wav

PLUGINS = Path(__file__).parent / "plugins"
TWO_SPEAKERS = """INT. DOCK - DAWN

Mira waits by the boat.
Mira says, "It's late."
Oskar shrugs. Oskar says, "It's always late."
Mira says, "Not today."
"""


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _walk(value, path="request"):
    """Every leaf of a request, with where it is."""
    if hasattr(type(value), "model_fields"):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, value


def test_every_step_request_pickles_to_an_equal_object_and_holds_only_data(pipe, doubles):
    produce_all(pipe)
    requests = {step: d.requests for step, d in doubles.items()}
    requests[Step.BEATS] = [BeatsRequest(notes=FIVE_SHOTS, seed=3, note="tighter")]
    # One language here, so nothing is translated; the step's request is made as the planner would.
    requests[Step.TRANSLATE] = [TranslateRequest(line_id="s1-l1", text="It works.", character="Mira", source="en",
                                                 target="ja", context=("Oskar: Does it?",))]
    assert set(requests) == set(REQUEST_TYPES)
    for step, made in requests.items():
        assert made, f"no {step.value} request was made"
        for request in made:
            assert type(request) is REQUEST_TYPES[step]
            again = pickle.loads(pickle.dumps(request))
            assert again == request and again is not request
            for where, leaf in _walk(request):
                assert not callable(leaf), f"{where} is callable"
                assert not isinstance(leaf, (io.IOBase, type(threading.Lock()), Path)), f"{where} is {leaf!r}"


def test_backends_receive_their_named_inputs_as_the_stored_bytes(pipe, doubles, store):
    produce_all(pipe)
    sheet = store.sheet()

    def approved_sha(step, target):
        d = next(d for d in store.drafts(step, target) if d.status == DraftStatus.APPROVED)
        return _sha(store.assets.path(d.files[0]))

    motion = doubles[Step.MOTION]
    assert len(motion.received) == len(sheet.shots)
    for request, got in zip(motion.requests, motion.received):
        assert got == {"start": approved_sha(Step.KEYFRAMES, request.shot.id)}
        assert request.start.rel == next(d for d in store.drafts(Step.KEYFRAMES, request.shot.id)
                                         if d.status == DraftStatus.APPROVED).files[0]
    [animatic] = doubles[Step.ANIMATIC].received
    expected = {}
    for shot in sheet.shots:
        expected[f"shot {shot.number} keyframe"] = approved_sha(Step.KEYFRAMES, shot.id)
        expected[f"shot {shot.number} motion"] = approved_sha(Step.MOTION, shot.id)
        for i, line in enumerate(shot.dialogue):
            expected[f"shot {shot.number} line {i + 1}"] = approved_sha(Step.VOICE, line.id)
    assert animatic == expected
    prov = next(d for d in store.drafts(Step.MOTION) if d.status == DraftStatus.APPROVED).provenance
    assert set(prov.parameters["inputs"]) == {"start"} and prov.parameters["inputs"]["start"].startswith("assets/")


# ---- start and end keyframes -------------------------------------------------------------------
class EndFrameMotion(Double):
    """A motion double that reads an end frame when there is one (as RIFE will)."""

    capabilities: ClassVar[Capabilities] = Capabilities(inputs={"start": "required", "end": "optional"})


def approved_sheet(store, keyframes: Double, notes: str, moving: str) -> tuple[Pipeline, dict]:
    """A pipeline whose motion reads end frames, the notes' sheet approved, shot `moving` panning."""
    config = load_config().config
    doubles = {Step.KEYFRAMES: keyframes, Step.MOTION: EndFrameMotion(Step.MOTION),
               Step.VOICE: Double(Step.VOICE), Step.ANIMATIC: Double(Step.ANIMATIC)}
    pipe = Pipeline(store, Registry(config, overrides={Step.BEATS: RuleBeats(config), **doubles}))
    pipe.draft_beats(notes)
    approve_all(pipe, Step.BEATS)
    pipe.revise_shot(moving, {"movement": "pan"})
    return pipe, doubles


@pytest.fixture
def ends(store):
    return approved_sheet(store, Double(Step.KEYFRAMES), FIVE_SHOTS, moving="2")


def test_a_moving_shot_gets_an_end_keyframe_with_its_own_approval(ends, store):
    pipe, doubles = ends
    s2 = store.sheet().shot("2")
    pipe.run_step(Step.KEYFRAMES)
    targets = sorted(d.target for d in store.drafts(Step.KEYFRAMES))
    assert s2.id + "/end" in targets and len(targets) == 6  # five starts, one end: only shot 2 moves
    end_request = next(r for r in doubles[Step.KEYFRAMES].requests if r.role == "end")
    assert end_request.shot.id == s2.id and "end of the pan" in end_request.prompt

    start = next(d for d in store.drafts(Step.KEYFRAMES, s2.id))
    end = next(d for d in store.drafts(Step.KEYFRAMES, s2.id + "/end"))
    pipe.approve(start.id, approver="t")
    assert store.draft(end.id).status == DraftStatus.PENDING, "approving the start does not supersede the end"
    for d in store.drafts(Step.KEYFRAMES, status=DraftStatus.PENDING):
        if d.target != s2.id + "/end":
            pipe.approve(d.id, approver="t")
    report = pipe.run_step(Step.MOTION)
    [blocked] = report.blocked
    assert blocked.target == s2.id and blocked.reason.startswith("end keyframes draft")

    pipe.approve(end.id, approver="t")
    pipe.run_step(Step.MOTION)
    request, got = next((r, g) for r, g in zip(doubles[Step.MOTION].requests, doubles[Step.MOTION].received)
                        if r.shot.id == s2.id)
    assert got == {"start": _sha(store.assets.path(start.files[0])), "end": _sha(store.assets.path(end.files[0]))}
    assert request.end == AssetRef.of(end.files[0])
    statics = [r for r in doubles[Step.MOTION].requests if r.shot.id != s2.id]
    assert statics and all(r.end is None for r in statics)


def test_changing_the_end_stales_the_end_keyframe_and_that_motion_only(ends, store):
    pipe, doubles = ends
    pipe.run_step(Step.KEYFRAMES)
    approve_all(pipe, Step.KEYFRAMES)
    pipe.run_step(Step.MOTION)
    approve_all(pipe, Step.MOTION)
    s2 = store.sheet().shot("2")
    before = {d.id for d in store.drafts(status=DraftStatus.STALE)}
    pipe.revise_shot("2", {"end_action": "Oskar stands in the open door"})
    stale = [d for d in store.drafts(status=DraftStatus.STALE) if d.id not in before]
    assert sorted((d.step.value, d.target) for d in stale) == [("keyframes", s2.id + "/end"), ("motion", s2.id)]
    pipe.run_step(Step.KEYFRAMES)
    assert doubles[Step.KEYFRAMES].requests[-1].prompt == "Oskar stands in the open door"


def test_without_an_end_frame_the_camera_move_derives_it_and_says_so(store):
    config = load_config(cli={"keyframe.long_side": 64, "motion.backend": "camera"}).config
    reg = Registry(config, overrides={Step.BEATS: RuleBeats(config), Step.VOICE: None, Step.ANIMATIC: None})
    pipe = Pipeline(store, reg)
    pipe.draft_beats("INT. LAB - NIGHT\n\nSlow push in on Mira at the bench.\n")
    approve_all(pipe, Step.BEATS)
    pipe.run_step(Step.KEYFRAMES)
    assert [d.target for d in store.drafts(Step.KEYFRAMES)] == [store.sheet().shots[0].id], \
        "the camera move reads no end frame, so none is offered"
    approve_all(pipe, Step.KEYFRAMES)
    report = pipe.run_step(Step.MOTION)
    [motion] = report.created
    assert motion.provenance.parameters["end_frame"].startswith("derived: the camera move's last framing")
    assert motion.provenance.parameters["inputs"] == {"start": store.drafts(Step.KEYFRAMES)[0].files[0]}
    assert isinstance(reg.resolve(Step.MOTION), CameraMove)


# ---- casting -----------------------------------------------------------------------------------
class VoiceDouble(Double):
    """A voice engine with three voices."""

    def __init__(self, config=None):
        super().__init__(Step.VOICE)

    def voices(self, language):
        return ["ava", "bo", "cy"]


class OtherVoice(VoiceDouble):
    def info(self):
        return super().info().__class__(name="other", model_id="another engine", licence="CC-BY-4.0")

    @classmethod
    def readiness(cls, config):
        from inkubator_tui.pipeline.backend import Readiness

        return Readiness(Step.VOICE, "other", True, "a second test engine")


@pytest.fixture
def voices(store):
    config = load_config().config
    voice = VoiceDouble()
    reg = Registry(config, overrides={Step.BEATS: RuleBeats(config), Step.KEYFRAMES: Double(Step.KEYFRAMES),
                                      Step.MOTION: Double(Step.MOTION), Step.VOICE: voice,
                                      Step.ANIMATIC: Double(Step.ANIMATIC)})
    reg.specs = reg.specs + [BackendSpec(Step.VOICE, "other", "test_contract:OtherVoice")]
    pipe = Pipeline(store, reg)
    pipe.draft_beats(TWO_SPEAKERS)
    approve_all(pipe, Step.BEATS)
    return pipe, voice, reg


def test_default_casting_gives_each_speaker_a_distinct_voice(voices):
    pipe, voice, _ = voices
    pipe.run_step(Step.VOICE)
    cast = {}
    for r in voice.requests:
        cast.setdefault(r.character, set()).add(r.cast.voice)
    assert cast == {"Mira": {"ava"}, "Oskar": {"bo"}}


def test_recasting_stales_exactly_that_characters_lines_and_runs_on_its_engine(voices, store):
    pipe, voice, reg = voices
    pipe.run_step(Step.VOICE)
    approve_all(pipe, Step.VOICE)
    mira_lines = {line.id for s in store.sheet().shots for line in s.dialogue if line.character == "Mira"}
    before = {d.id for d in store.drafts(status=DraftStatus.STALE)}
    pipe.recast("mira", "en", VoiceCast(backend="other", voice="cy", speed=0.9))
    stale = [d for d in store.drafts(status=DraftStatus.STALE) if d.id not in before]
    assert {d.target for d in stale} == mira_lines and all(d.step == Step.VOICE for d in stale)
    report = pipe.run_step(Step.VOICE)
    assert {d.target for d in report.created} == mira_lines
    assert {d.provenance.backend for d in report.created} == {"other"}
    assert {d.provenance.licence for d in report.created} == {"CC-BY-4.0"}
    other = reg.named(Step.VOICE, "other")
    assert {(r.character, r.cast.voice, r.cast.speed) for r in other.requests} == {("Mira", "cy", 0.9)}
    # Oskar's default cast was kept when his line was voiced, and is still marked as a default
    assert ("Oskar", "en", VoiceCast(voice="bo", chosen_by="default"), False) in pipe.casting()


def test_a_cast_must_name_an_engine_and_a_voice_that_exist(voices):
    pipe, _, _ = voices
    with pytest.raises(UnknownBackend, match="'festival' is not a voice backend; choose one of: piper, kokoro, "
                                             "coqui, espeak, other"):
        pipe.recast("Mira", "en", VoiceCast(backend="festival", voice="x"))
    with pytest.raises(BackendError, match="no Coqui model configured; set voice.coqui_model_path"):
        pipe.recast("Mira", "en", VoiceCast(backend="coqui", voice="x"))
    with pytest.raises(ProjectError, match="has no voice 'zed' for en; its voices: ava, bo, cy"):
        pipe.recast("Mira", "en", VoiceCast(voice="zed"))
    with pytest.raises(ProjectError, match="no character 'Nobody'"):
        pipe.recast("Nobody", "en", VoiceCast())


def test_projects_saved_with_bare_voice_ids_still_load():
    ch = Character.model_validate({"name": "Mira", "voices": {"en": "p231"}})
    assert ch.voices == {"en": VoiceCast(voice="p231")}


# ---- options and capabilities ------------------------------------------------------------------
def test_backend_options_are_validated_by_the_backend_and_reach_it():
    reg = Registry(load_config(cli={"keyframe.backend": "sketch", "keyframe.options.caption": False}).config)
    sketch = reg.resolve(Step.KEYFRAMES)
    assert sketch.options.caption is False and sketch.info().parameters["caption"] is False
    bad = Registry(load_config(cli={"keyframe.backend": "sketch", "keyframe.options.steps": 4}).config)
    with pytest.raises(BackendError, match=r"^keyframe.options.steps is not an option of the sketch backend "
                                           r"\(its options: caption, guides\)$"):
        bad.resolve(Step.KEYFRAMES)
    wrong = Registry(load_config(cli={"motion.options.crf": 99}).config)
    with pytest.raises(BackendError, match=r"^motion.options.crf = 99: .*less than or equal to 51.* camera"):
        wrong.resolve(Step.MOTION)


def test_progress_never_raises_and_cancel_hooks_run_once():
    def broken(*a):
        raise RuntimeError("the listener broke")

    ctx = JobContext(Path("."), CancelToken(), emit=broken)
    ctx.progress(0.5, "half")  # logged, not raised
    token = CancelToken()
    ctx = JobContext(Path("."), token, emit=lambda *a: None)
    ctx.progress(2.0, "past the end")
    calls = []
    token.on_cancel(lambda: calls.append("a"))
    remove = token.on_cancel(lambda: calls.append("b"))
    remove()
    token.on_cancel(lambda: 1 / 0)  # a failing hook does not stop the others
    token.on_cancel(lambda: calls.append("c"))
    token.cancel()
    token.cancel()
    assert calls == ["a", "c"]
    token.on_cancel(lambda: calls.append("late"))
    assert calls == ["a", "c", "late"]
    with pytest.raises(BackendError, match="was not given to this job"):
        ctx.path(AssetRef(sha256="0" * 64, ext=".png"))


class Isolated:
    """A backend that asks for a process of its own."""

    step: ClassVar[Step] = Step.KEYFRAMES
    capabilities: ClassVar[Capabilities] = Capabilities(isolation=True)

    def info(self):
        from inkubator_tui.pipeline.backend import BackendInfo

        return BackendInfo(name="isolated")

    def load(self, progress=None):
        pass

    def __call__(self, request, ctx):
        ctx.progress(0.1, "started")
        if request.note == "hang":
            time.sleep(600)
        out = ctx.workdir / "pid.txt"
        out.write_text(str(os.getpid()))
        return Result(files=[out], data={"pid": os.getpid()})


def test_an_isolated_backend_runs_in_its_own_process_and_cancel_kills_it(tmp_path):
    executor = LocalExecutor(1)
    request = BeatsRequest(notes="x")
    [done] = executor.run([WorkItem("one", BackendHandle(instance=Isolated()), request)], scratch=tmp_path,
                          cancel=CancelToken())
    assert done.ok, done.error
    assert done.result.data["pid"] != os.getpid()
    assert Path(done.result.files[0]).read_text() == str(done.result.data["pid"])

    token = CancelToken()
    events = []

    def on_progress(e):
        events.append(e.message)
        if e.message == "started":
            token.cancel()

    t0 = time.monotonic()
    [stopped] = executor.run([WorkItem("two", BackendHandle(instance=Isolated()), BeatsRequest(notes="x", note="hang"))],
                             scratch=tmp_path, cancel=token, on_progress=on_progress)
    assert stopped.cancelled and "started" in events and time.monotonic() - t0 < 60


def test_any_wav_an_engine_writes_is_read(tmp_path):
    import soundfile

    t = np.linspace(0, 1, 8000, endpoint=False)
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    for subtype in ("FLOAT", "PCM_24", "PCM_16"):
        path = tmp_path / f"{subtype}.wav"
        soundfile.write(path, np.stack([tone, tone], axis=1), 8000, subtype=subtype)
        samples, rate = read_wav(path)
        assert rate == 8000 and samples.dtype == np.int16 and len(samples) == 8000
        assert abs(int(samples.max()) - 16384) < 40  # half scale, whatever the format


def test_a_voice_request_names_its_reference_clip():
    clip = AssetRef(sha256="a" * 64, ext=".wav")
    r = VoiceRequest(line_id="s1-l1", text="Hi.", character="Mira", cast=VoiceCast(backend="coqui", reference=clip))
    assert r.inputs() == {"reference": clip}


# ---- plugins and executors through the CLI ------------------------------------------------------
def _cli(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "inkubator_tui", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=600)


def test_a_plugin_installed_by_entry_point_is_chosen_by_name(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    reg = Registry(load_config(cli={"keyframe.backend": "cards", "keyframe.options.ink": [255, 0, 0]}).config)
    cards = reg.resolve(Step.KEYFRAMES)
    assert type(cards).__module__ == "inkubator_example_cards" and cards.options.ink == (255, 0, 0)
    notes = tmp_path / "notes.txt"
    notes.write_text(FIVE_SHOTS)
    env = {"PYTHONPATH": str(PLUGINS)}
    run = _cli("produce", str(notes), "--project", str(tmp_path / "p"), "--approve-all", "--json",
               "--set", "llm.backend=rules", "--set", "keyframe.backend=cards", "--set", "voice.backend=none",
               "--set", "keyframe.long_side=64", env=env)
    assert run.returncode == 0, run.stderr
    store = Store.open(tmp_path / "p")
    try:
        kf = store.drafts(Step.KEYFRAMES)
        assert len(kf) == 5 and {d.provenance.backend for d in kf} == {"cards"}
    finally:
        store.close()
    listed = _cli("doctor", "--json", "--set", "keyframe.backend=cards", env=env)
    assert '"backend": "cards"' in listed.stdout


def test_cast_command_lists_and_recasts(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text(TWO_SPEAKERS)
    project = str(tmp_path / "p")
    sets = ["--set", "llm.backend=rules", "--set", "keyframe.long_side=64"]
    assert _cli("produce", str(notes), "--project", project, "--approve-all", *sets).returncode == 0
    listed = _cli("cast", "--project", project, "--json")
    assert {(r["character"], r["chosen"]) for r in __import__("json").loads(listed.stdout)} >= {("Mira", False)}
    ok = _cli("cast", "--project", project, "Mira", "en=piper:", "--speed", "1.2")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0] == "Mira in en: piper:default ×1.2"
    # Mira's two lines and the animatic that holds them; Oskar's line stays approved
    assert re.fullmatch(r"3 draft\(s\) now stale: voice \d+, voice \d+, animatic \d+", ok.stdout.splitlines()[1])
    bad = _cli("cast", "--project", project, "Mira", "en=festival:x")
    assert bad.returncode == 1
    assert bad.stderr.strip() == ("inkubator: 'festival' is not a voice backend; choose one of: piper, kokoro, "
                                  "coqui, espeak")
    usage = _cli("cast", "--project", project, "Mira", "english")
    assert usage.returncode == 1 and "write a cast as LANG=BACKEND:VOICE" in usage.stderr


class Sleepy:
    """Works until it is stopped, reporting as it goes."""

    step: ClassVar[Step] = Step.KEYFRAMES

    def info(self):
        from inkubator_tui.pipeline.backend import BackendInfo

        return BackendInfo(name="sleepy")

    def load(self, progress=None):
        pass

    def __call__(self, request, ctx):
        for i in range(1200):
            ctx.progress(i / 1200, f"step {i}")
            ctx.cancel.check()
            time.sleep(0.05)
        return Result()


def test_ray_jobs_report_progress_and_cancel(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="Ray is the [ray] extra; make test installs it")
    from inkubator_tui.pipeline.executors import RayExecutor

    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))  # workers import Sleepy from here
    executor = RayExecutor("", workers=2)
    token = CancelToken()
    seen = []

    def on_progress(e):
        seen.append((e.job, e.message))
        if len(seen) >= 3:
            token.cancel()

    try:
        t0 = time.monotonic()
        items = [WorkItem(f"job {i}", BackendHandle(instance=Sleepy()), BeatsRequest(notes="x", seed=i))
                 for i in range(2)]
        outcomes = list(executor.run(items, scratch=tmp_path, cancel=token, on_progress=on_progress))
        assert sorted(o.job for o in outcomes) == ["job 0", "job 1"]
        assert all(o.cancelled for o in outcomes), [o.error for o in outcomes]
        assert any(m.startswith("step ") for _, m in seen), "progress crosses from the Ray workers"
        assert time.monotonic() - t0 < 120
    finally:
        ray.shutdown()


def test_ray_makes_the_same_files_as_a_local_run(tmp_path):
    pytest.importorskip("ray", reason="Ray is the [ray] extra; make test installs it")
    notes = tmp_path / "notes.txt"
    notes.write_text(FIVE_SHOTS)
    hashes = {}
    for executor in ("local", "ray"):
        project = tmp_path / executor
        run = _cli("produce", str(notes), "--project", str(project), "--approve-all", "--set", "llm.backend=rules",
                   "--set", "voice.backend=none", "--set", "keyframe.long_side=128",
                   "--set", f"runtime.executor={executor}", "--set", "runtime.jobs=2")
        assert run.returncode == 0, run.stderr[-2000:]
        assert re.search(r"shot 1: +0% frame 1/\d+", run.stderr), "the worker's progress reaches the terminal"
        store = Store.open(project)
        try:
            hashes[executor] = {(d.step.value, store.sheet().shot(d.target.split("/")[0]).number):
                                _sha(store.assets.path(d.files[0]))
                                for d in store.drafts() if d.step in (Step.KEYFRAMES, Step.MOTION)}
        finally:
            store.close()
    assert len(hashes["local"]) == 10
    assert hashes["ray"] == hashes["local"]


# ---- keyframe backends that read the approved start, and characters' references --------------
class ReadsStartAndReferences(Double):
    """A keyframe double shaped like the diffusion backend in reference mode."""

    capabilities: ClassVar[Capabilities] = Capabilities(inputs={"start": "required", "references": "required"})


REFERENCED = """INT. STATION - NIGHT

Mira waits under the sign.
Close on the clock.
Mira reads the letter.
"""


@pytest.fixture
def refs(store):
    pipe, doubles = approved_sheet(store, ReadsStartAndReferences(Step.KEYFRAMES), REFERENCED, moving="3")
    return pipe, doubles[Step.KEYFRAMES]


def test_end_frames_and_later_shots_wait_for_the_pictures_they_are_made_from(refs, store):
    pipe, kf = refs
    sheet = store.sheet()
    s1, s3 = sheet.shot("1"), sheet.shot("3")
    assert "Mira" in s1.characters and "Mira" in s3.characters
    report = pipe.run_step(Step.KEYFRAMES)
    made = {d.target for d in store.drafts(Step.KEYFRAMES)}
    assert made == {s1.id, sheet.shot("2").id}
    why = {b.target: b.reason for b in report.blocked}
    assert why[s3.id].startswith("drawn after Mira's reference, shot 1, is approved (keyframes")
    assert s3.id + "/end" in why

    first = next(d for d in store.drafts(Step.KEYFRAMES, s1.id))
    pipe.approve(first.id, approver="t")
    pipe.run_step(Step.KEYFRAMES)
    req, got = next((r, g) for r, g in zip(kf.requests, kf.received) if r.shot.id == s3.id)
    assert req.references == {"Mira": AssetRef.of(first.files[0])}
    assert got == {"reference Mira": _sha(store.assets.path(first.files[0]))}
    assert s3.id + "/end" in {b.target for b in pipe.run_step(Step.KEYFRAMES).blocked}

    start3 = next(d for d in store.drafts(Step.KEYFRAMES, s3.id))
    pipe.approve(start3.id, approver="t")
    pipe.run_step(Step.KEYFRAMES)
    end_req, end_got = next((r, g) for r, g in zip(kf.requests, kf.received) if r.role == "end")
    assert end_req.start == AssetRef.of(start3.files[0]) and end_got["start"] == _sha(store.assets.path(start3.files[0]))


def test_a_new_reference_picture_stales_the_shots_drawn_from_the_old_one(refs, store):
    pipe, kf = refs
    s1, s3 = store.sheet().shot("1"), store.sheet().shot("3")
    pipe.run_step(Step.KEYFRAMES)
    pipe.approve(next(d for d in store.drafts(Step.KEYFRAMES, s1.id)).id, approver="t")
    pipe.run_step(Step.KEYFRAMES)
    third = next(d for d in store.drafts(Step.KEYFRAMES, s3.id))
    pipe.approve(third.id, approver="t")

    pipe.revise_shot("1", {"size": "CU"})  # a new picture of Mira is needed, and drawn
    pipe.run_step(Step.KEYFRAMES)
    assert store.draft(third.id).status == DraftStatus.STALE
    new_first = next(d for d in store.drafts(Step.KEYFRAMES, s1.id) if d.status == DraftStatus.PENDING)
    pipe.approve(new_first.id, approver="t")
    pipe.run_step(Step.KEYFRAMES)
    redrawn = [r for r in kf.requests if r.shot.id == s3.id][-1]
    assert redrawn.references == {"Mira": AssetRef.of(new_first.files[0])}


def test_a_director_can_name_the_shot_that_shows_a_character(refs, store):
    pipe, kf = refs
    s1, s3 = store.sheet().shot("1"), store.sheet().shot("3")
    with pytest.raises(ProjectError, match="Mira is not in shot 2; choose a shot they are in: 1, 3"):
        pipe.set_look("mira", reference_shot="2")
    pipe.set_look("mira", reference_shot="3", look="tall, grey raincoat")
    assert store.sheet().character("Mira").reference_shot == "3"
    report = pipe.run_step(Step.KEYFRAMES)
    assert {r.shot.id for r in kf.requests} == {s3.id, store.sheet().shot("2").id}
    assert s1.id in {b.target for b in report.blocked}
    assert next(r for r in kf.requests if r.shot.id == s3.id).looks == {"Mira": "tall, grey raincoat"}
