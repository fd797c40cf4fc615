"""Who is in the notes: characters found in prose, merged into one person per
name, with the look words and gender cues the notes give.

Directors introduce people the way prose does — `Dr. Amsel`, `her brother
Kofi`, `a young woman, Ilse`, `Pell, a boy in a red raincoat`, `Old Bram` —
and then call them `Amsel`, `the boy`, `she`. The dialogue step needs every
one of those references to land on one person, so a line is never voiced by
the wrong character and a keyframe always gets the right look.

Gender matters only for resolving `she`/`he`; it comes from the notes first
(titles, role nouns, the pronouns used near a name) and from the first-name
tables of `gender-guesser` only as a weak prior. When the evidence is not
enough, the speaker stays unknown and the agent asks.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field

WORD = r"[A-ZÀ-ÖØ-Þ][\w'’\-]*"  # a capitalised word, with apostrophes and hyphens (O'Neill, Jean-Luc)
LWORD = r"[a-zà-öø-ÿ][\w'’\-]*"

# Title words: not part of the name; they say the role and sometimes the gender.
TITLES = {
    "dr": ("doctor", None), "doctor": ("doctor", None), "prof": ("professor", None),
    "professor": ("professor", None), "mr": ("", "m"), "mrs": ("", "f"), "ms": ("", "f"), "miss": ("", "f"),
    "mx": ("", None), "captain": ("captain", None), "capt": ("captain", None), "detective": ("detective", None),
    "det": ("detective", None), "inspector": ("inspector", None), "officer": ("officer", None),
    "sergeant": ("sergeant", None), "sgt": ("sergeant", None), "lieutenant": ("lieutenant", None),
    "lt": ("lieutenant", None), "colonel": ("colonel", None), "general": ("general", None),
    "agent": ("agent", None), "father": ("priest", "m"), "sister": ("nun", "f"), "brother": ("monk", "m"),
    "aunt": ("aunt", "f"), "auntie": ("aunt", "f"), "uncle": ("uncle", "m"), "grandma": ("grandmother", "f"),
    "grandpa": ("grandfather", "m"), "granny": ("grandmother", "f"), "nana": ("grandmother", "f"),
    "lady": ("", "f"), "lord": ("", "m"), "sir": ("", "m"), "dame": ("", "f"), "madame": ("", "f"),
    "mme": ("", "f"), "señor": ("", "m"), "señora": ("", "f"), "senhor": ("", "m"), "senhora": ("", "f"),
    "herr": ("", "m"), "frau": ("", "f"), "nurse": ("nurse", None), "judge": ("judge", None),
    "coach": ("coach", None), "chef": ("chef", None), "old": ("old", None), "young": ("young", None),
    "little": ("little", None), "big": ("big", None), "mama": ("mother", "f"), "papa": ("father", "m"),
    "king": ("king", "m"), "queen": ("queen", "f"), "prince": ("prince", "m"), "princess": ("princess", "f"),
    "pastor": ("pastor", None), "rabbi": ("rabbi", None), "imam": ("imam", None), "commander": ("commander", None),
    "major": ("major", None), "private": ("private", None), "corporal": ("corporal", None),
}
# Family and social roles: `her brother Kofi`, `the captain`, `the old man`.
ROLE_GENDER = {
    "brother": "m", "sister": "f", "mother": "f", "father": "m", "mum": "f", "mom": "f", "dad": "m", "son": "m",
    "daughter": "f", "wife": "f", "husband": "m", "uncle": "m", "aunt": "f", "grandmother": "f",
    "grandfather": "m", "grandma": "f", "grandpa": "m", "girlfriend": "f", "boyfriend": "m", "niece": "f",
    "nephew": "m", "woman": "f", "man": "m", "girl": "f", "boy": "m", "lady": "f", "gentleman": "m", "guy": "m",
    "widow": "f", "widower": "m", "king": "m", "queen": "f", "mistress": "f", "waitress": "f", "actress": "f",
    "policeman": "m", "policewoman": "f", "businessman": "m", "businesswoman": "f", "fisherman": "m",
    "fisherwoman": "f", "grandson": "m", "granddaughter": "f", "priest": "m", "nun": "f", "monk": "m",
}
ROLES = set(ROLE_GENDER) | {
    "friend", "partner", "boss", "assistant", "neighbour", "neighbor", "cousin", "colleague", "mentor", "student",
    "teacher", "lover", "kid", "child", "teenager", "teen", "stranger", "nurse", "soldier", "doctor", "captain",
    "detective", "officer", "professor", "driver", "pilot", "waiter", "clerk", "guard", "courier", "thief",
    "sailor", "farmer", "baker", "cook", "chef", "singer", "dancer", "inspector", "sergeant", "agent", "judge",
    "coach", "girlfriend", "boyfriend", "landlady", "landlord", "cabbie", "bartender", "barman", "medic",
    "engineer", "mechanic", "nanny", "priest", "ferryman", "fisher", "hunter", "witch", "wizard", "robot",
    "android", "boss", "intern", "paramedic", "ranger", "scientist", "journalist", "reporter", "photographer",
    "architect", "lawyer", "musician", "painter", "writer", "poet", "twin", "orphan", "prisoner", "warden",
    "operator", "technician", "commander", "major", "lieutenant", "general", "private", "corporal", "sheriff",
    "deputy", "ghost", "veteran", "widow", "widower", "host", "hostess", "shopkeeper", "vendor", "porter",
    "conductor", "astronaut", "captain", "mayor", "ferryman", "lighthouse", "keeper", "owner", "manager",
}
# Capitalised words that start sentences (or headings, or camera talk) but are not names.
NOT_NAMES = {
    "The", "A", "An", "Then", "Cut", "Smash", "Close", "Wide", "Slow", "Fast", "We", "She", "He", "They", "It",
    "Her", "His", "Their", "Its", "In", "On", "At", "From", "Later", "Meanwhile", "Suddenly", "Night", "Day",
    "Morning", "Evening", "Afternoon", "Int", "Ext", "Scene", "Title", "Characters", "Cast", "Pov", "Aerial",
    "Insert", "Medium", "Extreme", "Over", "Low", "High", "Camera", "And", "But", "As", "When", "Finally",
    "Outside", "Inside", "Back", "End", "Fade", "Dissolve", "Match", "Hold", "Push", "Pull", "Pan", "Tilt",
    "Track", "Tracking", "Crane", "Zoom", "Handheld", "Establishing", "Silence", "Nothing", "Everything", "This",
    "That", "There", "Here", "Now", "Still", "Only", "Just", "Rain", "Dawn", "Dusk", "Snow", "Wind", "Smoke",
    "Fog", "Mist", "Light", "Lights", "Darkness", "Dark", "Water", "Fire", "Thunder", "Lightning", "Waves",
    "Sun", "Moon", "Stars", "Sky", "Music", "Sound", "Sfx", "Vfx", "Note", "Notes", "Tone", "Mood", "Style",
    "Keep", "Make", "Let", "Give", "Play", "Lets", "Let's", "Open", "Opening", "Closing", "Shot", "Shots",
    "Angle", "Beat", "Pause", "Long", "Short", "Quick", "Very", "Maybe", "Perhaps", "No", "Not", "Yes", "Okay",
    "Ok", "Oh", "Some", "Someone", "Somebody", "Everyone", "Nobody", "One", "Two", "Three", "Four", "Five",
    "Six", "Seven", "Eight", "Nine", "Ten", "First", "Second", "Third", "Last", "Next", "Another", "Each",
    "Every", "All", "Both", "Behind", "Above", "Below", "Under", "Across", "Through", "Into", "Onto", "Toward",
    "Towards", "After", "Before", "While", "Until", "With", "Without", "Of", "For", "By", "To", "If", "So",
    "Or", "Nor", "Yet", "Once", "Again", "Even", "Also", "Soon", "Eventually", "Somewhere", "Elsewhere",
    "Everywhere", "Nearby", "Far", "Up", "Down", "Off", "Out", "Away", "Around", "Along", "Beside", "Near",
    "Between", "Beyond", "Against", "Among", "Within", "Upon", "Overhead", "Static", "Locked", "Lock",
    "Dolly", "Truck", "Follow", "Following", "Reverse", "Two-shot", "Establish", "Drone", "Interior",
    "Exterior", "Cutaway", "Montage", "Flashback", "Continuous", "Ext.", "Int.", "Sunrise", "Sunset",
    "Midnight", "Noon", "Today", "Tonight", "Tomorrow", "Yesterday", "Monday", "Tuesday", "Wednesday",
    "Thursday", "Friday", "Saturday", "Sunday", "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December", "Spring", "Summer", "Autumn", "Fall", "Winter",
    "God", "Christmas", "English", "French", "German", "Spanish", "Italian", "Japanese", "Chinese", "Russian",
    "Quiet", "Loud", "Soft", "Hard", "Warm", "Cold", "Hot", "Bright", "Empty", "Full", "Silent", "Black",
    "White", "Red", "Blue", "Green", "Yellow", "Grey", "Gray", "Orange", "Purple", "Pink", "Brown", "Gold",
    "Silver", "Something", "Anything", "Whatever", "Where", "Why", "What", "Who", "How", "Which", "Whose",
    "Hello", "Hi", "Hey", "Goodbye", "Bye", "Thanks", "Please", "Sorry", "Wait", "Stop", "Go", "Run", "Look",
    "Listen", "Come", "Hurry", "Help", "Mr", "Mrs", "Ms", "Dr", "Prof", "Sir", "Madam", "Our", "My", "Your",
    "I", "You", "Me", "Him", "Them", "Us", "These", "Those", "Such", "Same", "Other", "Others", "Any",
    "Most", "More", "Less", "Few", "Many", "Much", "Several", "Half", "Whole", "Part", "Front", "Side",
    "Top", "Bottom", "Left", "Right", "Centre", "Center", "Middle", "North", "South", "East", "West",
    "Cu", "Ms", "Ws", "Ecu", "Mcu", "Ews", "Mws", "Ots", "V.O", "O.S", "Cont'd", "Vo", "Os", "Tv", "Ok.",
    "Intercut", "Series", "Super", "Subtitle", "Subtitles", "Caption", "Chyron", "Credits", "Titles", "Act",
    "Sequence", "Part", "Chapter", "Epilogue", "Prologue", "Reel", "Take", "Scene.", "Transition", "Mid",
    "Everything's", "It's", "That's", "There's", "Here's", "What's", "Let’s", "It’s", "That’s", "There’s",
}
# Words before a capitalised word that make it a place or a thing, not a person.
PLACE_PREPS = {"in", "at", "from", "into", "near", "toward", "towards", "across", "through", "outside", "inside",
               "past", "around", "of", "over", "under", "beyond", "on", "along", "via", "above", "below", "onto"}
SENTENCE_END = re.compile(r"(?<![A-Z][a-z])(?<!\b[A-Z])(?<!\b(?:Dr|Mr|Ms|St|Sr|Jr|Lt|Mt))(?<!\bMrs|\bSgt|\bCpt"
                          r"|\bCol|\bGen|\bDet|\bMme|\bVol)(?<!\bProf|\bCapt)[.!?…]+[\"”’')\]]*\s+|\n")
PRONOUNS = {"she": "f", "her": "f", "hers": "f", "herself": "f", "he": "m", "him": "m", "his": "m",
            "himself": "m", "they": None, "them": None, "their": None, "themselves": None}
SUBJECT_PRONOUNS = {"she": "f", "he": "m", "they": None}


def sentences(text: str) -> list[str]:
    """Sentences and lines of `text` (`Dr.`, `Mrs.` and initials do not end one)."""
    out, pos = [], 0
    for m in SENTENCE_END.finditer(text):
        if text[pos:m.end()].strip():
            out.append(text[pos:m.end()].strip())
        pos = m.end()
    if text[pos:].strip():
        out.append(text[pos:].strip())
    return out


@functools.cache
def _guesser():
    """gender-guesser's first-name tables, loaded once, lazily (0.4 s)."""
    try:
        import gender_guesser.detector as detector
    except ImportError:  # optional prior; the notes' own cues still work
        return None
    return detector.Detector(case_sensitive=False)


def name_gender_prior(name: str) -> tuple[str | None, float]:
    """(gender, weight) from the first-name tables: a weak prior only."""
    g = _guesser()
    if g is None or not name:
        return None, 0.0
    answer = g.get_gender(name.split()[0])
    return {"male": ("m", 1.0), "female": ("f", 1.0), "mostly_male": ("m", 0.5),
            "mostly_female": ("f", 0.5)}.get(answer, (None, 0.0))


@dataclass
class Person:
    """One character, however the notes refer to them."""

    name: str
    aliases: set[str] = field(default_factory=set)  # other written forms: "Dr. Amsel", "Nadia Petrova"
    roles: set[str] = field(default_factory=set)  # "doctor", "brother", "old", "boy"
    look: str = ""
    votes: Counter = field(default_factory=Counter)  # gender evidence: {"f": 3.0, "m": 0.5}
    first: int = 0  # where the notes first mention them

    @property
    def gender(self) -> str | None:
        prior, weight = name_gender_prior(self.name)
        votes = Counter(self.votes)
        if prior:
            votes[prior] += weight
        if not votes:
            return None
        (top, score), *rest = votes.most_common()
        if rest and rest[0][1] >= score * 0.67:
            return None  # the evidence disagrees: nobody can tell
        return top

    def forms(self) -> set[str]:
        return {self.name, *self.aliases}


def _norm_title(word: str) -> str:
    return word.lower().rstrip(".")


class Cast:
    """Everyone in the notes, and how to find them in a piece of text."""

    def __init__(self, lowercase: bool = False):
        self.people: list[Person] = []
        self.lowercase = lowercase
        self._pattern: re.Pattern | None = None

    # -- building
    def get(self, name: str) -> Person | None:
        key = name.lower()
        return next((p for p in self.people if key in {f.lower() for f in p.forms()}), None)

    def add(self, name: str, *, alias: str = "", role: str = "", look: str = "", gender: str | None = None,
            weight: float = 5.0, at: int = 0) -> Person:
        """Add a person or merge into the one with that name (`Dr. Amsel` = `Amsel`)."""
        name = re.sub(r"(?:'s|’s)$", "", name.strip(" ,.'’")).strip()
        if self.lowercase or name.isupper():
            name = name.title() if len(name) > 1 else name.upper()
        person = self.get(name) or (self.get(alias) if alias else None)
        if person is None:
            # a first name or surname of someone already known by a full name
            person = next((p for p in self.people if " " in p.name and name in p.name.split()), None)
            if person is not None:
                person.aliases.add(person.name)
                person.name = name  # the short form is how the notes refer to them
        if person is None and " " in name:
            # the full name of someone already known by one part of it ("Nadia", then "Nadia Petrova")
            person = next((p for p in self.people if " " not in p.name and p.name in name.split()), None)
        if person is None:
            person = Person(name=name, first=at)
            self.people.append(person)
        elif " " in name and person.name != name and name.split()[0] == person.name:
            person.aliases.add(name)  # "Nadia" known, now "Nadia Petrova": keep the short name
        if alias and alias != person.name:
            person.aliases.add(alias)
        if role:
            person.roles.add(role)
        if look and not person.look:
            person.look = re.sub(r"\s+", " ", look).strip()[:400]
        if gender:
            person.votes[gender] += weight
        person.first = min(person.first, at) if person.first or at else at
        self._pattern = None
        return person

    # -- finding mentions
    def pattern(self) -> re.Pattern:
        if self._pattern is None:
            forms = sorted({f for p in self.people for f in p.forms()}, key=len, reverse=True)
            titles = "|".join(re.escape(t) for t in sorted(TITLES, key=len, reverse=True))
            names = "|".join(re.escape(f) for f in forms) or r"(?!x)x"
            self._pattern = re.compile(rf"\b(?:(?:{titles})\.?\s+)?(?:{names})(?:'s|’s|s'|s’)?(?![\w'’])",
                                       re.I if self.lowercase else re.I)
        return self._pattern

    def mentions(self, text: str) -> list[tuple[int, int, Person]]:
        """Named mentions of known people in `text`, in order: (start, end, person)."""
        out = []
        for m in self.pattern().finditer(text):
            raw = re.sub(r"(?:'s|’s|s'|s’)$", "", m.group(0), flags=re.I)
            raw = re.sub(rf"^(?:{'|'.join(re.escape(t) for t in TITLES)})\.?\s+", "", raw, flags=re.I) \
                if not self.get(raw) else raw
            person = self.get(raw) or self.get(m.group(0))
            if person is None:
                continue
            if not self.lowercase and not m.group(0)[0].isupper():
                continue  # "will" is not Will
            out.append((m.start(), m.end(), person))
        return out

    def by_role(self, noun: str, adjectives: set[str] = frozenset()) -> list[Person]:
        """People a role noun phrase can mean: `the doctor`, `the old man`, `her brother`."""
        noun = noun.lower()
        gender = ROLE_GENDER.get(noun)
        hits = []
        for p in self.people:
            look = f"{p.look} {' '.join(p.roles)}".lower()
            role_match = noun in p.roles or re.search(rf"\b{re.escape(noun)}\b", look)
            generic = noun in {"man", "woman", "boy", "girl", "lady", "guy", "kid", "child", "gentleman"}
            if role_match or (generic and gender and p.gender == gender):
                if not adjectives or all(re.search(rf"\b{re.escape(a)}\b", look) for a in adjectives) \
                        or role_match:
                    hits.append(p)
        return hits


# ---- finding people in notes ------------------------------------------------------------
_TITLE_RE = "|".join(re.escape(t) for t in sorted(TITLES, key=len, reverse=True))
HONORIFIC = re.compile(rf"\b((?i:(?:{_TITLE_RE})\.?\s+)*(?i:{_TITLE_RE}))(\.?)\s+({WORD}(?:\s+{WORD})?)")
# Speakers by position: `Tobiah asks her "…"`, `Zsofia, kneeling at the lock: "…"`, `"…," Kofi says`,
# `"…?" asks Pell`, `Sam, who …` — a capitalised word in these places is a person even at a sentence start.
SPEAKER_SPOTS = [
    re.compile(rf"(?<![\w'’])({WORD})(?:'s|’s)?\s+(?:[a-z][\w'’\-]*\s+){{0,4}}?[a-z][\w'’\-]*,?\s*[\"“‘]"),
    re.compile(rf"(?<![\w'’])({WORD})\s*(?:,[^,:\"“\n]{{1,50}},?|\([^)\n]{{1,40}}\))?\s*:\s*[\"“‘']"),
    re.compile(rf"[\"”’],?\s+({WORD})\s+(?:[a-z]+ly\s+)?[a-z]+[\w'’]*\b"),
    re.compile(rf"[\"”’],?\s+(?:[a-z]+ly\s+)?(?:says|said|asks|asked|replies|replied|answers|answered|calls|called|"
               rf"whispers|whispered|shouts|shouted|adds|added|cries|cried|snaps|snapped|mutters|muttered)\s+"
               rf"(?:(?i:{_TITLE_RE})\.?\s+)?({WORD})"),
    re.compile(rf"(?<![\w'’])({WORD}),\s+who\b"),
]
ROLE_NAME = re.compile(rf"\b(?i:his|her|their|the|a|an|my|our|your)\s+((?:{LWORD}\s+){{0,2}}?)"
                       rf"({'|'.join(sorted(ROLES, key=len, reverse=True))}),?\s+({WORD})\b")
APPOSITIVE_BEFORE = re.compile(rf"\b(?:a|an|the)\s+((?:{LWORD}[\s\-]+){{0,3}}?)"
                               rf"({'|'.join(sorted(ROLES, key=len, reverse=True))})(?:\s+(?:named|called))?,?\s+"
                               rf"({WORD})\b")
APPOSITIVE_AFTER = re.compile(rf"\b({WORD}(?:\s+{WORD})?),\s+((?:a|an|the|his|her|their)\s+[^,.;:\"“”()]{{3,90}}|"
                              rf"\d{{1,2}}(?:s)?(?:,\s*[^,.;:\"“”()]{{3,60}})?)(?=[,.;:)]|\s+(?:is|was|who|sits|"
                              rf"stands|walks|enters|runs|waits))")
INTRO_PAREN = re.compile(rf"\b({WORD}(?:\s+{WORD})?)\s*\((\d{{1,2}}s?(?:,\s*[^()]{{2,80}})?|[^()\d]{{3,80}})\)")
LOWER_SPEAKER = re.compile(r"\b([a-zà-ÿ][\w'’\-]{1,20})\s+(?:says|said|asks|asked|whispers|whispered|shouts|"
                           r"shouted|yells|yelled|mutters|muttered|replies|replied|answers|answered|calls|called)\b")
CAPS_NAME = re.compile(r"\b([A-Z][A-Z'’\-]{1,}(?:\s[A-Z][A-Z'’\-]{1,})?)\b(?!\s*[-–—.]\s)")
CAPS_NOT_NAMES = {"POV", "ECU", "MCU", "CU", "MS", "WS", "EWS", "OTS", "INT", "EXT", "MWS", "VO", "OS", "TV",
                  "OK", "SFX", "VFX", "FX", "CGI", "DJ", "ID", "USA", "UK", "EU", "CCTV", "GPS", "ATM", "DNA", "ER",
                  "ICU", "HQ", "AM", "PM", "I", "CONT'D", "V.O", "O.S", "FADE", "CUT", "END", "THE", "EXIT",
                  "OPEN", "CLOSED", "STOP", "SOS", "NO", "YES", "A", "AN", "AND", "OF", "TO", "IN", "ON", "DAY",
                  "NIGHT", "INSERT", "SMASH", "DISSOLVE", "MATCH", "BLACK", "WHITE", "TITLE", "SUPER", "BEAT",
                  "LATER", "CONTINUOUS", "MORNING", "EVENING", "DUSK", "DAWN", "WIDE", "CLOSE", "HOLD", "PAN",
                  "TILT", "ZOOM", "MONTAGE", "FLASHBACK", "INTERCUT", "BACK", "SCENE", "SHOT", "HELP", "DANGER",
                  "WARNING", "POLICE", "EXIT", "ENTER", "PUSH", "PULL", "SALE", "MOTEL", "HOTEL", "BAR", "CAFE",
                  "ESTABLISHING", "AERIAL", "OVERHEAD", "SLOW", "FAST", "TRACKING", "HANDHELD", "CRANE", "LOW",
                  "HIGH", "DUTCH", "MEDIUM", "EXTREME", "SILENCE", "NOTE", "MUSIC", "SOUND", "OK", "OKAY"}


_NOT_ADJECTIVES = {"his", "her", "their", "its", "my", "our", "your", "while", "and", "as", "with", "of", "the",
                   "a", "an", "to", "at", "in", "on", "from", "by", "for", "when", "then", "is", "was", "who"}


def _mask_quotes(text: str, quotes: list[tuple[int, int]]) -> str:
    """Blank quote interiors (same length): a name said in a line is not an entrance."""
    chars = list(text)
    for a, b in quotes:
        for i in range(a + 1, b - 1):  # the marks stay: they show where speech was
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def _sentence_starts(text: str) -> set[int]:
    starts = {0}
    for m in SENTENCE_END.finditer(text):
        starts.add(m.end())
    for m in re.finditer(r"(?m)^\s*(?:[-*+•]|\d+[.)])?\s*", text):
        starts.add(m.end())
    for m in re.finditer(r"[:;—–(]\s*|\s[-–]\s+", text):  # after a colon or dash a word is capitalised anyway
        starts.add(m.end())
    return starts


def find_people(text: str, quotes: list[tuple[int, int]], declared: list[str] | None = None,
                cues: list[str] | None = None) -> Cast:
    """Find every person the notes introduce or name, merged one per name."""
    lowercase = not re.search(r"[A-Z]", _mask_quotes(text, quotes))
    cast = Cast(lowercase=lowercase)
    body = _mask_quotes(text, quotes)
    for name in declared or []:
        m = re.match(r"^\s*(.+?)\s*(?:\((.+)\))?\s*$", name)
        if m:
            _add_titled(cast, m.group(1), look=m.group(2) or "", at=0)
    for name in cues or []:
        _add_titled(cast, name, at=0)
    if lowercase:
        for m in LOWER_SPEAKER.finditer(body):
            word = m.group(1)
            if word not in {"she", "he", "they", "it", "who", "that", "which", "one", "someone", "everyone",
                            "somebody", "nobody", "voice", "man", "woman", "boy", "girl", "kid", "sign", "then",
                            "and", "also", "quietly", "softly", "finally", "i", "we", "you"} \
                    and not word.endswith("ly"):
                cast.add(word, at=m.start())
    starts = _sentence_starts(body)
    for rx in SPEAKER_SPOTS:
        for m in rx.finditer(body):
            word = m.group(1)
            if word in NOT_NAMES or word.lower() in ROLES or word.lower() in PRONOUNS or word.isupper() and \
                    word in CAPS_NOT_NAMES or word.rstrip(".").lower() in TITLES or word.lower() in PLACE_PREPS:
                continue
            if rx is SPEAKER_SPOTS[0] and _prev_word(body, m.start()) in PLACE_PREPS | {"the", "a", "an"}:
                continue
            if not cast.get(word):
                cast.add(word, at=m.start())
            if rx is SPEAKER_SPOTS[4] and re.match(r",\s+who\s+(?:uses|goes\s+by)\s+they", body[m.end(1):],
                                                   re.I):
                cast.get(word).votes["n"] += 10
    # Titles: "Dr. Amsel", "Captain Reyes", "Old Bram", "Mrs. Kato".
    for m in HONORIFIC.finditer(body):
        title, dot, name = m.group(1), m.group(2), m.group(3)
        if not title[0].isupper() and not lowercase:
            continue
        if name.rstrip(".").lower() in TITLES:
            continue  # "Old Mr." — the chain goes on to the name
        tkey = _norm_title(title.split()[0]) if len(title.split()) > 1 and _norm_title(title.split()[-1]) in (
            "old", "young", "little", "big") else _norm_title(title.split()[-1])
        if tkey in {"old", "young", "little", "big", "father", "mother", "sister", "brother", "major", "private",
                    "general", "judge", "coach", "chef", "nurse", "agent", "king", "queen"} and (
                m.start() not in starts and _prev_word(body, m.start()) in PLACE_PREPS | {"the", "a", "an"}):
            continue
        first = name.split()[0]
        if first in NOT_NAMES or first.upper() in CAPS_NOT_NAMES and first.isupper():
            continue
        if len(name.split()) == 2 and name.split()[1] in NOT_NAMES:
            name = first
        _add_titled(cast, f"{title}{dot} {name}", at=m.start())
    # Roles: "her brother Kofi", "a young woman, Ilse".
    for rx in (ROLE_NAME, APPOSITIVE_BEFORE):
        for m in rx.finditer(body):
            adjectives, role, name = m.group(1).strip(), m.group(2).lower(), m.group(3)
            if name in NOT_NAMES or name.lower() in ROLES or set(adjectives.lower().split()) & _NOT_ADJECTIVES:
                continue
            look = f"{adjectives} {role}".strip() if rx is APPOSITIVE_BEFORE else ""
            cast.add(name, role=role, look=look, gender=ROLE_GENDER.get(role), at=m.start())
            for adj in adjectives.split():
                cast.get(name).roles.add(adj.lower())
    # "Pell, a boy in a red raincoat" / "Ilse, 30s, tired"
    for m in APPOSITIVE_AFTER.finditer(body):
        name, look = m.group(1), m.group(2).strip()
        first = name.split()[0]
        if first in NOT_NAMES or _prev_word(body, m.start()) in PLACE_PREPS:
            continue
        head = re.findall(r"[a-z]+", look.lower())
        role = next((w for w in head[:5] if w in ROLES), "")
        if not role and not re.match(r"\d", look) and not (cast.get(name) or m.start() not in starts):
            continue  # "Later, the..." is not an introduction
        if not role and not re.match(r"\d", look) and not cast.get(name):
            if not _looks_like_name(name, body, starts, m.start()):
                continue
        person = cast.add(name, role=role, look=look, gender=ROLE_GENDER.get(role), at=m.start())
        if role:
            person.roles.update(w for w in head[:4] if w not in {"a", "an", "the", "his", "her", "their"})
    for m in INTRO_PAREN.finditer(body):
        name, look = m.group(1), re.sub(r"^in\s+", "", m.group(2).strip())
        if not name.isupper() and name.split()[-1].isupper() and len(name.split()[-1]) > 1:
            name = name.split()[-1]  # "the kiosk AMAKA (50s, …)": the capitals are the name
        if body[m.end():m.end() + 3].lstrip().startswith(":"):
            continue  # "AMAKA (not looking up): …" says how a line is said
        if re.fullmatch(r"[a-z]+ly|[a-z]+|beat|pause|V\.O\.|O\.S\.|CONT'D", look):
            continue  # "(quietly)" is how a line is said, not how someone looks
        if name.isupper() and name not in CAPS_NOT_NAMES or cast.get(name):
            cast.add(name, look=look, at=m.start())
    # Screenplay convention: a character's first appearance in CAPITALS.
    for m in CAPS_NAME.finditer(body):
        caps = m.group(1)
        line = body[body.rfind("\n", 0, m.start()) + 1: body.find("\n", m.end()) if "\n" in body[m.end():]
                    else len(body)]
        if line.strip() == caps or re.match(r"\s*(?:INT|EXT|EST|I/E)[.\s]", line):
            continue  # a heading or a cue line, handled elsewhere
        if all(w not in CAPS_NOT_NAMES and w.title() not in NOT_NAMES for w in caps.split()) and len(caps) > 1:
            cast.add(caps.title(), at=m.start())
    # Title Case words in prose.
    if not lowercase:
        _title_case_names(cast, body, starts)
    _gender_from_pronouns(cast, body)
    _looks_from_clothes(cast, body)
    cast.people.sort(key=lambda p: p.first)
    return cast


APPEARANCE = ("coat|raincoat|overcoat|greatcoat|trenchcoat|jacket|parka|anorak|blazer|cardigan|sweater|jumper|"
              "hoodie|shirt|t-shirt|blouse|vest|waistcoat|suit|uniform|dress|gown|robe|kimono|sari|apron|overalls|"
              "dungarees|pyjamas|pajamas|leotard|skirt|trousers|jeans|shorts|braces|suspenders|hat|cap|beanie|"
              "bonnet|helmet|hood|headscarf|scarf|shawl|veil|turban|hijab|headphones|glasses|spectacles|sunglasses|"
              "goggles|mask|boots|trainers|sneakers|sandals|heels|gloves|necklace|earrings|backpack|satchel|"
              "hair|beard|moustache|mustache|braid|braids|ponytail|tattoo|tattoos|scar|cane|wheelchair|crutches")
_NOT_MODIFIERS = (r"(?:and|or|but|in|on|off|into|onto|at|to|of|from|with|by|the|a|an|his|her|their|its|takes|took|"
                  r"pulls|pulling|puts|putting|wears|removes|removing|grabs|grabbing|holds|holding|drops|"
                  r"dropping|adjusts|adjusting|tugs|straightens|who|that|while|as|is|was)\b")
_LOOK_PHRASE = re.compile(
    rf"(?:\b(?:in|wearing|with|under|sporting)\s+|,\s*)((?:(?:a|an|his|her|their|the|one|two)\s+)?"
    rf"(?:(?!{_NOT_MODIFIERS})[\w\-]+\s+){{0,3}}?(?:{APPEARANCE}))\b", re.I)


def _looks_from_clothes(cast: Cast, body: str) -> None:
    """What a person wears or looks like, from the sentences that introduce them alone
    (`Amsel sits on the bed in a grey coat`, `… tied back, white hair`): keyframes keep it."""
    seen: dict[str, list[str]] = {}
    for sentence in sentences(body):
        people = {p.name: p for _, _, p in cast.mentions(sentence)}
        if len(people) != 1:
            continue
        person = next(iter(people.values()))
        found = seen.setdefault(person.name, [])
        for lm in _LOOK_PHRASE.finditer(sentence):
            phrase = re.sub(r"^(?:his|her|their|the)\s+", "", lm.group(1).strip())
            phrase = re.sub(r"\s+", " ", phrase)
            if phrase.lower() not in (x.lower() for x in found) and phrase.lower() not in person.look.lower():
                found.append(phrase)
    for person in cast.people:
        extra = seen.get(person.name, [])[:4]
        if extra:
            person.look = "; ".join(x for x in [person.look, *extra] if x)[:400]


def _add_titled(cast: Cast, written: str, *, look: str = "", at: int = 0) -> Person | None:
    written = re.sub(r"\s+", " ", written.strip())
    m = re.match(rf"^((?:(?:{_TITLE_RE})\.?\s+)*)({_TITLE_RE})(\.?)\s+(.+)$", written, re.I)
    if m and len(m.group(4)) > 1:
        alias = written if not written.isupper() else written.title()
        person = None
        for title in [*m.group(1).split(), m.group(2)]:
            role, gender = TITLES[_norm_title(title)]
            person = cast.add(m.group(4), alias=alias, role=role, look=look, gender=gender, at=at)
        return person
    if not written:
        return None
    return cast.add(written, look=look, at=at)


def _prev_word(text: str, pos: int) -> str:
    m = re.search(r"([\w'’]+)\W*$", text[:pos])
    return m.group(1).lower() if m else ""


def _next_word(text: str, pos: int) -> str:
    m = re.match(r"(?:\s*,[^,.;:\n]{1,40},)?[\s,]*([\w'’]+)", text[pos:])  # "Teodor, soaked through, feeds"
    return m.group(1) if m else ""


_VERBISH = re.compile(r"^(?:[a-z]+(?:s|ed)|is|was|has|had|can|could|will|would|won't|can't|doesn't|didn't|"
                      r"isn't|wasn't|must|might|may|shall|should|sits|stands|runs|gets|lets|puts|hits|cuts|"
                      r"sets|shuts|quits|spits|grits|grins|nods|shrugs|waits|says|asks|looks|turns|takes|"
                      r"makes|gives|keeps|holds|stares|smiles|freezes|rises|pauses|kneels|leans|steps|moves|"
                      r"finally|slowly|quietly|just|still|already|never|always|suddenly|then|too|also|alone|"
                      r"again|sat|stood|ran|got|let|put|hit|cut|set|shut|spat|grinned|nodded|shrugged|"
                      r"went|came|saw|took|made|gave|kept|held|knew|thought|felt|left|fell|froze|rose|knelt|"
                      r"leant|leapt|stepped|moved)$")


def _looks_like_name(word: str, body: str, starts: set[int], pos: int) -> bool:
    first = word.split()[0]
    if first in NOT_NAMES or first.lower() in ROLES or first.lower() in PRONOUNS:
        return False
    if re.search(rf"(?<![.!?]\s)(?<!^)\b{re.escape(first.lower())}\b", body):
        return False  # the notes use it as an ordinary word elsewhere
    nxt = _next_word(body, pos + len(word))
    gender, weight = name_gender_prior(first)
    return bool(weight) and bool(_VERBISH.match(nxt or ""))


def _title_case_names(cast: Cast, body: str, starts: set[int]) -> None:
    """Title Case words in prose that name people: mid-sentence capitals that are not
    places, possessives (`Kofi's`), and sentence-initial words the notes use as names elsewhere."""
    seq = re.compile(rf"(?<![\w'’.])({WORD}(?:\s+(?:de|van|von|da|del|di|le|la|bin|al)?\s*{WORD})?)")
    candidates: dict[str, list[tuple[int, bool]]] = {}
    for m in seq.finditer(body):
        words = m.group(1).split()
        if len(words) == 2 and (words[1] in NOT_NAMES or words[1].lower() in ROLES):
            words = words[:1]
        name = " ".join(words)
        if words[0] in NOT_NAMES or words[0].rstrip(".").lower() in TITLES or name.isupper():
            continue
        if any(w.lower() in ROLES or w in NOT_NAMES for w in words[1:]):
            continue
        if re.match(r"^(?:INT|EXT)\b", body[max(0, m.start() - 8): m.start()].strip().upper()):
            continue
        line = body[body.rfind("\n", 0, m.start()) + 1: m.start()]
        if re.match(r"^\s*(?:#|\.|(?:INT|EXT|EST|I/E)[.\s]|scene\b|title\s*:)", line, re.I):
            continue  # headings name places and titles
        at_start = m.start() in starts or any(s <= m.start() <= s + 1 for s in starts)
        candidates.setdefault(name, []).append((m.start(), at_start))
    for name, seen in candidates.items():
        if cast.get(name) or any(name in p.name.split() for p in cast.people if " " in p.name):
            person = cast.get(name)
            if person is None:
                cast.add(name, at=seen[0][0])
            continue
        mid = [pos for pos, start in seen if not start]
        place = [pos for pos in mid if _prev_word(body, pos) in PLACE_PREPS]
        possessive = any(body[pos + len(name): pos + len(name) + 2] in ("'s", "’s") for pos, _ in seen)
        as_subject = [pos for pos, start in seen if _VERBISH.match(_next_word(body, pos + len(name)) or "")]
        person_like = [pos for pos in mid if pos not in place]
        if possessive or person_like or (as_subject and any(_looks_like_name(name, body, starts, pos)
                                                            for pos in as_subject)):
            if place and not possessive and not as_subject and len(place) == len(mid):
                continue
            if not person_like and not possessive and place:
                continue
            cast.add(name, at=seen[0][0])
    # "Ana and Mira wait": whoever stands in a pair with a person is one too
    for name, seen in candidates.items():
        if cast.get(name) or name in NOT_NAMES:
            continue
        for pos, _ in seen:
            after = re.match(rf"\s+(?:and|&)\s+({WORD})", body[pos + len(name):])
            before = re.search(rf"({WORD})\s+(?:and|&)\s+$", body[:pos])
            pair = (after and cast.get(after.group(1))) or (before and cast.get(before.group(1)))
            if pair and (name_gender_prior(name)[1] or _VERBISH.match(_next_word(body, pos + len(name)) or "")
                         or after):
                cast.add(name, at=pos)
                break




def _gender_from_pronouns(cast: Cast, body: str) -> None:
    """A sentence that names one person and then says `her`/`his` votes for that person's gender;
    so does the next sentence's subject pronoun when nobody else came between."""
    previous: Person | None = None
    for sentence in sentences(body):
        named = cast.mentions(sentence)
        found = {p.name: p for _, _, p in named}
        after = sentence[named[0][1]:] if named else ""
        roles = "|".join(ROLES)
        pronouns = [PRONOUNS[m.group(1).lower()] for m in re.finditer(
            rf"\b(she|her|hers|herself|he|him|his|himself)\b(?!\s+(?:{roles})\b)", after, re.I)]
        if len(found) == 1:
            person = next(iter(found.values()))
            for g in pronouns:
                person.votes[g] += 1.0
            previous = person
            continue
        if not found and previous is not None:
            lead = re.match(r"\s*(?:[\"“][^\"”]*[\"”]\s*,?\s*)?(she|he)\b", sentence, re.I)
            if lead:
                previous.votes[PRONOUNS[lead.group(1).lower()]] += 0.5
        previous = None if found else previous
