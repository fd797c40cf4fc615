"""How a line is said, in numbers every engine can use.

A script says "(whispers)", "shouting", "mutters"; a redo note says "slower
and more tired". Each engine supports different knobs (Piper: length and
noise scales; Kokoro: speed; espeak-ng: words a minute, pitch, a whisper
voice; Coqui: speed), so the words are read once into one `Delivery` and
each engine maps it to what it has. Loudness is applied by every engine the
same way, after synthesis, relative to the project's target level, so a
whisper stays quieter than a shout after normalisation.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

# word → (rate ×, gain dB, pitch semitones, variation ×, whisper)
# rate > 1 speaks faster; variation scales the engine's expressiveness (Piper's noise).
WORDS: dict[str, tuple[float, float, float, float, bool]] = {
    # quiet
    "whisper": (0.92, -12.0, 0.0, 0.7, True),
    "hushed": (0.92, -10.0, 0.0, 0.7, True),
    "breath": (0.92, -10.0, 0.0, 0.7, True),  # "under her breath"
    "mutter": (0.95, -8.0, -1.0, 0.6, False),
    "murmur": (0.92, -8.0, -0.5, 0.6, False),
    "mumble": (0.95, -8.0, -1.0, 0.5, False),
    "quiet": (0.95, -6.0, 0.0, 0.8, False),
    "soft": (0.93, -6.0, 0.0, 0.8, False),
    "gentle": (0.92, -4.0, 0.0, 0.9, False),
    # loud
    "shout": (1.08, 6.0, 2.0, 1.3, False),
    "yell": (1.1, 6.0, 2.0, 1.3, False),
    "scream": (1.12, 7.0, 3.0, 1.4, False),
    "bellow": (1.0, 7.0, -1.0, 1.3, False),
    "call": (1.0, 4.0, 1.0, 1.1, False),  # "calls out"
    "loud": (1.0, 5.0, 1.0, 1.1, False),
    "snap": (1.15, 3.0, 1.0, 1.1, False),
    "bark": (1.15, 4.0, 0.0, 1.1, False),
    "angry": (1.05, 3.0, 0.5, 1.2, False),
    "furious": (1.08, 5.0, 1.0, 1.3, False),
    # pace
    "slow": (0.8, 0.0, 0.0, 1.0, False),
    "fast": (1.2, 0.0, 0.0, 1.0, False),
    "quick": (1.2, 0.0, 0.0, 1.0, False),
    "rush": (1.25, 1.0, 0.5, 1.0, False),
    "hurried": (1.25, 1.0, 0.5, 1.0, False),
    "urgent": (1.2, 2.0, 1.0, 1.1, False),
    "breathless": (1.15, -2.0, 1.0, 1.1, False),
    "drawl": (0.8, 0.0, -0.5, 0.9, False),
    "pause": (0.85, 0.0, 0.0, 1.0, False),  # "with a pause", "pausing"
    "hesitant": (0.85, -2.0, 0.0, 0.9, False),
    # mood
    "tired": (0.85, -3.0, -1.0, 0.7, False),
    "weary": (0.85, -3.0, -1.0, 0.7, False),
    "exhausted": (0.8, -4.0, -1.5, 0.6, False),
    "sleepy": (0.82, -4.0, -1.0, 0.6, False),
    "sad": (0.88, -3.0, -1.0, 0.7, False),
    "flat": (0.95, -1.0, -0.5, 0.4, False),
    "monotone": (0.95, -1.0, -0.5, 0.3, False),
    "cold": (0.95, -1.0, -0.5, 0.6, False),
    "calm": (0.92, -2.0, -0.5, 0.8, False),
    "warm": (0.95, 0.0, -0.5, 1.0, False),
    "tender": (0.9, -4.0, 0.0, 0.9, False),
    "excited": (1.1, 2.0, 2.0, 1.3, False),
    "bright": (1.05, 1.0, 1.5, 1.2, False),
    "cheerful": (1.05, 1.0, 1.5, 1.2, False),
    "happy": (1.05, 1.0, 1.0, 1.2, False),
    "nervous": (1.1, -2.0, 1.0, 1.2, False),
    "afraid": (1.08, -3.0, 1.5, 1.2, False),
    "scared": (1.08, -3.0, 1.5, 1.2, False),
    "sarcastic": (0.95, 0.0, 0.0, 1.2, False),
    "firm": (0.95, 2.0, -0.5, 0.8, False),
    "stern": (0.93, 2.0, -1.0, 0.7, False),
}
# Comparatives a redo note uses on their own ("slower", "louder").
COMPARATIVES: dict[str, tuple[float, float, float, float, bool]] = {
    "slower": (0.8, 0.0, 0.0, 1.0, False),
    "faster": (1.2, 0.0, 0.0, 1.0, False),
    "quicker": (1.2, 0.0, 0.0, 1.0, False),
    "louder": (1.0, 5.0, 0.5, 1.1, False),
    "quieter": (1.0, -6.0, 0.0, 0.9, False),
    "softer": (0.95, -6.0, 0.0, 0.8, False),
    "higher": (1.0, 0.0, 2.0, 1.0, False),
    "lower": (1.0, 0.0, -2.0, 1.0, False),
    "deeper": (1.0, 0.0, -2.0, 1.0, False),
    "calmer": (0.92, -2.0, -0.5, 0.8, False),
    "angrier": (1.05, 3.0, 0.5, 1.2, False),
    "warmer": (0.95, 0.0, -0.5, 1.0, False),
    "colder": (0.95, -1.0, -0.5, 0.6, False),
}
# Forms a script writes → the word above ("whispering", "whispered", "shouts").
_STEM = re.compile(r"(?:ing|ed|es|s|ly|ily)$")
# Words that scale the next mood: "more tired", "much slower", "a bit louder", "very quiet".
INTENSIFIERS = {"more": 1.5, "much": 1.6, "very": 1.5, "really": 1.5, "even": 1.6, "extremely": 2.0,
                "lot": 1.6, "bit": 0.5, "little": 0.5, "slightly": 0.5, "somewhat": 0.7, "touch": 0.5}
NEGATIONS = {"less", "not", "no", "don't", "dont"}
LIMITS = {"rate": (0.5, 2.0), "gain_db": (-18.0, 9.0), "pitch": (-6.0, 6.0), "variation": (0.2, 2.0)}


@dataclass(frozen=True)
class Delivery:
    """A read's rate (×, >1 faster), gain (dB relative to the project's level), pitch
    (semitones, where an engine can), variation (× expressiveness), whisper (an engine's
    whisper voice, where it has one) and the words they came from."""

    rate: float = 1.0
    gain_db: float = 0.0
    pitch: float = 0.0
    variation: float = 1.0
    whisper: bool = False
    words: tuple[str, ...] = field(default=())

    @property
    def neutral(self) -> bool:
        return not self.words

    def record(self) -> dict:
        """What provenance keeps: the numbers and the words that made them."""
        out = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        out["words"] = list(self.words)
        return out


def _lookup(word: str) -> tuple[str, tuple[float, float, float, float, bool]] | None:
    if word in COMPARATIVES:
        return word, COMPARATIVES[word]
    if word in WORDS:
        return word, WORDS[word]
    for stem in (_STEM.sub("", word), word.rstrip("s"), re.sub(r"(ily|ly)$", "", word), re.sub(r"ily$", "y", word),
                 re.sub(r"ly$", "le", word), re.sub(r"ier$", "y", word), re.sub(r"(\w)\1ing$", r"\1", word)):
        if stem in WORDS:
            return stem, WORDS[stem]
        if stem + "e" in WORDS:  # "pausing" → "paus" → pause
            return stem + "e", WORDS[stem + "e"]
    return None


def parse(*texts: str) -> Delivery:
    """Read delivery words from a parenthetical, a delivery field and a redo note, in that
    order; effects multiply (rate, variation) or add (gain, pitch). Unknown words are ignored."""
    rate, gain, pitch, variation, whisper = 1.0, 0.0, 0.0, 1.0, False
    found: list[str] = []
    for text in texts:
        tokens = re.findall(r"[a-z']+", (text or "").lower())
        scale, negate = 1.0, False
        for tok in tokens:
            if tok in INTENSIFIERS:
                scale *= INTENSIFIERS[tok]
                continue
            if tok in NEGATIONS:
                negate = True
                continue
            hit = _lookup(tok)
            if hit is None:
                if tok not in {"a", "and", "the", "with", "her", "his", "their", "under", "voice", "tone", "out",
                               "to", "in", "of", "but", "so", "too", "it", "say", "says", "said", "read"}:
                    scale, negate = 1.0, False
                continue
            name, (r, g, p, v, w) = hit
            s = -scale if negate else scale
            rate *= r ** s
            variation *= v ** s
            gain += g * s
            pitch += p * s
            whisper = whisper or (w and not negate)
            found.append(("less " if negate else "") + name)
            scale, negate = 1.0, False
    clamp = lambda x, k: max(LIMITS[k][0], min(LIMITS[k][1], x))  # noqa: E731
    return Delivery(rate=clamp(rate, "rate"), gain_db=clamp(gain, "gain_db"), pitch=clamp(pitch, "pitch"),
                    variation=clamp(variation, "variation"), whisper=whisper, words=tuple(found))
