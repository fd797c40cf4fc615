"""What dubbing needs to know about a line's length: how long it takes to say,
estimated from its letters per language, and whether a translation runs long
against its original (flagged in the translation's draft)."""

from __future__ import annotations

import unicodedata

from ..project.models import base_language

# Rough speaking rates (characters a second, punctuation and spaces excluded), to compare how
# long a line and its translation take to say across scripts.
CHARS_PER_SECOND = {"ja": 7.5, "zh": 4.5, "ko": 6.0, "th": 10.0}
DEFAULT_CPS = 13.0
LANGUAGE_NAMES = {"en": "English", "ja": "Japanese", "fr": "French", "de": "German", "es": "Spanish",
                  "it": "Italian", "pt": "Portuguese", "nl": "Dutch", "sv": "Swedish", "pl": "Polish",
                  "ru": "Russian", "uk": "Ukrainian", "zh": "Chinese", "ko": "Korean", "ar": "Arabic",
                  "hi": "Hindi", "tr": "Turkish", "cy": "Welsh", "da": "Danish", "fi": "Finnish",
                  "no": "Norwegian", "cs": "Czech", "el": "Greek", "he": "Hebrew", "th": "Thai"}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(base_language(code), code)


def speaking_seconds(text: str, language: str) -> float:
    """How long a line takes to say, estimated from its letters (not its bytes or words)."""
    letters = sum(1 for ch in text if unicodedata.category(ch)[0] in "LN")
    return letters / CHARS_PER_SECOND.get(base_language(language), DEFAULT_CPS)


def timing(source: str, source_lang: str, text: str, language: str, long_ratio: float) -> dict:
    """A translation's timing note: its length against the original's, flagged when long."""
    a, b = speaking_seconds(source, source_lang), speaking_seconds(text, language)
    ratio = b / a if a > 0 else 1.0
    out = {"source_s": round(a, 2), "estimated_s": round(b, 2), "length_ratio": round(ratio, 2)}
    if ratio > long_ratio:
        out["flag"] = f"{ratio:.1f}× as long to say as the original; the shot may need to run longer"
    return out
