"""The director agent: notes → beat sheet, and messages → edit operations.

Two strategies, one result type (BeatSheet):
- per-shot (small base models, like the embedded Gemma 270M): code splits the
  notes and extracts dialogue, characters and explicit camera words; the model
  only fills small per-shot fields by few-shot completion under a JSON-schema
  grammar. Every answer is validated; a bad one is retried once with another
  seed, then the rule values stay and the rejection is recorded.
- whole-scene (instruct models: a GGUF with a chat template, or a server):
  the model plans the shot list in one call under a bounded schema in which
  dialogue can only be referenced by id, so lines stay verbatim.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..pipeline.backend import CancelToken
from ..pipeline.pace import Pace, duration_words
from ..project.models import Angle, BeatSheet, ChatMessage, DialogueLine, Movement, Shot, Size
from ..prompts import load
from . import edits, requests
from .llm import LLM, OnToken, parse_json, warm
from .notes import explicit_camera, parse_notes

STOPWORDS = set("the a an and or of on in at to from with into onto as is are his her their its this that then "
                "over under up down out off for by we she he they it".split())


@dataclass
class Rejection:
    """A model answer that was not used, and why: kept in the draft's record."""

    shot: str
    reason: str
    reply: str


@dataclass
class DraftResult:
    sheet: BeatSheet
    strategy: str
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    # What of the notes did not fit the sheet, one line each (parse_notes' cuts).
    notices: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "accepted": self.accepted, "tokens": self.tokens,
                "seconds": round(self.seconds, 2),
                "rejected": [{"shot": r.shot, "reason": r.reason, "reply": r.reply[:300]} for r in self.rejected]}


def rules_kept(record: dict[str, Any], shots: int) -> str:
    """What the director should know about refused answers: the shots that kept the
    notes' own values (a refusal followed by a good retry changed nothing)."""
    if "accepted" not in record or record.get("strategy") == "rules":
        return ""
    kept = max(0, shots - int(record["accepted"]))
    return f"{kept} of {shots} shot(s) kept the notes' own values: the model's answers failed validation" \
        if kept else ""


@dataclass
class Turn:
    """The agent's answer to one director message."""

    reply: str
    ops: list = field(default_factory=list)
    source: str = "rules"  # "rules" | "model"
    question: str = ""


OnShot = Callable[[BeatSheet, int], None]


def shot_line(shot: Shot, index: int, total: int) -> str:
    """What a person reads while a sheet drafts: 'shot 3 of 8: WS, low, pan — “Mira waits…”'."""
    said = f" “{shot.dialogue[0].text[:40]}”" if shot.dialogue else ""
    return (f"shot {index} of {total}: {shot.size.value}, {shot.angle.value}, {shot.movement.value} — "
            f"{shot.action[:60]}{said}")


def _with_pace(line: str, pace: Pace) -> str:
    left = pace.words()
    return f"{line} · {left}" if left else line


# ---- per-shot fill -------------------------------------------------------------
DURATIONS = (2, 3, 4, 5, 6, 8, 10)


def talk_seconds(shot: Shot) -> float:
    """How long the shot's lines take to say, roughly (2.5 words a second, plus a beat each)."""
    return sum(len(d.text.split()) / 2.5 + 0.5 for d in shot.dialogue)


def fill_schema(explicit: dict[str, str], names: list[str] | None = None, min_seconds: float = 0,
                duration: float | None = None) -> dict:
    """Enums for everything: framing (a single value where the notes said it),
    durations long enough for the shot's lines, characters from the notes, and
    a bounded image prompt — so the worst answer still fits in max_tokens."""
    def enum(key: str, values: list[str]) -> dict:
        return {"enum": [explicit[key]] if key in explicit else values}

    durations = [d for d in DURATIONS if d >= min_seconds] or [DURATIONS[-1]]
    if duration is not None:  # the notes said how long ("hold three seconds"): not the model's choice
        durations = [int(duration) if float(duration).is_integer() else duration]
    names = names or []
    return {
        "type": "object",
        "properties": {
            "size": enum("size", [s.value for s in Size]),
            "angle": enum("angle", [a.value for a in Angle]),
            "movement": enum("movement", [m.value for m in Movement]),
            "duration_s": {"enum": durations},
            "characters": {"type": "array", "items": {"enum": names}, "maxItems": len(names)} if names
            else {"type": "array", "maxItems": 0},
            "image_prompt": {"type": "string", "minLength": 20, "maxLength": 120},
        },
        "required": ["size", "angle", "movement", "duration_s", "characters", "image_prompt"],
        "additionalProperties": False,
    }


def _example_prompts() -> list[str]:
    return re.findall(r'"image_prompt":\s*"([^"]+)"', load("fill_shot.txt"))


def _stem(word: str) -> str:
    """'looking', 'looks', 'looked' → 'look': enough to see that a picture is about a beat."""
    for suffix in ("ing", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _content_words(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[a-z']{4,}", text.lower()) if w not in STOPWORDS}


def check_fill(answer: Any, shot: Shot, explicit: dict[str, str]) -> tuple[dict | None, str]:
    """Validate one per-shot answer; returns (fields, "") or (None, reason)."""
    if not isinstance(answer, dict):
        return None, "not a JSON object"
    try:
        size, angle, movement = Size(answer["size"]), Angle(answer["angle"]), Movement(answer["movement"])
        prompt = str(answer["image_prompt"]).strip()
        duration = float(answer.get("duration_s", shot.duration_s))
        named = answer.get("characters", [])
        if not isinstance(named, list) or not all(isinstance(n, str) for n in named):
            raise TypeError("characters is not a list of names")
    except (KeyError, ValueError, TypeError) as e:
        return None, f"bad field: {e}"
    if not 0 < duration <= 120:
        return None, f"duration {duration} out of range"
    if "duration_s" in shot.pinned:
        duration = shot.duration_s  # the director's own words win
    elif duration < talk_seconds(shot):
        return None, f"{duration:g}s is too short for the shot's lines"
    for key, value in (("size", size), ("angle", angle), ("movement", movement)):
        if key in explicit and value.value != explicit[key]:
            return None, f"{key} contradicts the notes ({explicit[key]})"
    if not 20 <= len(prompt) <= 120:
        return None, f"image_prompt length {len(prompt)} outside 20–120"
    if re.search(r"[{}\"]|\b(?:Shot|Characters|Dialogue|image_prompt)\b", prompt):
        return None, "image_prompt echoes the instructions"
    words = prompt.lower().split()
    trigrams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
    if len(trigrams) != len(set(trigrams)) or any(words.count(w) > 3 for w in set(words) if len(w) > 3):
        return None, "image_prompt repeats itself"
    for example in _example_prompts():
        if difflib.SequenceMatcher(None, example.lower(), prompt.lower()).ratio() > 0.75:
            return None, "image_prompt copies a few-shot example"
    said = " ".join(d.text for d in shot.dialogue)
    grounding = _content_words(f"{shot.action} {said}") | {c.lower() for c in shot.characters}
    if grounding and not (_content_words(prompt) | set(re.findall(r"[a-z']+", prompt.lower()))) & grounding:
        return None, "image_prompt is not about this shot"
    # Characters stay grounded: whoever speaks or is named always stays; the model
    # may only keep or drop the ones the rules inferred (from "she", "his", ...).
    required = {d.character for d in shot.dialogue if d.character} | {
        c for c in shot.characters if re.search(r"\b" + re.escape(c) + r"\b", shot.action, re.I)}
    characters = [c for c in shot.characters if c in required or c in named]
    return {"size": size, "angle": angle, "movement": movement, "duration_s": duration,
            "characters": characters, "image_prompt": prompt}, ""


def fill_prefix() -> str:
    """The header and every few-shot example, always in the same order: the part of
    each shot's prompt that stays in the KV cache from one shot to the next."""
    return load("fill_shot.txt").strip() + "\n\n"


def fill_prompt(shot: Shot, names: list[str]) -> str:
    """The cached prefix and this shot. (A base model copies the example it saw
    last; `check_fill` rejects copies, which are rare with six examples.)"""
    lines = [f"Shot: {shot.action}"]
    if shot.dialogue:
        lines.append("Dialogue: " + " ".join(f'{dl.character or "?"}: "{dl.text}"' for dl in shot.dialogue))
    lines.append(f"Characters: {', '.join(names) or 'none'}")
    return fill_prefix() + "\n".join(lines) + "\n"


# ---- whole-scene planning ----------------------------------------------------------
def scene_schema(names: list[str], line_ids: list[str], scenes: list[int]) -> dict:
    shot = {
        "type": "object",
        "properties": {
            "scene": {"enum": scenes},
            "size": {"enum": [s.value for s in Size]},
            "angle": {"enum": [a.value for a in Angle]},
            "movement": {"enum": [m.value for m in Movement]},
            "duration_s": {"enum": [2, 3, 4, 5, 6, 8, 10]},
            "action": {"type": "string", "minLength": 3, "maxLength": 300},
            "characters": {"type": "array", "items": {"enum": names}, "maxItems": max(1, len(names))}
            if names else {"type": "array", "maxItems": 0},
            "lines": {"type": "array", "items": {"enum": line_ids}, "maxItems": max(1, len(line_ids))}
            if line_ids else {"type": "array", "maxItems": 0},
            "image_prompt": {"type": "string", "minLength": 20, "maxLength": 120},
        },
        "required": ["scene", "size", "angle", "movement", "duration_s", "action", "characters", "lines",
                     "image_prompt"],
        "additionalProperties": False,
    }
    return {"type": "object", "properties": {"shots": {"type": "array", "items": shot, "minItems": 1,
                                                        "maxItems": 40}},
            "required": ["shots"], "additionalProperties": False}


def check_scene(answer: Any, rules: BeatSheet, lines: dict[str, DialogueLine]) -> tuple[BeatSheet | None, str]:
    """Validate a whole-scene plan against what the notes contain."""
    if not isinstance(answer, dict) or not isinstance(answer.get("shots"), list) or not answer["shots"]:
        return None, "no shots"
    used: list[str] = []
    shots: list[Shot] = []
    names = {c.name for c in rules.characters}
    scenes = {s.number for s in rules.scenes}
    for i, raw in enumerate(answer["shots"][:40]):
        if not isinstance(raw, dict):
            return None, f"shot {i + 1} is not an object"
        ids = raw.get("lines") or []
        if not isinstance(ids, list) or any(x not in lines for x in ids):
            return None, f"shot {i + 1} refers to lines that do not exist"
        used += ids
        chars = list(raw.get("characters") or [])
        for x in ids:
            if lines[x].character and lines[x].character not in chars:
                chars.append(lines[x].character)
        try:
            shot = Shot(scene=raw.get("scene", 1), number=str(i + 1), size=raw["size"], angle=raw["angle"],
                        movement=raw["movement"], duration_s=float(raw["duration_s"]),
                        action=str(raw["action"]).strip(), characters=chars,
                        dialogue=[lines[x].model_copy() for x in ids],
                        image_prompt=str(raw["image_prompt"]).strip()[:120], seed=(rules.shots[0].seed + i) % 2**32
                        if rules.shots else i)
        except (KeyError, ValueError, TypeError, ValidationError) as e:
            return None, f"shot {i + 1}: {str(e).splitlines()[0]}"
        if shot.scene not in scenes:
            return None, f"shot {i + 1} is in scene {shot.scene}, which the notes do not have"
        if set(shot.characters) - names:
            return None, f"shot {i + 1} names someone not in the notes"
        if not shot.action:
            return None, f"shot {i + 1} has no action"
        shots.append(shot)
    if sorted(used) != sorted(lines) or used != [x for x in lines if x in used]:
        return None, "every line must be used once, in order"
    missing = names - {c for s in shots for c in s.characters}
    if missing:
        return None, f"characters missing: {', '.join(sorted(missing))}"
    return BeatSheet(title=rules.title, scenes=rules.scenes, characters=rules.characters, shots=shots), ""


def _renumbered(rules: BeatSheet, shots: list[Shot]) -> BeatSheet:
    """The notes' sheet with these shots, numbered 1… in order, each with its own seed."""
    base = rules.shots[0].seed if rules.shots else 0
    shots = [s.model_copy(update={"number": str(i + 1), "seed": (base + i) % 2**32}) for i, s in enumerate(shots)]
    return BeatSheet(title=rules.title, scenes=rules.scenes, characters=rules.characters, notes=rules.notes,
                     shots=shots)


# ---- conversation memory -----------------------------------------------------------
def history_window(messages: list[ChatMessage], budget: int, count: Callable[[str], int]) -> list[dict[str, str]]:
    """Newest turns that fit `budget` tokens; older ones folded into one summary
    line, so a long conversation never overflows the context."""
    kept: list[dict[str, str]] = []
    used = 0
    older: list[ChatMessage] = []
    for i, m in enumerate(reversed(messages)):
        cost = count(m.text) + 4
        if used + cost > budget:
            older = list(reversed(messages))[i:][::-1]
            break
        kept.append({"role": "user" if m.role == "director" else "assistant", "content": m.text})
        used += cost
    kept.reverse()
    if older:
        asks = [m.text.strip().replace("\n", " ")[:80] for m in older if m.role == "director"]
        summary = "Earlier the director asked: " + "; ".join(asks[-12:]) if asks else "Earlier turns omitted."
        while count(summary) > max(32, budget // 4):
            summary = summary[: len(summary) * 3 // 4]
        kept.insert(0, {"role": "system", "content": summary})
    return kept


# ---- the agent ----------------------------------------------------------------------
class Director:
    def __init__(self, llm: LLM | None = None, *, loader: Callable[[], LLM] | None = None, strategy: str = "auto",
                 max_tokens: int = 120, temperature: float = 0.7, repeat_penalty: float = 1.3,
                 history_tokens: int = 1200, pace_file: Path | None = None):
        self._llm = llm
        # Where the seconds a shot of the last run are kept, for the first estimate of the next.
        self.pace_file = pace_file
        self._loader = loader
        self.strategy = strategy
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.repeat_penalty = repeat_penalty
        self.history_tokens = history_tokens

    @property
    def llm(self) -> LLM | None:
        """The model, loaded on first use (rule-understood requests never load it)."""
        if self._llm is None and self._loader is not None:
            self._llm = self._loader()
            self._loader = None
        return self._llm

    @property
    def has_model(self) -> bool:
        return self._llm is not None or self._loader is not None

    def chosen_strategy(self) -> str:
        if not self.has_model:
            return "rules"
        if self.strategy != "auto":
            return self.strategy
        return "whole-scene" if self.llm.card.instruct else "per-shot"

    # -- notes → sheet
    def draft(self, notes: str, *, title: str = "", seed: int = 0, on_token: OnToken | None = None,
              cancel: CancelToken | None = None, progress: Callable[[float, str], None] | None = None,
              on_shot: OnShot | None = None) -> DraftResult:
        """Notes → beat sheet. `on_shot(sheet, filled)` sees the sheet as it grows: the
        rules' shots at once (before the model loads), then again after each shot the
        model fills, so a watcher shows shots while the rest are being filled."""
        t0 = time.perf_counter()
        progress = progress or (lambda f, m: None)
        cut: list[str] = []
        rules = parse_notes(notes, title=title, cuts=cut)

        def show(sheet: BeatSheet, filled: int) -> None:
            if on_shot:
                on_shot(sheet.model_copy(deep=True), filled)

        show(rules, 0)
        strategy = self.chosen_strategy()
        result = DraftResult(sheet=rules, strategy=strategy, notices=cut)
        if not self.has_model or not rules.shots:
            result.seconds = time.perf_counter() - t0
            return result
        pace = Pace(len(rules.shots), f"beats {strategy} {self.llm.card.model_id}", self.pace_file)
        if strategy == "whole-scene":
            result.sheet = self._plan_scenes(notes, rules, seed, on_token, cancel, result, progress, show, pace)
        else:
            names = [c.name for c in rules.characters]
            guess = f", {duration_words(pace.left())} (measured on this machine)" if pace.left() else ""
            progress(0.0, f"{len(rules.shots)} shots to fill{guess}; reading the examples")
            warm(self.llm, fill_prefix())
            pace.restart()  # reading the examples is a one-off, not a shot's work
            for i, shot in enumerate(rules.shots):
                self._fill(shot, names, seed + i * 101, on_token, cancel, result)
                pace.advance(i + 1)
                progress((i + 1) / len(rules.shots), _with_pace(shot_line(shot, i + 1, len(rules.shots)), pace))
                show(rules, i + 1)
        pace.remember()
        result.seconds = time.perf_counter() - t0
        return result

    def _generate(self, prompt_or_messages, schema, seed, on_token, cancel, result, chat=False,
                  max_tokens=None) -> str:
        def counted(piece: str) -> None:
            result.tokens += 1
            if on_token:
                on_token(piece)

        if chat:
            return self.llm.chat(prompt_or_messages, schema=schema, max_tokens=max_tokens or 2048,
                                 temperature=0.3, seed=seed, on_token=counted, cancel=cancel)
        return self.llm.complete(prompt_or_messages, schema=schema, max_tokens=max_tokens or self.max_tokens,
                                 temperature=self.temperature, repeat_penalty=self.repeat_penalty, seed=seed,
                                 stop=["\n\n", "\nShot:"], on_token=counted, cancel=cancel)

    def _fill(self, shot: Shot, names: list[str], seed: int, on_token, cancel, result: DraftResult) -> None:
        explicit = explicit_camera(shot.action)
        schema = fill_schema(explicit, names, talk_seconds(shot),
                             shot.duration_s if "duration_s" in shot.pinned else None)
        prompt = fill_prompt(shot, names)
        for attempt in range(2):  # validate; retry once; then keep the rule values
            reply = self._generate(prompt, schema, seed + attempt, on_token, cancel, result)
            try:
                answer = parse_json(reply)
            except ValueError as e:
                result.rejected.append(Rejection(shot.number, f"unparseable: {e}", reply))
                continue
            fields, reason = check_fill(answer, shot, explicit)
            if fields is None:
                result.rejected.append(Rejection(shot.number, reason, reply))
                continue
            for key, value in fields.items():
                setattr(shot, key, value)
            result.accepted += 1
            return

    def _plan_scenes(self, notes, rules, seed, on_token, cancel, result, progress, show, pace: Pace) -> BeatSheet:
        """One request per scene: the reply stays bounded however long the notes, each
        scene shows as soon as it is planned, and the notes lead every prompt so a
        server's prompt cache reuses them. A scene the model cannot plan keeps the
        rules' shots, filled per shot."""
        # Line ids run through the whole sheet (L1, L2, …), each with the scene it is spoken in.
        said = [(s.scene, dl) for s in rules.shots for dl in s.dialogue]
        names = [c.name for c in rules.characters]
        planned: list[Shot] = []
        for n, scene in enumerate(rules.scenes):
            shots = [s for s in rules.shots if s.scene == scene.number]
            if not shots:
                continue
            present = {c for s in shots for c in s.characters}
            part = BeatSheet(title=rules.title, scenes=[scene], shots=shots,
                             characters=[c for c in rules.characters if c.name in present])
            progress(n / len(rules.scenes), _with_pace(f"planning scene {scene.number} of {len(rules.scenes)}",
                                                        pace))
            lines = {f"L{i + 1}": dl for i, (where, dl) in enumerate(said) if where == scene.number}
            sheet = self._whole_scene(notes, part, lines, seed + n * 101, on_token, cancel, result)
            if sheet is None:
                result.strategy = "whole-scene → per-shot"
                for i, shot in enumerate(shots):
                    self._fill(shot, names, seed + n * 101 + i, on_token, cancel, result)
                sheet = part
            else:
                result.accepted += len(sheet.shots)
            planned += sheet.shots
            pace.advance(sum(1 for s in rules.shots if s.scene <= scene.number))
            later = [s for s in rules.shots if s.scene > scene.number]
            show(_renumbered(rules, planned + later), len(planned))
        return _renumbered(rules, planned)

    def _whole_scene(self, notes, part: BeatSheet, lines, seed, on_token, cancel, result) -> BeatSheet | None:
        names = [c.name for c in part.characters]
        scene = part.scenes[0]
        schema = scene_schema(names, list(lines), [scene.number])
        facts = [f"Plan scene {scene.number} only: {scene.heading or 'untitled'}",
                 "Characters in it: " + (", ".join(names) or "none"),
                 "Its lines (refer to them by id):"] + [f'  {k}: {v.character or "?"}: "{v.text}"'
                                                        for k, v in lines.items()]
        messages = [{"role": "system", "content": load("plan_scene.md")},
                    {"role": "user", "content": f"Notes:\n{notes.strip()}\n\n" + "\n".join(facts)}]
        for attempt in range(2):
            reply = self._generate(messages, schema, seed + attempt, on_token, cancel, result, chat=True)
            try:
                answer = parse_json(reply)
            except ValueError as e:
                result.rejected.append(Rejection(f"scene {scene.number}", f"unparseable: {e}", reply))
                continue
            sheet, reason = check_scene(answer, part, lines)
            if sheet is not None:
                return sheet
            result.rejected.append(Rejection(f"scene {scene.number}", reason, reply))
        return None

    # -- conversation
    def respond(self, message: str, sheet: BeatSheet, history: list[ChatMessage] | None = None, *,
                on_token: OnToken | None = None, cancel: CancelToken | None = None) -> Turn:
        said = [m.text for m in history or [] if m.role == "director"]
        ops, answer = requests.understand(message, sheet, said)
        if answer:
            return Turn(reply=answer, ops=[], source="rules")
        if ops and not isinstance(ops[0], edits.Clarify):
            return Turn(reply="", ops=ops, source="rules")
        if self.has_model and self.llm.card.instruct:
            turn = self._model_ops(message, sheet, history or [], on_token, cancel)
            if turn is not None:
                return turn
        return Turn(reply="", ops=ops or [edits.Clarify(question=self._question(message, sheet))], source="rules")

    @staticmethod
    def _question(message: str, sheet: BeatSheet) -> str:
        numbers = [s.number for s in sheet.shots]
        span = f"{numbers[0]}–{numbers[-1]}" if numbers else "none yet"
        if re.search(r"\b(it|this|that|the shot)\b", message, re.I) and not re.search(r"\bshots?\s+\d", message,
                                                                                     re.I):
            return f"Which shot do you mean? Shots are {span}."
        return (f"I'm not sure what to change. Shots are {span}. Try “make shot 3 a close-up”, “add a shot of "
                f"the drone landing after 2”, “cut shot 4”, “move shot 5 after 2”, “Mira should whisper the "
                f"line”, “two alternatives for the opening” or “render keyframes for shots 2–3”.")

    def _model_ops(self, message, sheet, history, on_token, cancel) -> Turn | None:
        listing = "\n".join(
            f"{s.number}: {s.size.value} {s.angle.value} {s.movement.value} {s.duration_s:g}s — {s.action[:100]}"
            + "".join(f' [{d.character}: "{d.text[:60]}"]' for d in s.dialogue) for s in sheet.shots)
        count = self.llm.count_tokens
        messages = [{"role": "system", "content": load("edit_ops.md") + "\n\nShots:\n" + listing},
                    *history_window(history, self.history_tokens, count),
                    {"role": "user", "content": message}]
        result = DraftResult(sheet=sheet, strategy="edit")
        try:
            reply = self._generate(messages, EDIT_SCHEMA, 0, on_token, cancel, result, chat=True, max_tokens=400)
            plan = parse_plan(reply, sheet)
        except (ValueError, ValidationError, edits.EditError):
            return None
        if not plan:
            return None
        return Turn(reply="", ops=plan, source="model")


# A flat schema (grammar- and server-friendly); parse_plan turns it into typed ops.
_OP_FIELDS = {
    "op": {"enum": ["change", "add", "remove", "move", "line", "alternatives", "render", "clarify"]},
    "shot": {"type": "string", "maxLength": 8},
    "after": {"type": "string", "maxLength": 8},
    "shots": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 20},
    "count": {"type": "integer", "minimum": 1, "maximum": 4},
    "size": {"enum": [s.value for s in Size]},
    "angle": {"enum": [a.value for a in Angle]},
    "movement": {"enum": [m.value for m in Movement]},
    "duration_s": {"type": "number", "minimum": 0.5, "maximum": 60},
    "action": {"type": "string", "maxLength": 300},
    "character": {"type": "string", "maxLength": 80},
    "delivery": {"type": "string", "maxLength": 80},
    "text": {"type": "string", "maxLength": 500},
    "step": {"enum": ["keyframes", "motion", "voice", "animatic"]},
    "question": {"type": "string", "maxLength": 300},
}
EDIT_SCHEMA = {"type": "object", "properties": {"ops": {"type": "array", "maxItems": 8, "items": {
    "type": "object", "properties": _OP_FIELDS, "required": ["op"], "additionalProperties": False}}},
    "required": ["ops"], "additionalProperties": False}


_OP_TYPES = {"remove": edits.Remove, "move": edits.Move, "line": edits.Line, "alternatives": edits.Alternatives,
             "render": edits.Render, "clarify": edits.Clarify}


def parse_plan(reply: str, sheet: BeatSheet) -> list:
    """Model reply → validated ops. Raises ValueError/ValidationError/EditError on anything off."""
    data = parse_json(reply)
    raw_ops = data.get("ops") if isinstance(data, dict) else None
    if not isinstance(raw_ops, list):
        raise ValueError("no ops list")
    ops = []
    for raw in raw_ops[:12]:
        if not isinstance(raw, dict):
            raise ValueError("an op is not an object")
        raw = {k: v for k, v in raw.items() if v is not None and (v != "" or k == "after")}
        kind = raw.get("op")
        if kind == "change":
            changes = {k: raw[k] for k in edits.EDITABLE if k in raw}
            raw = {"op": "change", "shot": raw.get("shot", ""), "changes": changes}
        elif kind == "add":
            raw = {k: raw[k] for k in ("op", "after", "action", "size") if k in raw}
        elif kind in _OP_TYPES:
            raw = {k: v for k, v in raw.items() if k in _OP_TYPES[kind].model_fields}
        ops.append(edits.PLAN.validate_python({"ops": [raw]}).ops[0])
    # shot references must exist
    numbers = {s.number for s in sheet.shots}
    for op in ops:
        refs = [getattr(op, "shot", "")] + [getattr(op, "after", "")] + list(getattr(op, "shots", []))
        for ref in refs:
            if ref and ref.upper() not in numbers:
                raise edits.EditError(f"there is no shot {ref}")
    return ops


def describe(ops: list, said: list[str]) -> str:
    return "; ".join(said) if said else json.dumps([op.model_dump() for op in ops])[:200]
