"""Domain model and the on-disk project store."""

from .models import (  # noqa: F401
    Angle, BeatSheet, Character, ChatMessage, DialogueLine, Draft, DraftStatus, Movement,
    ProjectSettings, Provenance, Scene, Shot, Size, Step,
)
from .store import ProjectError, Store  # noqa: F401
