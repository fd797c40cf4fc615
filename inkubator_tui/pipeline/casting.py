"""Default casting: who speaks with which voice when the director has not said.

Deterministic (the same sheet and the same installed voices give the same
cast) and distinct: characters get different voices while the pool has
any left. Native voices go before accented ones and accented before robotic;
within that, a character's gender (from their look, else a weak first-name
prior) picks a matching voice, so a woman is not read by the one man's voice
when a woman's voice of the same quality is there.
"""

from __future__ import annotations

import re

from ..project.models import Character
from .backend import VoiceOption

QUALITY_COST = {"native": 0.0, "accented": 2.0, "robotic": 4.0}
GENDER_MISMATCH_COST = 1.5

_FEMALE = {"woman", "women", "girl", "she", "her", "lady", "mother", "mum", "mom", "grandmother", "granny", "wife",
           "daughter", "sister", "queen", "aunt", "female", "actress", "niece", "princess", "widow", "nun", "bride"}
_MALE = {"man", "men", "boy", "he", "his", "him", "gentleman", "father", "dad", "grandfather", "grandpa", "husband",
         "son", "brother", "king", "uncle", "male", "nephew", "prince", "widower", "monk", "groom", "guy"}


def character_gender(ch: Character | None, name: str) -> str:
    """"female", "male" or "" — from the look's words, else the name's first-name prior."""
    words = set(re.findall(r"[a-z]+", (ch.look if ch else "").lower()))
    f, m = len(words & _FEMALE), len(words & _MALE)
    if f != m:
        return "female" if f > m else "male"
    from ..project.people import name_gender_prior

    gender, weight = name_gender_prior(name.split()[0]) if name.strip() else (None, 0.0)
    return {"f": "female", "m": "male"}.get(gender or "", "") if weight else ""


def default_casting(characters: list[str], genders: dict[str, str], pool: list[VoiceOption], *,
                    taken: set[tuple[str, str]] = frozenset()) -> dict[str, VoiceOption]:
    """Give each character a voice from `pool` (in the pool's order of preference).

    Greedy over (character, voice) pairs by cost — quality, then gender mismatch, then the
    character's and the voice's order — so the cheapest pairs are made first: a man and a
    woman with one native man's voice and an accented woman's voice get one each, matched.
    Voices in `taken` (kept casts) are used only once the free ones run out; with more
    characters than voices, voices are reused in pool order."""
    out: dict[str, VoiceOption] = {}
    if not pool:
        return out
    free = [o for o in pool if (o.engine, o.voice) not in taken]

    def cost(ci: int, name: str, vi: int, o: VoiceOption) -> tuple:
        g = genders.get(name, "")
        mismatch = GENDER_MISMATCH_COST if g and o.gender and g != o.gender else 0.0
        return (QUALITY_COST.get(o.quality, 4.0) + mismatch, ci, vi)

    waiting = list(characters)
    while waiting and free:
        pairs = [(cost(ci, n, vi, o), n, o) for ci, n in enumerate(characters) if n in waiting
                 for vi, o in enumerate(free)]
        _, name, option = min(pairs, key=lambda p: p[0])
        out[name] = option
        waiting.remove(name)
        free.remove(option)
    for i, name in enumerate(waiting):  # more characters than voices: share, in order
        out[name] = pool[i % len(pool)]
    return out
