"""Prompt templates, kept as files so they can be read and tuned without code."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def load(name: str) -> str:
    """The template `name` (e.g. "fill_shot.txt") from this package."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")
