"""Director requests → edit operations, by rules.

Directors talk in clauses: `make shot 2 a close-up and add a shot after 3
where the boat finally arrives`, `lose 7, then make 9 a low angle`, `the
bridge shot should be a low angle`, `and make it 6 seconds`. This module
splits a message into clauses, finds what each refers to (a number, a range,
the opening/last shot, a description matched against the actions, or `it`
from the conversation so far) and what it asks, and returns the operations in
the order said. Whatever it cannot map with confidence becomes a question
(`Clarify`), never a guess; questions about the sheet get an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..project.models import Angle, BeatSheet, Movement, Shot, Size
from .quotes import DELIVERY_WORDS, find_quotes
from .edits import (ANGLE_WORDS, MOVE_WORDS, Add, Alternatives, Change, Clarify, Line, Move, Remove, Render,
                    ShotChanges, _first)

SIZE_LADDER = [Size.ECU, Size.CU, Size.MCU, Size.MS, Size.MWS, Size.WS, Size.EWS]
SIZE_PHRASES = [  # longest first
    ("extreme close-up", Size.ECU), ("extreme close up", Size.ECU), ("extreme closeup", Size.ECU),
    ("medium close-up", Size.MCU), ("medium close up", Size.MCU), ("medium wide", Size.MWS),
    ("extreme wide", Size.EWS), ("over-the-shoulder", Size.OTS), ("over the shoulder", Size.OTS),
    ("close-up", Size.CU), ("close up", Size.CU), ("closeup", Size.CU), ("medium shot", Size.MS),
    ("mid shot", Size.MS), ("wide shot", Size.WS), ("two-shot", Size.MS), ("ecu", Size.ECU), ("mcu", Size.MCU),
    ("cu", Size.CU), ("mws", Size.MWS), ("ews", Size.EWS), ("ms", Size.MS), ("ws", Size.WS), ("ots", Size.OTS),
    ("pov", Size.POV), ("point of view", Size.POV), ("insert", Size.INSERT), ("medium", Size.MS),
    ("wide", Size.WS), ("close", Size.CU),
]
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                "ten": 10, "twelve": 12, "a couple of": 2, "a couple": 2, "a few": 3, "couple of": 2, "half a": 0.5}
_NUMW = "|".join(sorted(map(re.escape, NUMBER_WORDS), key=len, reverse=True))
DURATION = re.compile(rf"\b(\d+(?:\.\d+)?|{_NUMW})\s*(?:-|\s)?(?:s|sec|secs|seconds?)\b", re.I)
LENS = re.compile(r"\b(\d{2,3})\s*mm\b", re.I)
COUNT = re.compile(rf"\b(\d|{_NUMW})\s+(?:more\s+|other\s+|different\s+|new\s+)?(?:alternatives?|versions?|options?|"
                   r"variations?|takes?|alts?)\b", re.I)
def _quoted(text: str) -> str | None:
    """The words of the first quotation (the notes' finder: apostrophes are not quotes)."""
    q = next(iter(find_quotes(text)), None)
    return q.text if q else None


def _unquoted(text: str) -> str:
    """`text` with its quotations blanked, so quoted words are not read as the request."""
    out, pos = [], 0
    for q in find_quotes(text):
        out += [text[pos:q.start], " "]
        pos = q.end
    return "".join(out) + text[pos:]
# The notes' speech verbs (one table for both), plus the adverbs directors use in requests.
DELIVERIES = {**DELIVERY_WORDS, "cry": "cries", "softly": "softly", "quietly": "quietly", "louder": "louder",
              "angrily": "angrily", "slowly": "slowly", "flatly": "flatly", "gently": "gently"}
REMOVE_VERBS = r"cut|remove|delete|drop|lose|kill|ditch|scrap|get\s+rid\s+of|take\s+out|bin"
RENDER_STEPS = {"keyframe": "keyframes", "keyframes": "keyframes", "frames": "keyframes", "images": "keyframes",
                "image": "keyframes", "boards": "keyframes", "board": "keyframes", "storyboards": "keyframes",
                "motion": "motion", "in-betweens": "motion", "inbetweens": "motion", "in-betweening": "motion",
                "tweens": "motion", "voice": "voice", "voices": "voice", "dialogue": "voice", "lines": "voice",
                "audio": "voice", "vo": "voice", "animatic": "animatic", "cut": "animatic"}
STOP = set("""a an the and or of on in at to from with into onto as is are be it its this that then there these
those shot shots one ones where who which what make made give put set let can could would should we i you me my
our us please just now also again instead more less much very really bit little some for by so too same want
need like go get have has had do does did not no but if about over under up down out off than just scene
version versions option options alternative alternatives take takes his her their them they he she him""".split())
REQUEST_VERBS = (r"make|add|insert|cut|remove|delete|drop|lose|kill|ditch|scrap|move|swap|give|render|generate|"
                 r"draw|run|do|put|change|set|shoot|go|lock|pan|tilt|track|push|pull|crane|zoom|rewrite|use|"
                 r"voice|get|try|show|new")


@dataclass
class Context:
    """What the conversation has been about: the shots the last request touched."""

    shots: list[str] = field(default_factory=list)
    ops: list = field(default_factory=list)


class Unsure(Exception):
    """The request cannot be mapped with confidence: ask this question."""


# ---- references --------------------------------------------------------------------------
def _stem(word: str) -> str:
    w = word.lower().strip("'’")
    w = re.sub(r"(?:'s|’s)$", "", w)
    for suffix in ("ing", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            break
    return w.rstrip("e")


def _shot_words(shot: Shot) -> set[str]:
    text = f"{shot.action} {' '.join(shot.characters)} {shot.image_prompt}"
    return {_stem(w) for w in re.findall(r"[A-Za-z][A-Za-z'’\-]+", text) if w.lower() not in STOP}


def numbers_in(text: str, sheet: BeatSheet) -> list[str]:
    """Shot numbers written in a clause (3, 3A, #4, shots 2–5), in order."""
    numbers = [s.number for s in sheet.shots]
    out: list[str] = []
    for m in re.finditer(r"\b(\d{1,3}[A-Za-z]?)\s*(?:-|–|—|to|through|thru)\s*(\d{1,3}[A-Za-z]?)\b", text):
        a, b = m.group(1).upper(), m.group(2).upper()
        if a in numbers and b in numbers and numbers.index(a) < numbers.index(b):
            out += numbers[numbers.index(a): numbers.index(b) + 1]
    text = re.sub(r"\b(\d{1,3}[A-Za-z]?)\s*(?:-|–|—|to|through|thru)\s*(\d{1,3}[A-Za-z]?)\b",
                  lambda m: " " if m.group(1).upper() in out else m.group(0), text)
    for m in re.finditer(r"(?<![\w.])#?(\d{1,3}[A-Za-z]?)(?![\w.])", text):
        n = m.group(1).upper()
        if n in numbers and n not in out:
            out.append(n)
    return out


def ordinal_refs(text: str, sheet: BeatSheet) -> list[str]:
    if not sheet.shots:
        return []
    low = text.lower()
    if re.search(r"\b(?:the\s+)?(?:opening|first)(?:\s+shot|\s+one)?\b", low) and not re.search(
            r"\b(?:at|to)\s+the\s+(?:very\s+)?(?:start|beginning|top)", low):
        return [sheet.shots[0].number]
    if re.search(r"\b(?:the\s+)?(?:last|final|closing|ending|end)\s+(?:shot|one|image|frame)\b|\bthe\s+ending\b",
                 low):
        return [sheet.shots[-1].number]
    if m := re.search(r"\bthe\s+(second|third|fourth|fifth)\s+(?:shot|one)\b", low):
        i = ["second", "third", "fourth", "fifth"].index(m.group(1)) + 1
        return [sheet.shots[i].number] if i < len(sheet.shots) else []
    return []


DESCRIBED = re.compile(r"\b(?:the\s+(?:shot|one)\s+(?:where|with|of|when|in\s+which)|the\s+[\w'’\-]+(?:\s+[\w'’\-]+)?"
                       r"\s+(?:shot|insert|close-?up|wide|one|two-shot)\b|where\b|[\w]+(?:'s|’s)\s+"
                       r"(?:close-?up|shot|insert|wide|moment|line)|the\s+shot\s+of\b|the\s+[\w\-]+ing\s+shot|"
                       r"(?:cut|lose|drop|remove)\s+the\s+[\w\-]+|(?:before|after)\s+[A-Z][\w'’]+\s+[a-z]+)", re.I)


def described_refs(text: str, sheet: BeatSheet, *, size_words: str = "") -> list[str]:
    """`the bridge shot`, `the shot where she kneels`, `Mira's close-up`: the best-matching shot(s)."""
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'’\-]+", text) if w.lower() not in STOP]
    wanted = {_stem(w) for w in words}
    size = None
    low = (size_words or text).lower()
    if re.search(r"\bclose-?ups?\b", low):
        size = {Size.CU, Size.ECU, Size.MCU}
    elif re.search(r"\binsert\b", low):
        size = {Size.INSERT}
    elif re.search(r"\bwide\s+(?:shot|one)\b", low):
        size = {Size.WS, Size.EWS, Size.MWS}
    scores = []
    for shot in sheet.shots:
        words = _shot_words(shot)
        overlap = len(wanted & words) + 0.75 * len({w for w in wanted - words if len(w) >= 4 and any(
            len(x) > len(w) and (x.endswith(w) or x.startswith(w)) for x in words)})  # bridge ~ footbridge
        if size and shot.size not in size:
            overlap = overlap - 10 if overlap else -10
        elif size:
            overlap += 0.5 if shot.size in (Size.CU, Size.INSERT, Size.WS) else 0.25
        scores.append((overlap, shot.number))
    best = max((sc for sc, _ in scores), default=0)
    if best < 0.75:
        return []
    return [n for sc, n in scores if sc == best]


# ---- clauses -----------------------------------------------------------------------------------
SPLIT_STRONG = re.compile(r"\s*(?:;|,?\s+and\s+then\s+|,\s*then\s+|\bthen\s+(?=(?:" + REQUEST_VERBS + r")\b)|"
                          r",?\s+also,?\s+|,?\s+plus\s+|\.\s+(?=[A-Z])|\s+[—–]\s+|\s+--\s+|\n+)\s*", re.I)


def split_clauses(text: str, sheet: BeatSheet) -> list[str]:
    """Split on `;`, `then`, `also`, and on `and`/`,` where what follows is a request of its own."""
    hidden: list[str] = []
    pieces, pos = [], 0
    for q in find_quotes(text):
        hidden.append(text[q.start:q.end])
        pieces += [text[pos:q.start], f"\x00{len(hidden) - 1}\x00"]
        pos = q.end
    masked = "".join(pieces) + text[pos:]
    parts: list[str] = []
    for piece in SPLIT_STRONG.split(masked):
        if not piece or not piece.strip():
            continue
        parts += _split_and(piece, sheet)
    return [re.sub(r"\x00(\d+)\x00", lambda m: hidden[int(m.group(1))], p).strip(" ,.") for p in parts if
            p.strip(" ,.")]


def _split_and(piece: str, sheet: BeatSheet) -> list[str]:
    names = "|".join(re.escape(c.name) for c in sheet.characters) or r"(?!x)x"
    starts = rf"(?:{REQUEST_VERBS})\b|(?:{names})\s+(?:should|whispers|shouts|cries|mutters|snaps|screams)\b|" \
             rf"(?:tighter|wider|closer|looser)\b|\d{{1,3}}[A-Za-z]?\s+(?:as|→|->|should|to)\b|" \
             rf"(?:\d+(?:\.\d+)?|{_NUMW})\s*(?:s|sec|secs|seconds?)\s+on\b|(?:a|an)\s+\d{{2,3}}\s*mm\b"
    out, rest = [], piece
    while True:
        m = re.search(rf",?\s+and\s+(?={starts})|,\s+(?=(?:{REQUEST_VERBS})\b)|,\s+(?=(?:a|an)\s+\d{{2,3}}\s*mm)|"
                      rf",\s+(?=(?:tighter|wider)\b)", rest, re.I)
        if not m or m.start() == 0:
            out.append(rest)
            return out
        left = rest[: m.start()]
        if not re.search(r"\d|\b(?:it|the|shot|shots)\b|[A-Z]", left) and len(left.split()) < 3:
            out.append(rest)  # "push in and hold": one request
            return out
        out.append(left)
        rest = rest[m.end():]


# ---- understanding one message ------------------------------------------------------------------
def understand(text: str, sheet: BeatSheet, history: list[str] | None = None) -> tuple[list, str]:
    """(ops, answer): operations in the order said; or an answer to a question (no ops); or a
    single Clarify when anything is unclear. Nothing partial: one unclear clause asks about all."""
    ctx = Context()
    for earlier in (history or [])[-6:]:
        try:
            ops = _message_ops(earlier, sheet, Context(shots=list(ctx.shots), ops=list(ctx.ops)))
        except Unsure:
            ops = []
        refs = [r for op in ops for r in _op_refs(op)] or numbers_in(earlier, sheet)  # "what lens is on 3?"
        if refs:
            ctx = Context(shots=refs, ops=ops)
    answer = answer_question(text, sheet)
    if answer:
        return [], answer
    try:
        return _message_ops(text, sheet, ctx), ""
    except Unsure as e:
        return [Clarify(question=str(e)[:300])], ""


def _op_refs(op) -> list[str]:
    if isinstance(op, (Change, Remove, Move, Line)) and op.shot:
        return [op.shot]
    if isinstance(op, (Alternatives, Render)):
        return list(op.shots)
    if isinstance(op, Add):
        return []
    return []


def _message_ops(text: str, sheet: BeatSheet, ctx: Context) -> list:
    clauses = split_clauses(text, sheet)
    if not clauses:
        raise Unsure(_help(sheet))
    ops: list = []
    topic = ""
    for i, clause in enumerate(clauses):
        if topic:  # "the one with the boat, give it a slow push": the topic belongs to what follows
            clause, topic = f"{topic}, {clause}", ""
        try:
            got = clause_ops(clause, sheet, ctx)
        except Unsure:
            if i == len(clauses) - 1:
                raise
            got = []
        if not got and i < len(clauses) - 1:
            topic = clause
            continue
        if not got:
            raise Unsure(_help(sheet) if len(clauses) == 1 else f"I understood part of that but not “{clause}”. "
                         + _help(sheet, short=True))
        ops += got
        refs = [r for op in got for r in _op_refs(op)]
        if refs:
            ctx = Context(shots=refs, ops=got)
    return _merge_changes(ops)


def _merge_changes(ops: list) -> list:
    """`shot 4: low angle, handheld, 5 seconds` said in pieces is one change of shot 4."""
    out: list = []
    for op in ops:
        prev = out[-1] if out else None
        if isinstance(op, Change) and isinstance(prev, Change) and prev.shot == op.shot and not (
                set(prev.changes.given()) & set(op.changes.given())):
            out[-1] = Change(shot=op.shot, changes=ShotChanges(**{**prev.changes.given(), **op.changes.given()}))
        else:
            out.append(op)
    return out


def _help(sheet: BeatSheet, short: bool = False) -> str:
    numbers = [s.number for s in sheet.shots]
    span = f"{numbers[0]}–{numbers[-1]}" if numbers else "none yet"
    if short:
        return f"Shots are {span}."
    return (f"I'm not sure what to change. Shots are {span}. Try “make shot 3 a close-up”, “add a shot of the "
            f"drone landing after 2”, “cut shot 4”, “move shot 5 after 2”, “Mira should whisper the line”, "
            f"“two alternatives for the opening” or “render keyframes for shots 2–3”.")


def _targets(clause: str, sheet: BeatSheet, ctx: Context, *, strip: str = "") -> list[str]:
    """The shots a clause is about: numbers, ordinals, a description, or `it` from the conversation."""
    work = re.sub(strip, " ", clause, flags=re.I) if strip else clause
    work = LENS.sub(" ", DURATION.sub(" ", COUNT.sub(" ", work)))
    refs = numbers_in(work, sheet)
    if refs:
        return refs
    numbers = [s.number for s in sheet.shots]
    for m in re.finditer(r"\bshots?\s+#?(\d{1,4}[A-Za-z]?)\b", work, re.I):
        if m.group(1).upper() not in numbers:
            raise Unsure(f"There is no shot {m.group(1).upper()}; {_help(sheet, short=True).lower()}")
    refs = ordinal_refs(work, sheet)
    if refs:
        return refs
    if re.search(r"\b(?:it|that\s+one|this\s+one|that\s+shot|this\s+shot|there|the\s+same|them|those)\b", work,
                 re.I) and not DESCRIBED.search(work):
        if ctx.shots:
            return list(ctx.shots)
        raise Unsure(f"Which shot do you mean? {_help(sheet, short=True)}")
    desc = _CAMERA_TALK.sub(" ", _unquoted(work))
    if re.search(r"[A-Za-z]{3,}", desc):
        refs = described_refs(desc, sheet, size_words=work)
        if len(refs) == 1:
            return refs
        if len(refs) > 1:
            raise Unsure(f"Which shot do you mean: {', '.join(refs[:-1])} or {refs[-1]}?")
    return []


_CAMERA_TALK = re.compile(
    r"\b(?:make|give|put|shoot|set|change|go|lock|should|be|could|would|want|need|please|on|in|it|an?|"
    r"low|high|angle|overhead|aerial|dutch|canted|handheld|static|locked|off|push|pull|slow|slowly|fast|dolly|"
    r"crane|up|down|pan|across|tilt|track|tracking|with|zoom|wider|tighter|closer|looser|extreme|medium|close-?up|"
    r"mm|seconds?|secs?|lens|duration|long|longer|shorter|seconds|version|versions|alternatives?|options?|render|"
    r"keyframes?|voice|motion|animatic|cut|lose|drop|remove|delete|kill|ditch|scrap|get|rid|of|move|to|after|"
    r"before|start|end|only|just|I|we|the|shot|one|where|s|ecu|cu|mcu|ms|mws|ws|ews|ots|pov|wide|hold|"
    r"from|above|below|instead|no|not|rather|than)\b", re.I)


def clause_ops(clause: str, sheet: BeatSheet, ctx: Context) -> list:
    """The operations one clause asks for; [] when it asks for nothing this module knows."""
    low = clause.lower()
    quoted = _quoted(clause)
    names = [c.name for c in sheet.characters]

    # "the same in 6": the previous request, on other shots
    if re.search(r"\b(?:the\s+same|same\s+(?:thing|again))\b", low) and ctx.ops:
        refs = numbers_in(clause, sheet) or ordinal_refs(clause, sheet)
        if refs:
            return [op.model_copy(update={"shot": r}) for r in refs for op in ctx.ops if hasattr(op, "shot")]

    # proposed tool calls
    m = re.search(r"\b(render|generate|draw|run|do|make|create|build|voice|redo)\b(?:\s+(?:the|new|me|some|all))?\s*"
                  r"(keyframes?|frames|images?|boards?|storyboards|motion|in-?betweens|in-?betweening|tweens|"
                  r"voices?|dialogue|audio|vo|animatic)\b", low)
    if m or re.match(r"\s*(?:voice|voices|keyframes|motion)\s+(?:the|all|for|on|shots?|\d)", low):
        noun = m.group(2) if m else low.split()[0]
        step = RENDER_STEPS.get(noun.replace("in-between", "inbetween"), "voice")
        speakers = [n for n in names if re.search(rf"\b{re.escape(n)}(?:'s|’s)?\s+lines?\b", clause, re.I)]
        if speakers:  # "voice for Mira's lines"
            refs = [s.number for s in sheet.shots if any(d.character == speakers[0] for d in s.dialogue)]
        else:
            refs = _targets(re.sub(r"\bfor\s+everything\b|\ball\b", " ", clause), sheet, ctx,
                            strip=r"\b(?:render|generate|draw|run|do|create|build|voice|keyframes?|frames|images?|"
                                  r"motion|voices?|dialogue|animatic)\b")
        return [Render(step=step, shots=[] if step == "animatic" else refs)]

    # alternatives
    if re.search(r"\b(?:alternatives?|versions?|options?|variations?|alts?|takes?)\b", low) and not quoted:
        cm = COUNT.search(clause)
        count = 2
        if cm:
            raw = cm.group(1).lower()
            count = int(raw) if raw.isdigit() else int(NUMBER_WORDS.get(raw, 2))
        refs = _targets(clause, sheet, ctx)
        if not refs:
            raise Unsure(f"Alternatives of which shot? {_help(sheet, short=True)}")
        return [Alternatives(shots=refs, count=max(1, min(4, count)))]

    # cut a shot (not "cut to")
    if re.search(rf"\b(?:{REMOVE_VERBS})\s+(?:the|shot|shots|it|that|this|them|#?\d|out\b|all)", low) and not \
            re.search(r"\bcut\s+to\b|\bcut\s+(?:on|away)\b", low):
        refs = _targets(clause, sheet, ctx, strip=rf"\b(?:{REMOVE_VERBS})\b")
        if not refs:
            raise Unsure(f"Which shot should go? {_help(sheet, short=True)}")
        return [Remove(shot=r) for r in refs]

    # swap / move
    if re.search(r"\bswap\b|\bswitch\b|\bflip\b|\btrade\b", low):
        refs = numbers_in(clause, sheet)
        if len(refs) != 2:
            raise Unsure(f"Which two shots should swap? {_help(sheet, short=True)}")
        numbers = [s.number for s in sheet.shots]
        a, b = sorted(refs, key=numbers.index)
        ia, ib = numbers.index(a), numbers.index(b)
        if ib == ia + 1:
            return [Move(shot=a, after=b)]
        return [Move(shot=a, after=b), Move(shot=b, after=numbers[ia - 1] if ia > 0 else "")]
    if re.search(r"\bmove\b|\bput\b.*\b(?:after|before)\b|\bbring\b", low) and not re.search(r"\bmm\b", low):
        return _move(clause, sheet, ctx)

    # a new shot
    if re.search(r"\badd\b|\binsert\s+(?:a|an|another|one|shot)\b|^\s*insert\b|\bnew\s+shot\b|"
                 r"\bone\s+more\s+shot\b|\banother\s+shot\b", low):
        return [_add(clause, sheet, ctx)]

    # lines: delivery or text
    line = _line(clause, sheet, ctx, names)
    if line is not None:
        return [line]

    # changes to the shot itself
    changes = _changes(clause, sheet)
    if changes:
        refs = _targets(clause, sheet, ctx)
        if not refs:
            raise Unsure(f"Which shot do you mean? {_help(sheet, short=True)}")
        out = []
        for r in refs:
            c = dict(changes)
            rel = c.pop("_relative", None)
            if rel:
                c["size"] = _relative_size(sheet.shot(r).size, rel)
            out.append(Change(shot=r, changes=ShotChanges(**c)))
        return out
    return []


def _relative_size(size: Size, direction: int) -> Size:
    if size not in SIZE_LADDER:
        size = Size.MS
    i = SIZE_LADDER.index(size) + direction
    return SIZE_LADDER[max(0, min(len(SIZE_LADDER) - 1, i))]


def _changes(clause: str, sheet: BeatSheet) -> dict:
    low = clause.lower()
    quoted = _quoted(clause)
    out: dict = {}
    if quoted and re.search(r"\b(?:image\s+)?prompt\b", low):
        out["image_prompt"] = quoted
        return out
    if quoted and re.search(r"\baction\b|\brewrite\b|\bdescription\b", low):
        out["action"] = quoted
        return out
    work = _unquoted(low)
    work = re.sub(r"\b(?:not|no|instead\s+of)\s+(?:a\s+|the\s+)?[\w\-]+(?:\s+(?:in|out|up|down))?", " ", work)
    if m := DURATION.search(work):
        raw = m.group(1).lower()
        out["duration_s"] = float(raw) if re.match(r"\d", raw) else float(NUMBER_WORDS[raw])
    if m := LENS.search(work):
        out["lens"] = f"{m.group(1)}mm"
    if re.search(r"\b(?:tighter|closer|tighten|go\s+in)\b", work):
        out["_relative"] = -1
    elif re.search(r"\b(?:wider|looser|widen|go\s+wide)\b", work):
        out["_relative"] = +1
    else:
        for phrase, size in SIZE_PHRASES:
            if phrase in ("close", "wide", "medium") and not re.search(
                    rf"\b(?:a|an|as|to|on|the|it)\s+{phrase}\b|\b{phrase}\s+(?:shot|one|angle)\b|^\s*{phrase}\b",
                    work):
                continue
            if phrase == "insert" and re.search(r"\binsert\s+(?:a|an)\b", work):
                continue
            if re.search(rf"(?:\bthe\s+(?:[\w\-]+\s+){{0,2}}|[’']s\s+){re.escape(phrase)}(?![\w\-])", work) and \
                    not re.search(rf"\b(?:a|an|as|into|to)\s+{re.escape(phrase)}", work):
                continue  # "the umbrella insert", "Mira's close-up" name a shot; they don't change it
            if re.search(rf"(?<![\w\-]){re.escape(phrase)}(?![\w\-])", work):
                out["size"] = size
                break
    angle = _first(ANGLE_WORDS + [(r"\boverhead\b|top[- ]down", Angle.OVERHEAD)], work, None)
    if angle is not None:
        out["angle"] = angle
    move = _first([(r"\bslow\s+push\b|\bpush\b", Movement.DOLLY_IN), (r"\bpull(?:ing)?\s*(?:back|out)\b|\bpull\b",
                                                                     Movement.DOLLY_OUT),
                   (r"\btrack(?:ing)?\b|\bfollow\b|\btruck\b", Movement.TRUCK)] + MOVE_WORDS, work, None)
    if move is not None:
        out["movement"] = move
    elif re.search(r"\b(?:static|lock(?:ed)?\s+(?:it\s+)?off|locked[- ]off|still\s+camera|tripod)\b", work):
        out["movement"] = Movement.STATIC
    return out


def _line(clause: str, sheet: BeatSheet, ctx: Context, names: list[str]) -> Line | None:
    low = clause.lower()
    quoted = _quoted(clause)
    who = [n for n in names if re.search(rf"(?<![\w]){re.escape(n)}(?:'s|’s)?(?![\w])", clause, re.I)]
    talks_line = re.search(r"\blines?\b|\bsay\b|\bsays\b|\bsound\b|\bdeliver", low)
    delivery = None
    positive = re.sub(r"\b(?:not|n't|no)\s+\w+|\bshouldn'?t\s+(?:sound\s+)?[\w\s]+?(?=,|$)", " ", low)
    for word, d in DELIVERIES.items():
        if re.search(rf"\b{word}(?:s|es|ed|ing)?\b", positive):
            delivery = d
            break
    if delivery is None and (m := re.search(r"\bshould\s+(?:be|sound)\s+([a-z][a-z ,]{2,60}?)\s*$", positive)):
        if talks_line:
            delivery = m.group(1).strip()
    pronoun = re.search(r"\b(?:her|his|their)\s+lines?\b", low)
    if not who and not (pronoun and (quoted or delivery)):
        return None
    if not (quoted or delivery) or not (talks_line or delivery):
        return None
    if not who:
        speakers = {d.character for s in sheet.shots for d in s.dialogue}
        raise Unsure(f"Whose line do you mean? {', '.join(sorted(speakers))} have lines.")
    if len(who) > 1:
        return None
    name = who[0]
    refs = numbers_in(LENS.sub(" ", DURATION.sub(" ", clause)), sheet)
    spoken = [s.number for s in sheet.shots if any(d.character.lower() == name.lower() for d in s.dialogue)]
    if not spoken:
        raise Unsure(f"{name} has no lines yet. Which line do you mean?")
    if refs:
        shot = refs[0]
    elif re.search(r"\ball\b|\bevery\b|\blines\b", low) and not quoted:
        shot = ""
    elif len(spoken) == 1:
        shot = spoken[0]
    elif ctx.shots and ctx.shots[0] in spoken and re.search(r"\b(?:it|there|that)\b", low):
        shot = ctx.shots[0]
    else:
        raise Unsure(f"Which of {name}'s lines: shot {', '.join(spoken[:-1])} or {spoken[-1]}?")
    return Line(shot=shot, character=name, delivery=delivery if not quoted or delivery else None,
                text=quoted if quoted else None)


def _position(clause: str, sheet: BeatSheet, ctx: Context) -> tuple[str, str] | None:
    """(after, rest): where an added/moved shot goes; after "" = the very start."""
    numbers = [s.number for s in sheet.shots]
    if re.search(r"\b(?:at|to)\s+the\s+(?:very\s+)?(?:start|beginning|top|front|open(?:ing)?)\b|\bfirst\b", clause,
                 re.I):
        return "", re.sub(r"\b(?:at|to)\s+the\s+(?:very\s+)?(?:start|beginning|top|front|opening)\b", " ",
                          clause, flags=re.I)
    if re.search(r"\b(?:at|to)\s+the\s+(?:very\s+)?end\b|\blast\b", clause, re.I):
        return numbers[-1] if numbers else "", re.sub(r"\b(?:at|to)\s+the\s+(?:very\s+)?end\b", " ", clause,
                                                      flags=re.I)
    m = re.search(r"\b(after|before|following|ahead\s+of)\s+(?:shot\s+)?#?(\d{1,3}[A-Za-z]?)\b", clause, re.I)
    if m and m.group(2).upper() in numbers:
        ref = m.group(2).upper()
        rest = clause[: m.start()] + " " + clause[m.end():]
        if m.group(1).lower() in ("before", "ahead of"):
            i = numbers.index(ref)
            return (numbers[i - 1] if i > 0 else ""), rest
        return ref, rest
    m = re.search(r"\b(after|before)\s+(.{3,80}?)$", clause, re.I)
    if m:
        refs = described_refs(m.group(2), sheet)
        if len(refs) == 1:
            i = numbers.index(refs[0])
            after = refs[0] if m.group(1).lower() == "after" else (numbers[i - 1] if i > 0 else "")
            return after, clause[: m.start()]
        if len(refs) > 1:
            raise Unsure(f"After which shot: {', '.join(refs)}?")
    return None


def _move(clause: str, sheet: BeatSheet, ctx: Context) -> list:
    numbers = [s.number for s in sheet.shots]
    pos = _position(clause, sheet, ctx)
    if pos is None:
        raise Unsure(f"Move it where? Say “move shot 5 after 2”. {_help(sheet, short=True)}")
    after, rest = pos
    refs = _targets(re.sub(r"\bmove\b|\bput\b|\bbring\b", " ", rest, flags=re.I), sheet, ctx)
    if len(refs) != 1:
        raise Unsure(f"Which shot should move? {_help(sheet, short=True)}")
    shot = refs[0]
    if after == shot:
        i = numbers.index(shot)
        after = numbers[i - 1] if i > 0 else ""
    return [Move(shot=shot, after=after)]


def _add(clause: str, sheet: BeatSheet, ctx: Context) -> Add:
    numbers = [s.number for s in sheet.shots]
    pos = _position(clause, sheet, ctx)
    after, rest = pos if pos is not None else ((ctx.shots[-1] if ctx.shots and re.search(
        r"\b(?:after|there|it)\b", clause, re.I) else (numbers[-1] if numbers else "")), clause)
    size = None
    kind = re.search(r"\b(?:add|insert)\s+(?:a|an|another|one\s+more)?\s*([\w\- ]{0,30}?)\s*(?:shot|insert|cutaway)?\s*"
                     r"(?:of|where|showing|with|:)", rest, re.I)
    if kind:
        for phrase, sz in SIZE_PHRASES:
            if re.search(rf"(?<![\w\-]){re.escape(phrase)}(?![\w\-])", kind.group(1).lower()):
                size = sz
                break
    if re.search(r"\binsert\b", rest, re.I) and size is None and re.search(r"\ban?\s+insert\b", rest, re.I):
        size = Size.INSERT
    action = re.sub(r"^.*?\b(?:add|insert|new\s+shot|another\s+shot|one\s+more\s+shot)\b\s*(?:a|an|another|one\s+more)?"
                    r"\s*(?:[\w\-]+\s+){0,3}?(?:shot|close-?up|wide|insert|cutaway)?\s*(?:of|where|showing|with|:)?\s*",
                    "", rest, count=1, flags=re.I | re.S).strip(" .:,-—")
    while m := re.match(r"(?:shot|close-?up|wide|insert|cutaway)\b\s*(?:of|where|showing|with|:)?\s*|"
                        r"(?:of|where|showing|with|:)\s+", action, re.I):
        action = action[m.end():]  # "a close-up shot of …": the size and "shot of" are not the action
    action = re.sub(r"\s+(?:please|thanks)$", "", action, flags=re.I)
    if len(re.findall(r"[A-Za-z]{3,}", action)) < 2:
        raise Unsure("What happens in the new shot? Say “add a shot of the boat arriving after 3”.")
    action = action[0].upper() + action[1:]
    if not action.endswith((".", "!", "?")):
        action += "."
    return Add(after=after, action=action[:600], size=size)


# ---- answers -------------------------------------------------------------------------------------
QUESTION = re.compile(r"^\s*(?:(?:how|what|which|who|whose|when|why|where)\s+(?:is|are|was|were|does|do|did|many|much|"
                      r"long|lens|shots?|speaks?|says?|happens|about|would|should|could|can)\b|(?:is|are|was|were|"
                      r"does|do\s+(?:you|i|we|they)|did|have|has)\b)", re.I)
CHAT = re.compile(r"^\s*(?:thanks?|thank\s+you|cheers|great|nice|cool|ok(?:ay)?|good\s+(?:morning|night|evening|job)|"
                  r"hi|hello|hey|lol|haha|i\s+need\s+a\s+(?:coffee|break)|brb|love\s+it|perfect)\b", re.I)


def answer_question(text: str, sheet: BeatSheet) -> str:
    """A question about the sheet (or plain chat) gets an answer, never an edit."""
    low = text.lower().strip()
    if CHAT.match(low) and not re.search(rf"\b(?:{REQUEST_VERBS})\b\s+(?:shot|\d|the|it)", low):
        return "Happy to help. Tell me what to change, or approve the draft to go on."
    if not (QUESTION.match(low) or (low.endswith("?") and not re.match(r"\s*(?:can|could|would)\s+(?:we|you|i)\b",
                                                                          low))):
        return ""
    total = sum(s.duration_s for s in sheet.shots)
    refs = numbers_in(text, sheet)
    names = [c.name for c in sheet.characters if re.search(rf"\b{re.escape(c.name)}\b", text, re.I)]
    if re.search(r"how\s+long", low) and not refs:
        return f"{len(sheet.shots)} shots, {total:g} s in all."
    if refs:
        shot = sheet.shot(refs[0])
        if re.search(r"\blens\b", low):
            return f"Shot {shot.number}: " + (f"{shot.lens}." if shot.lens else "no lens set yet.")
        if re.search(r"\bwho\b", low):
            who = sorted({d.character for d in shot.dialogue})
            return f"Shot {shot.number}: " + (", ".join(who) if who else "nobody speaks") + "."
        if re.search(r"\bsay\b|\bsays\b|\bline\b", low):
            said = [f"{d.character}: “{d.text}”" for d in shot.dialogue
                    if not names or d.character in names]
            return f"Shot {shot.number}: " + ("; ".join(said) if said else "no lines") + "."
        return (f"Shot {shot.number}: {shot.size.value}, {shot.angle.value}, {shot.movement.value}, "
                f"{shot.duration_s:g} s — {shot.action}")
    if re.search(r"no\s+(?:dialogue|lines)|silent", low):
        quiet = [s.number for s in sheet.shots if not s.dialogue]
        return "No dialogue in shots " + ", ".join(quiet) + "." if quiet else "Every shot has dialogue."
    if names and re.search(r"how\s+many|which\s+shots", low):
        inn = [s.number for s in sheet.shots if names[0] in s.characters or
               any(d.character == names[0] for d in s.dialogue)]
        return f"{names[0]} is in {len(inn)} shot(s): {', '.join(inn)}."
    if re.search(r"how\s+many\s+shots", low):
        return f"{len(sheet.shots)} shots in {len(sheet.scenes)} scene(s)."
    return (f"{len(sheet.shots)} shots, {total:g} s. I can change framing, timing, lines and order, add or cut "
            f"shots, and propose renders — tell me what to change.")
