"""The director agent on the real embedded model (Gemma 3 270M, base), on
scripted replies (hostile or malformed), and behind an OpenAI-compatible server."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from inkubator_tui.agents import embedded
from inkubator_tui.agents.backend import LlamaBeats, make_llm
from inkubator_tui.agents.director import (
    Director,
    check_fill,
    history_window,
    parse_plan,
)
from inkubator_tui.agents.llm import LlamaCppLLM, ModelCard, OpenAICompatLLM
from inkubator_tui.agents.edits import EditError, apply_ops
from inkubator_tui.agents.notes import parse_notes
from inkubator_tui.config import load_config
from inkubator_tui.pipeline.backend import Cancelled, CancelToken
from inkubator_tui.project.models import BeatSheet, ChatMessage

NOTES = {
    "workshop": """INT. WORKSHOP - NIGHT

Rain hammers the skylight. Close on MIRA as she solders a tiny circuit board.
Mira whispers, "Come on, little one."
Slow push in on the drone as it blinks awake.
OSKAR leans in the doorway. "You said that last night," Oskar says.
""",
    "heist": """# The Vault

## INT. BANK VAULT - NIGHT

Low angle on the vault door as it swings open. JONAS steps through, torch in hand.
Ella whispers, "Ten minutes. Not a second more."
Overhead shot of the two of them crossing the marble floor.
Jonas shouts, "Run!"
""",
    "fountain": """EXT. HARBOUR - DAWN

Aerial wide shot of the fishing boats leaving the harbour.

NORA
(quietly)
He isn't coming back.

Handheld: TOMAS runs along the pier, waving.
""",
}


@pytest.fixture(scope="module")
def gemma():
    config = load_config().config
    return make_llm(config, "llama")


def explicit_words_hold(notes: str, sheet: BeatSheet) -> None:
    by_start = {s.action.split()[0].lower(): s for s in sheet.shots}
    if "close" in by_start:
        assert by_start["close"].size == "CU"
    if "low" in by_start:
        assert by_start["low"].angle == "low"
    if "overhead" in by_start:
        assert by_start["overhead"].angle == "overhead"
    if "aerial" in by_start:
        assert by_start["aerial"].angle == "aerial" and by_start["aerial"].size == "WS"
    if "handheld:" in by_start:
        assert by_start["handheld:"].movement == "handheld"
    if "slow" in by_start:
        assert by_start["slow"].movement == "dolly-in"


# ---- the real embedded model --------------------------------------------------------------------
def test_embedded_model_is_assembled_offline_with_its_terms(gemma):
    path = embedded.gguf_path()
    assert path.is_file() and path.stat().st_size > 200 * 2**20
    assert (path.parent / "gemma-GEMMA_TERMS.html").is_file() and (path.parent / "gemma-NOTICE.md").is_file()
    card = gemma.card
    assert card.licence.startswith("Gemma Terms of Use") and card.weights_sha256 == embedded.expected_sha256()
    assert not card.instruct and "no chat template" in card.chat_template
    ready = LlamaBeats.readiness(load_config().config)
    assert ready.ready and "MiB" in ready.detail and "no chat template" in ready.detail


@pytest.mark.slow
@pytest.mark.parametrize("name", list(NOTES))
def test_real_model_drafts_are_valid_grounded_and_keep_camera_words(gemma, name):
    notes = NOTES[name]
    rules = parse_notes(notes)
    result = Director(gemma).draft(notes, seed=7)
    sheet = BeatSheet.model_validate(result.sheet.model_dump())  # schema-valid every time
    assert result.strategy == "per-shot"
    assert result.accepted + len({r.shot for r in result.rejected}) >= len(sheet.shots)
    # the model fills fields; it never changes structure or dialogue
    assert [s.action for s in sheet.shots] == [s.action for s in rules.shots]
    assert [(d.character, d.text) for s in sheet.shots for d in s.dialogue] == \
        [(d.character, d.text) for s in rules.shots for d in s.dialogue]
    for s in sheet.shots:
        for d in s.dialogue:
            assert d.text in notes  # verbatim
        assert 1 <= len(s.image_prompt) <= 120
    body = "\n".join(line for line in notes.splitlines() if not re.match(r"\s*(#|INT\.|EXT\.)", line))
    named = set(re.findall(r"\b([A-Z]{3,})\b", body))
    assert {n.title() for n in named} <= {c.name for c in sheet.characters}
    explicit_words_hold(notes, sheet)


def test_tokens_stream_and_cancel_stops_generation(gemma):
    tokens: list[str] = []
    out = gemma.complete("The drone rose over the harbour and", max_tokens=12, on_token=tokens.append)
    assert tokens and "".join(tokens) == out
    cancel = CancelToken()
    seen: list[str] = []

    def stop_after_three(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 3:
            cancel.cancel()

    t0 = time.perf_counter()
    with pytest.raises(Cancelled):
        gemma.complete("Once upon a time", max_tokens=400, on_token=stop_after_three, cancel=cancel)
    assert len(seen) == 3 and time.perf_counter() - t0 < 5


# ---- scripted replies: never a crash, never a corrupted sheet -------------------------------------
class Scripted:
    """An LLM double that answers from a list (and streams it character by character)."""

    def __init__(self, replies, instruct=False):
        self.replies = list(replies)
        self.card = ModelCard(backend="scripted", model_id="scripted test double", instruct=instruct)
        self.calls = 0

    def _next(self, on_token):
        self.calls += 1
        reply = self.replies.pop(0) if self.replies else ""
        for ch in reply:
            if on_token:
                on_token(ch)
        return reply

    def complete(self, prompt, *, on_token=None, **kw):
        return self._next(on_token)

    def chat(self, messages, *, on_token=None, **kw):
        return self._next(on_token)

    def count_tokens(self, text):
        return len(text.split())


HOSTILE = [
    "", "null", "[]", "{", "}", "{}", '{"size": "HUGE"}', "I'm a woman. I'm a woman. I'm a woman.",
    '{"size": "CU", "angle": "eye-level", "movement": "static", "image_prompt": "ok"}',
    '{"size": "CU", "angle": "eye-level", "movement": "static", "image_prompt": "' + "x" * 500 + '"}',
    '{"size": "CU", "angle": "eye-level", "movement": "static", "image_prompt": "Shot: Characters: Dialogue: {"}',
    '{"size": "CU", "angle": "eye-level", "movement": "static", "image_prompt": "old woman climbing iron spiral '
    'stairs, lantern glow on stone walls"}',
    '{"size": "WS", "angle": "low", "movement": "pan", "image_prompt": "a a a a a a a a a a a a a a a a a a a a"}',
    '{"size": 3, "angle": [], "movement": {}, "image_prompt": 7}',
    '{"shots": [{"scene": 99}]}', '{"ops": "rm -rf /"}', '{"ops": [{"op": "render", "path": "/etc/passwd"}]}',
    '```json\n{"size": "MS"}\n```', "\x00\x01\x02", "{" * 200, '"' * 50, "\ud7ff" * 10, "1e999",
    '{"size": "MS", "angle": "eye-level", "movement": "static", "image_prompt": "unrelated purple elephant '
    'dancing"}',
    '{"ops": [{"op": "change", "shot": "99", "size": "CU"}]}',
    '{"ops": [{"op": "line", "character": "Mira", "text": "' + "y" * 2000 + '"}]}',
    '{"ops": [{"op": "add", "after": "1", "action": ""}]}',
    '{"shots": [{"scene": 1, "size": "CU", "angle": "low", "movement": "static", "duration_s": 3, '
    '"action": "A", "characters": ["Nobody"], "lines": ["L9"], "image_prompt": "nothing to see here at all"}]}',
]


def hostile_replies(n: int) -> list[str]:
    out = []
    for i in range(n):
        base = HOSTILE[i % len(HOSTILE)]
        # vary: truncations and concatenations of the hostile set
        out.append(base[: max(1, len(base) - i)] if i % 3 == 1 else base + (HOSTILE[(i * 7) % len(HOSTILE)]
                                                                            if i % 5 == 2 else ""))
    return out


@pytest.mark.parametrize("instruct", [False, True])
def test_a_hundred_hostile_replies_never_crash_or_corrupt(instruct):
    notes = NOTES["workshop"]
    rules = parse_notes(notes)
    replies = hostile_replies(100)
    llm = Scripted(replies, instruct=instruct)
    director = Director(llm)
    rounds = 0
    while llm.replies:
        result = director.draft(notes, seed=rounds)
        rounds += 1
        sheet = BeatSheet.model_validate(result.sheet.model_dump())
        assert [(d.character, d.text) for s in sheet.shots for d in s.dialogue] == \
            [(d.character, d.text) for s in rules.shots for d in s.dialogue]
        assert [s.action for s in sheet.shots] == [s.action for s in rules.shots]
        assert all(1 <= len(s.image_prompt) <= 120 for s in sheet.shots)
        assert result.rejected, "hostile answers are recorded as rejected"
        explicit_words_hold(notes, sheet)
    assert not llm.replies and llm.calls >= 100  # every hostile reply was consumed
    # and the same 100 through the edit parser: each is a clean error or a valid op list
    for reply in replies:
        try:
            ops = parse_plan(reply, rules)
        except ValueError:
            continue
        try:  # a parsed plan applies cleanly or is refused in words, and leaves a valid sheet
            new, said = apply_ops(rules, ops)
        except EditError:
            continue
        BeatSheet.model_validate(new.model_dump())
        assert all(isinstance(line, str) and line for line in said)


def test_rejected_answer_is_retried_once_then_rules_kept():
    notes = "Mira fixes the drone."
    good = '{"size": "CU", "angle": "high", "movement": "static", "image_prompt": "woman repairing a small drone on a bench"}'
    llm = Scripted(["{broken", good])
    result = Director(llm).draft(notes)
    assert result.accepted == 1 and len(result.rejected) == 1 and result.sheet.shots[0].size == "CU"
    llm = Scripted(["{broken", "also broken"])
    result = Director(llm).draft(notes)
    assert result.accepted == 0 and [r.reason.split(":")[0] for r in result.rejected] == ["unparseable"] * 2
    assert result.sheet.shots[0].size == parse_notes(notes).shots[0].size
    assert result.record()["rejected"][0]["reply"] == "{broken"


def test_check_fill_rejects_contradicting_the_notes():
    shot = parse_notes("Close on Mira's hands.").shots[0]
    answer = {"size": "WS", "angle": "eye-level", "movement": "static", "image_prompt": "Mira hands on a bench"}
    fields, reason = check_fill(answer, shot, {"size": "CU"})
    assert fields is None and "contradicts" in reason


def test_whole_scene_plan_uses_line_ids_so_dialogue_stays_verbatim():
    notes = NOTES["workshop"]
    plan = {"shots": [
        {"scene": 1, "size": "WS", "angle": "high", "movement": "static", "duration_s": 3,
         "action": "Rain on the workshop skylight.", "characters": [], "lines": [],
         "image_prompt": "rain on a workshop skylight at night"},
        {"scene": 1, "size": "CU", "angle": "eye-level", "movement": "static", "duration_s": 5,
         "action": "Mira solders, whispering to the board.", "characters": ["Mira"], "lines": ["L1"],
         "image_prompt": "close on a woman soldering a circuit board"},
        {"scene": 1, "size": "MS", "angle": "eye-level", "movement": "dolly-in", "duration_s": 4,
         "action": "Oskar in the doorway.", "characters": ["Oskar"], "lines": ["L2"],
         "image_prompt": "a man leaning in a workshop doorway"}]}
    result = Director(Scripted([json.dumps(plan)], instruct=True)).draft(notes)
    assert result.strategy == "whole-scene" and len(result.sheet.shots) == 3
    assert [d.text for s in result.sheet.shots for d in s.dialogue] == ["Come on, little one.",
                                                                        "You said that last night"]
    # a plan that drops a line or invents a character falls back to per-shot
    bad = dict(plan, shots=plan["shots"][:2])
    result = Director(Scripted([json.dumps(bad), json.dumps(bad)], instruct=True)).draft(notes)
    assert result.strategy == "whole-scene → per-shot"
    assert "every line must be used once" in result.rejected[0].reason
    assert len(result.sheet.shots) == len(parse_notes(notes).shots)


def test_history_window_folds_old_turns_into_a_summary():
    msgs = [ChatMessage(role="director" if i % 2 == 0 else "agent", text=f"turn {i} " + "word " * 30)
            for i in range(40)]
    window = history_window(msgs, budget=200, count=lambda t: len(t.split()))
    assert window[0]["role"] == "system" and window[0]["content"].startswith("Earlier the director asked")
    assert sum(len(m["content"].split()) for m in window[1:]) <= 200
    assert window[-1]["content"].startswith("turn 39")


# ---- an OpenAI-compatible server on loopback ---------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded.gguf_path()), "--host", "127.0.0.1",
         "--port", str(port), "--n_threads", "1", "--n_ctx", "2048", "--chat_format", "gemma",
         "--model_alias", "gemma-270m"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/models", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("llama_cpp.server exited at start")
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not answer within 60 s")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.slow
def test_server_backend_streams_and_honours_the_schema(server):
    llm = OpenAICompatLLM(server, "gemma-270m")
    tokens: list[str] = []
    schema = {"type": "object", "properties": {"size": {"enum": ["CU", "WS"]}}, "required": ["size"],
              "additionalProperties": False}
    reply = llm.chat([{"role": "user", "content": "Pick a shot size for a face."}], schema=schema, max_tokens=30,
                     on_token=tokens.append)
    assert tokens and json.loads(reply)["size"] in ("CU", "WS")
    # the whole-scene path through the server ends in a valid, grounded sheet
    notes = NOTES["heist"]
    result = Director(llm, strategy="whole-scene").draft(notes)
    sheet = BeatSheet.model_validate(result.sheet.model_dump())
    assert all(d.text in notes for s in sheet.shots for d in s.dialogue)
    assert {"Jonas", "Ella"} <= {c.name for c in sheet.characters}


@pytest.mark.slow
def test_translations_are_drafted_by_a_server_and_wait_for_approval(server, tmp_path):
    """The translate step through a real server: drafts that gate the dubbed voices until approved.
    (The 270M model's Japanese is not the point; the contract around it is.)"""
    from conftest import Double, approve_all
    from inkubator_tui.agents.rules import RuleBeats
    from inkubator_tui.agents.translate import LLMTranslate
    from inkubator_tui.pipeline.pipeline import Pipeline
    from inkubator_tui.pipeline.registry import Registry
    from inkubator_tui.project.models import ProjectSettings, Step
    from inkubator_tui.project.store import Store

    config = load_config(cli={"llm.server_url": server, "llm.model_name": "gemma-270m"}).config
    assert LLMTranslate.readiness(config).ready
    store = Store.create(tmp_path / "p", ProjectSettings(languages=["en", "ja"]))
    voice = Double(Step.VOICE)
    reg = Registry(config, overrides={Step.BEATS: RuleBeats(config), Step.KEYFRAMES: Double(Step.KEYFRAMES),
                                      Step.MOTION: Double(Step.MOTION), Step.VOICE: voice,
                                      Step.ANIMATIC: Double(Step.ANIMATIC)})
    pipe = Pipeline(store, reg)
    pipe.draft_beats('INT. DOCK - DAWN\n\nMira says, "The boat is late."\n')
    approve_all(pipe, Step.BEATS)
    report = pipe.run_step(Step.TRANSLATE)
    [draft] = report.created
    assert draft.status.value == "pending" and draft.data["text"].strip() and draft.data["language"] == "ja"
    assert draft.provenance.backend == "llm" and "gemma-270m" in draft.provenance.model_id
    assert draft.data["source_text"] == "The boat is late." and "length_ratio" in draft.data
    voiced = pipe.run_step(Step.VOICE)
    assert [r.language for r in voice.requests] == ["en"]  # the ja line waits for its approval
    assert any("its ja translation: translate draft" in b.reason for b in voiced.blocked)
    pipe.approve(draft.id, mode="test", approver="tester")
    pipe.run_step(Step.VOICE)
    assert [(r.language, r.text) for r in voice.requests][-1] == ("ja", draft.data["text"])


def test_server_that_is_not_running_is_a_clear_error():
    from inkubator_tui.agents.llm import LLMError

    llm = OpenAICompatLLM(f"http://127.0.0.1:{_free_port()}/v1", "x")
    with pytest.raises(LLMError, match="is the server running"):
        llm.complete("hi")


def test_user_gguf_that_does_not_exist_is_named(tmp_path):
    from inkubator_tui.agents.llm import LLMError

    with pytest.raises(LLMError, match="does not exist"):
        LlamaCppLLM(tmp_path / "nope.gguf", card=ModelCard(backend="llama", model_id="x"))


def test_check_fill_keeps_durations_and_characters_grounded():
    sheet = parse_notes('MIRA watches the sky.\nOskar says, "We have to leave before the storm comes over the hill '
                        'and the road floods again."')
    quiet, talking = sheet.shots
    base = {"size": "MS", "angle": "eye-level", "movement": "static", "image_prompt": "a man talking by the hill road"}
    fields, reason = check_fill({**base, "duration_s": 2, "characters": ["Oskar"]}, talking, {})
    assert fields is None and "too short for the shot's lines" in reason
    fields, _ = check_fill({**base, "duration_s": 8, "characters": ["Mira"]}, talking, {})
    assert fields["duration_s"] == 8 and fields["characters"] == ["Oskar"]  # the speaker stays; Mira is not here
    fields, _ = check_fill({**base, "image_prompt": "Mira watches the stormy sky at dusk", "duration_s": 3,
                            "characters": []}, quiet, {})
    assert fields["characters"] == ["Mira"]  # named in the action: cannot be dropped


def test_copying_a_few_shot_example_is_rejected():
    shot = parse_notes("An old woman climbs the iron spiral stairs with a lantern.").shots[0]
    answer = {"size": "MS", "angle": "low", "movement": "tilt", "duration_s": 4, "characters": [],
              "image_prompt": "old woman climbing iron spiral stairs, lantern glow on stone walls"}
    fields, reason = check_fill(answer, shot, {})
    assert fields is None and reason == "image_prompt copies a few-shot example"


def test_the_sheet_shows_shot_by_shot_and_the_rules_shots_before_the_model_loads():
    loaded = []
    def reply(picture: str) -> str:
        return ('{"size": "CU", "angle": "high", "movement": "static", "duration_s": 4, "characters": [], '
                f'"image_prompt": "{picture}"}}')

    def loader():
        loaded.append(True)
        return Scripted([reply("a woman fixes a drone on a bench"), reply("a man opens a heavy door"),
                         reply("a small drone lifts off into the air")])

    seen = []
    notes = "Mira fixes the drone.\n\nOskar opens the door.\n\nThe drone lifts off."
    result = Director(loader=loader).draft(notes, on_shot=lambda sheet, filled: seen.append(
        (filled, bool(loaded), [s.size.value for s in sheet.shots])))
    assert [f for f, _, _ in seen] == [0, 1, 2, 3]
    assert seen[0][1] is False, "the rules' shots are shown before the model loads"
    assert seen[1][2][0] == "CU" and seen[1][2][1:] == [s.size.value for s in parse_notes(notes).shots[1:]]
    assert seen[-1][2] == ["CU", "CU", "CU"] and result.accepted == 3


def test_an_instruct_model_plans_one_request_per_scene_and_a_failed_scene_falls_back_alone():
    notes = """INT. WORKSHOP - NIGHT

Mira solders the board. Mira whispers, "Come on."

EXT. ROOF - DAWN

Oskar watches the drone rise. "It flies," Oskar says.
"""
    rules = parse_notes(notes)
    assert [s.number for s in rules.scenes] == [1, 2]

    def plan(scene, line, who, picture):
        return json.dumps({"shots": [{"scene": scene, "size": "CU", "angle": "low", "movement": "static",
                                      "duration_s": 4, "action": picture, "characters": [who], "lines": [line],
                                      "image_prompt": picture}]})

    good = [plan(1, "L1", "Mira", "a woman soldering a circuit board at night"),
            plan(2, "L2", "Oskar", "a man on a roof watching a drone at dawn")]
    llm = Scripted(good, instruct=True)
    seen = []
    result = Director(llm).draft(notes, on_shot=lambda sheet, filled: seen.append((filled, len(sheet.shots))))
    assert llm.calls == 2, "one request per scene"
    assert result.strategy == "whole-scene" and result.accepted == 2
    assert [s.number for s in result.sheet.shots] == ["1", "2"] and [s.scene for s in result.sheet.shots] == [1, 2]
    assert [d.text for s in result.sheet.shots for d in s.dialogue] == ["Come on.", "It flies"]
    assert [f for f, _ in seen] == [0, 1, 2]
    # scene 2's plan is refused twice: scene 1 stays planned, scene 2 keeps the rules' shot, filled per shot
    bad = plan(2, "L1", "Oskar", "a man on a roof")
    llm = Scripted([good[0], bad, bad, "{}"], instruct=True)
    result = Director(llm).draft(notes)
    assert result.strategy == "whole-scene → per-shot" and result.accepted == 1
    assert result.sheet.shots[0].size == "CU" and result.sheet.shots[1].action == rules.shots[1].action
    assert [r.shot for r in result.rejected][:2] == ["scene 2", "scene 2"]


def test_a_picture_about_the_beat_in_other_word_forms_is_grounded():
    shot = parse_notes("He doesn't look up.").shots[0]
    answer = {"size": "MS", "angle": "eye-level", "movement": "static", "duration_s": 3, "characters": [],
              "image_prompt": "an old fisherman looking down at his hands"}
    assert check_fill(answer, shot, {})[0] is not None
    answer["image_prompt"] = "a purple elephant dancing in a ballroom"
    assert check_fill(answer, shot, {})[1] == "image_prompt is not about this shot"


def test_only_shots_that_kept_the_notes_values_are_reported():
    from inkubator_tui.agents.director import rules_kept

    assert rules_kept({"strategy": "per-shot", "accepted": 9, "rejected": [{}, {}, {}]}, 9) == ""
    assert rules_kept({"strategy": "per-shot", "accepted": 7, "rejected": [{}] * 4}, 9).startswith("2 of 9 shot(s)")
    assert rules_kept({}, 9) == "" and rules_kept({"strategy": "rules", "accepted": 0}, 3) == ""
