"""Guided decoding on the real embedded model: llguidance masks, jump-forward,
choices by likelihood, prefix reuse — and llama.cpp's grammar as the fallback.
Replies are checked against their schema by an independent validator (jsonschema)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import jsonschema
import pytest

from inkubator_tui.agents import decoding
from inkubator_tui.agents.backend import make_llm
from inkubator_tui.agents.director import EDIT_SCHEMA, Director, fill_prefix, fill_prompt, fill_schema, scene_schema
from inkubator_tui.agents.notes import parse_notes
from inkubator_tui.config import load_config
from inkubator_tui.pipeline.backend import Cancelled, CancelToken

CORPUS = Path(__file__).parent / "data" / "notes"

NOTE = """INT. WORKSHOP - NIGHT

Rain hammers the skylight. Close on MIRA as she solders a tiny circuit board.
Mira whispers, "Come on, little one."
OSKAR leans in the doorway. "You said that last night," Oskar says.
"""


@pytest.fixture(scope="module")
def guided():
    config = load_config().config
    llm = make_llm(config, "llama")
    assert llm.decoding == "guided", "llguidance is a dependency: the default in-process path is guided"
    return llm


def schemas() -> dict[str, dict]:
    sheet = parse_notes(NOTE)
    names = [c.name for c in sheet.characters]
    return {
        "fill": fill_schema({}, names, 2.5),
        "fill, explicit and pinned": fill_schema({"size": "CU", "movement": "dolly-in"}, names, 0, 6.0),
        "fill, nobody": fill_schema({}, [], 0),
        "scene": scene_schema(names, ["L1", "L2"], [1]),
        "edit ops": EDIT_SCHEMA,
    }


@pytest.mark.parametrize("name", list(schemas()))
def test_guided_replies_match_their_schema(guided, name):
    schema = schemas()[name]
    shot = parse_notes(NOTE).shots[1]
    for seed in range(3):
        text = guided.complete(fill_prompt(shot, ["Mira", "Oskar"]), schema=schema, seed=seed, max_tokens=400)
        reply = json.loads(text)
        jsonschema.validate(reply, schema)
        # keys come in the schema's order, the order the few-shot examples show (size first)
        assert list(reply) == [k for k in schema["properties"] if k in reply]
        assert guided.last_stats.stop == "schema complete"


def test_forced_tokens_are_appended_without_sampling_and_the_prefix_is_reused(guided):
    schema = fill_schema({"size": "CU"}, ["Mira"], 0)
    shots = parse_notes(NOTE).shots
    guided.complete(fill_prompt(shots[0], ["Mira"]), schema=schema, seed=1)
    guided.complete(fill_prompt(shots[1], ["Mira"]), schema=schema, seed=1)
    stats = guided.last_stats
    prefix = len(guided._llm.tokenize(fill_prefix().encode(), add_bos=True, special=True))
    assert stats.reused_tokens >= prefix - 2, "the few-shot prefix stays in the KV cache between shots"
    assert stats.prompt_tokens - stats.reused_tokens < 60
    # `{"size":"CU","angle":"` and the rest of each key are forced: more than a third of the reply
    assert stats.forced >= stats.generated / 3 and stats.sampled + stats.chosen < stats.generated


def test_choices_by_likelihood_are_deterministic_and_sampling_follows_the_seed(guided):
    schema = {"type": "object", "properties": {"size": {"enum": ["ECU", "CU", "MS", "WS", "EWS"]}},
              "required": ["size"], "additionalProperties": False}
    prompt = fill_prompt(parse_notes(NOTE).shots[0], ["Mira"])
    before, guided.choices = guided.choices, "likely"
    try:
        picks = {json.loads(guided.complete(prompt, schema=schema, seed=s))["size"] for s in range(4)}
        assert len(picks) == 1 and guided.last_stats.chosen >= 1 and guided.last_stats.sampled == 0
        guided.choices = "sample"
        a = [guided.complete(prompt, schema=schema, seed=s, temperature=1.5) for s in range(6)]
        b = [guided.complete(prompt, schema=schema, seed=s, temperature=1.5) for s in range(6)]
        assert a == b, "a seed reproduces its draw"
        assert guided.last_stats.sampled >= 1
    finally:
        guided.choices = before


def test_cancel_stops_guided_generation_and_the_model_stays_usable(guided):
    cancel = CancelToken()
    seen: list[str] = []

    def stop_after_five(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 5:
            cancel.cancel()

    schema = {"type": "object", "properties": {"story": {"type": "string", "maxLength": 2000}},
              "required": ["story"]}
    with pytest.raises(Cancelled):
        guided.complete("A long story:", schema=schema, max_tokens=1000, on_token=stop_after_five, cancel=cancel)
    assert len(seen) == 5
    text = guided.complete(fill_prompt(parse_notes(NOTE).shots[0], []), schema=schemas()["fill, nobody"])
    jsonschema.validate(json.loads(text), schemas()["fill, nobody"])


def test_max_tokens_cuts_a_reply_and_says_so(guided):
    text = guided.complete("Notes:", schema=schemas()["fill"], max_tokens=5)
    assert guided.last_stats.stop == "max_tokens" and guided.last_stats.generated == 5
    with pytest.raises(ValueError):
        json.loads(text)


def test_streamed_pieces_join_to_the_reply(guided):
    pieces: list[str] = []
    text = guided.complete(fill_prompt(parse_notes(NOTE).shots[1], ["Mira"]), schema=schemas()["fill"],
                           on_token=pieces.append)
    assert "".join(pieces) == text


def test_chat_with_a_schema_is_guided_through_the_chat_format(guided):
    from llama_cpp.llama_chat_format import format_gemma

    messages = [{"role": "user", "content": "Plan the shots."}]
    prompt, add_bos = decoding.chat_prompt(guided._llm, messages, "gemma")
    assert prompt == format_gemma(messages=messages).prompt and add_bos
    guided.last_stats = None
    schema = schemas()["fill, nobody"]
    text = guided.chat(messages, schema=schema, max_tokens=200)
    assert guided.last_stats is not None
    jsonschema.validate(json.loads(text), schema)
    assert decoding.chat_prompt(guided._llm, messages, "no-such-format") is None


def test_grammar_path_is_still_there_and_valid():
    config = load_config().config
    config.llm.decoding = "grammar"
    llm = make_llm(config, "llama")
    assert llm.decoding == "grammar"
    schema = schemas()["fill"]
    text = llm.complete(fill_prompt(parse_notes(NOTE).shots[1], ["Mira", "Oskar"]), schema=schema, seed=3)
    jsonschema.validate(json.loads(text), schema)
    assert llm.last_stats is None  # nothing went through the guided decoder


def test_a_schema_guided_decoding_cannot_take_falls_back_to_the_grammar(guided, monkeypatch, caplog):
    def refuse(schema):
        raise decoding.GuidedUnavailable("llguidance cannot compile the schema: test")

    monkeypatch.setattr(guided._guided, "matcher", refuse)
    schema = schemas()["fill"]
    with caplog.at_level(logging.WARNING):
        text = guided.complete(fill_prompt(parse_notes(NOTE).shots[1], ["Mira"]), schema=schema, seed=2)
    jsonschema.validate(json.loads(text), schema)
    assert "using llama.cpp's grammar" in caplog.text
    assert guided.decoding == "guided", "one schema falling back does not switch the model off guided decoding"


def test_token_pieces_are_cached_on_disk_and_a_bad_cache_is_rebuilt(guided, tmp_path):
    llama = guided._llm
    first = decoding.build_tokenizer(llama, tmp_path, "abc")
    cache = tmp_path / "pieces-abc.marshal"
    assert cache.is_file()
    assert decoding.build_tokenizer(llama, tmp_path, "abc").tokenize_str("Mira") == first.tokenize_str("Mira")
    cache.write_bytes(b"not marshal")
    again = decoding.build_tokenizer(llama, tmp_path, "abc")
    assert again.vocab_size == first.vocab_size and cache.stat().st_size > 1000


@pytest.mark.slow
def test_guided_drafts_on_corpus_notes_are_schema_valid(guided, monkeypatch):
    """Every reply the model gives on real notes matches the schema it was asked for."""
    checked = 0
    complete = guided.complete

    def checking(prompt, *, schema=None, **kw):
        nonlocal checked
        text = complete(prompt, schema=schema, **kw)
        jsonschema.validate(json.loads(text), schema)
        checked += 1
        return text

    monkeypatch.setattr(guided, "complete", checking)
    notes = sorted(p for p in CORPUS.iterdir() if p.suffix != ".json")
    for path in notes[::10]:
        Director(guided).draft(path.read_text(encoding="utf-8"), seed=5)
    assert checked >= 15
