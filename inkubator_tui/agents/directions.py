"""Directions to the crew inside notes: not shots.

`Hold for three seconds, then smash cut to white.` sets the previous shot's
duration and its transition; `give that one 8 seconds or so` sets a duration;
`Keep it warm and quiet.` or `Music: low cello under all of this.` is a note
for the shot before it (or, with no shot yet, for the whole project). None of
them is a new shot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30,
                "a couple of": 2, "a couple": 2, "a few": 3, "several": 4, "half a": 0.5, "a": 1, "an": 1,
                "a full": 1}
_NUM = r"(\d+(?:\.\d+)?|" + "|".join(sorted(map(re.escape, NUMBER_WORDS), key=len, reverse=True)) + r")"
SECONDS = re.compile(_NUM + r"(?:\s*(?:-|–|to|or)\s*\d+(?:\.\d+)?)?\s*(?:full\s+)?(?:s|sec|secs|seconds?)\b", re.I)
DURATION_CUE = re.compile(
    r"^\s*(?:and\s+)?(?:hold|holding|linger|lingering|stay|staying|let\s+(?:it|that|this)\s+(?:run|play|sit|"
    r"breathe|hang)|give\s+(?:that|this|it|the\s+shot|the\s+moment)(?:\s+one)?|(?:that|this)\s+(?:one|shot)\s+"
    r"(?:runs|lasts|plays|is|for)|runs?\s+(?:for\s+)?|lasts?\s+|about|around|roughly|approx\.?|maybe|duration|"
    r"length|\()", re.I)
TRANSITION = re.compile(
    r"\b((?:smash|hard|match|jump|quick)\s+cut\s+to(?:\s+(?:black|white|red|the\s+title|title|credits))?|"
    r"cut\s+to\s+(?:black|white|red|credits|the\s+title|title)|fade\s+(?:out|in|up|down)(?:\s+(?:to|from)\s+"
    r"(?:black|white))?|fade\s+to\s+(?:black|white)|dissolve(?:\s+to)?|wipe(?:\s+to)?|iris\s+(?:out|in)|"
    r"cross[- ]?fade|white[- ]?out|black[- ]?out|cut\s+to\s*:?)(?=[\s.,:;!]|$)", re.I)
# What is left when the transition names no picture of its own ("smash cut to white" is not a shot).
PURE_TRANSITION = re.compile(r"^\W*(?:and\s+|then\s+|,\s*)*$", re.I)
CREW_NOTE = re.compile(
    r"^\s*(?:keep\s+(?:it|this|that|everything|the)|make\s+sure|let'?s|let’s|we\s+(?:want|need|should)|"
    r"i\s+(?:want|need|'d\s+like|’d\s+like|would\s+like)|play\s+(?:it|this|that)|aim\s+for|go\s+for|"
    r"think\s+|it\s+should|this\s+should|should\s+feel|everything\s+should|the\s+whole\s+(?:thing|scene)|"
    r"(?:music|score|sound|sfx|audio|tone|mood|style|colou?r|grade|grading|palette|lighting|pacing|pace|"
    r"note|notes|ref|refs|reference|references|vibe|feel|vo|wardrobe|props?|edit|editor|director'?s?\s+note)"
    r"\s*[:\-–—]|no\s+music|silence\s+under|all\s+of\s+this|throughout|overall|tone\s+is|"
    r"(?:very|quite|really|super|kinda)\s+\w+\s+(?:and|,)\s+\w+\s*\.?$|don'?t\s+|do\s+not\s+|avoid\s+|"
    r"remember\s+|important\s*:|nb\s*:|n\.b\.|(?:hi|hey|hello|dear)\b.{0,40}(?:all|team|everyone|folks|guys)\b|"
    r"notes?\s+(?:from|for|on)\s+(?:the|this|today|yesterday|our)|(?:thanks|cheers|best|regards)\b)", re.I)


@dataclass
class Direction:
    """What one direction sentence says; a sentence may set several things."""

    text: str
    duration_s: float | None = None
    transition: str = ""
    note: str = ""
    rest: str = ""  # a shot that follows the transition ("cut to the alarm panel")


def _seconds(text: str) -> float | None:
    m = SECONDS.search(text)
    if not m:
        return None
    raw = m.group(1).lower()
    value = float(raw) if re.match(r"\d", raw) else float(NUMBER_WORDS[raw])
    return value if 0 < value <= 120 else None


def read_direction(sentence: str) -> Direction | None:
    """A direction if the sentence is one (duration, transition, crew note), else None."""
    s = sentence.strip()
    if not s:
        return None
    plain = re.sub(r"^[\s\-*•]+|[\s.!]+$", "", s)
    d = Direction(text=s)
    # "Hold for three seconds", "give that one 8 seconds or so", "(4s)", "— 3 sec"
    if (DURATION_CUE.match(plain) or re.fullmatch(r"[(\[—–-]?\s*" + SECONDS.pattern + r"\s*(?:or so)?[)\]]?",
                                                  plain, re.I)) and _seconds(plain) is not None:
        d.duration_s = _seconds(plain)
        tail = plain[SECONDS.search(plain).end():]
    elif re.match(r"^\s*(?:hold|linger|stay)\s+(?:on\s+(?:it|that|this|her|him|them)|there|a\s+(?:beat|moment))"
                  r"\b", plain, re.I):
        d.note = plain
        tail = ""
        t = TRANSITION.search(plain)
        if t:
            d.note, d.transition = plain[:t.start()].rstrip(" ,;") , _tidy(t.group(1))
            d.rest = _rest(plain[t.end():])
        return d
    else:
        tail = plain
    t = TRANSITION.search(tail)
    if t and (d.duration_s is not None or PURE_TRANSITION.match(tail[:t.start()])):
        d.transition = _tidy(t.group(1))
        d.rest = _rest(tail[t.end():])
        return d
    if d.duration_s is not None:
        return d
    if CREW_NOTE.match(plain):
        d.note = plain.rstrip(".") + "."
        return d
    return None


def _tidy(transition: str) -> str:
    return re.sub(r"\s+", " ", transition.strip().lower()).rstrip(" :")


def _rest(text: str) -> str:
    rest = text.strip(" .,:;—–-")
    return rest if re.search(r"[A-Za-z]{3}", rest) and not re.fullmatch(r"(?:black|white|red|credits|title)",
                                                                       rest, re.I) else ""
