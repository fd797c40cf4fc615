"""SubRip subtitles of an approved animatic, and the animatic's files on disk
(approving an animatic lands it in `exports/`: part of the pipeline's contract).

The animatic backend reports each line's cue (start, end, words) in its
draft; the .srt is written from those, beside the MP4 of the same language,
so the two always agree. Exports are derived state: `animatic_exports` makes
them again from the approved draft whenever they are missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..project.assets import atomic_write_bytes, refuse_links
from ..project.models import Draft, DraftStatus, Step
from ..project.notes_file import without_controls
from ..project.store import Store
from .steps import language_of

MIN_CUE_S = 0.7  # a cue shorter than this cannot be read; it is held longer (not past the next)


def timestamp(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def srt(cues: list[dict]) -> str:
    """SubRip text of `cues` ({start_s, end_s, text}), numbered from 1, in time order; the words
    only (`without_controls`: a player, or `cat` in a terminal, gets no escape sequence)."""
    said = [{**c, "text": without_controls(c.get("text") or "").strip()} for c in cues]
    spoken = sorted((c for c in said if c["text"]), key=lambda c: c["start_s"])
    blocks = []
    for i, c in enumerate(spoken):
        end = max(c["end_s"], c["start_s"] + MIN_CUE_S)
        if i + 1 < len(spoken) and end > spoken[i + 1]["start_s"]:
            # held no later than the next cue's start, but never ending before its own start
            end = max(c["end_s"], min(end, spoken[i + 1]["start_s"] - 0.001), c["start_s"] + 0.001)
        text = "\n".join(ln.strip() for ln in c["text"].splitlines() if ln.strip())
        blocks.append(f"{i + 1}\n{timestamp(c['start_s'])} --> {timestamp(end)}\n{text}\n")
    return "\n".join(blocks)


def _copy(src: Path, dest: Path) -> None:
    atomic_write_bytes(dest, src.read_bytes())


def animatic_files(store: Store, draft: Draft) -> list[Path]:
    """Where an approved animatic is exported, relative to the project: `animatic.<lang>.mp4`
    and `.srt`, and for the script's own language `animatic.mp4` and `.srt` too."""
    primary = (store.settings.languages or ["en"])[0]
    lang = draft.data.get("language") or language_of(draft.target, primary)
    names = [f"animatic.{lang}.mp4", f"animatic.{lang}.srt"] + (["animatic.mp4", "animatic.srt"] if lang == primary
                                                                 else [])
    return [Path("exports") / n for n in names]


def animatic_exports(store: Store, draft: Draft, put: Callable[[Path, Path], None] = _copy) -> list[Path]:
    """Write `exports/animatic.<lang>.mp4` and `.srt` for an approved animatic; the script's
    own language is also `exports/animatic.mp4` and `.srt` (a hard link where possible).
    `put` writes the MP4 (the exports sign it with Content Credentials)."""
    primary = (store.settings.languages or ["en"])[0]
    lang = draft.data.get("language") or language_of(draft.target, primary)
    out = refuse_links(store.root, store.root / "exports")
    written = []
    mp4 = refuse_links(store.root, out / f"animatic.{lang}.mp4")
    put(store.assets.verified(draft.files[0]), mp4)
    written.append(mp4)
    sub = refuse_links(store.root, out / f"animatic.{lang}.srt")
    atomic_write_bytes(sub, srt(draft.data.get("cues") or []).encode("utf-8"))
    written.append(sub)
    if lang == primary:
        for src, name in ((mp4, "animatic.mp4"), (sub, "animatic.srt")):
            dest = out / name
            tmp = out / f".tmp-{name}"
            tmp.unlink(missing_ok=True)
            try:
                os.link(src, tmp)
            except OSError:
                atomic_write_bytes(tmp, src.read_bytes())
            os.replace(tmp, dest)
            written.append(dest)
    return written


def newest_animatics(store: Store) -> list[Draft]:
    """Each language's newest approved animatic."""
    newest: dict[str, Draft] = {}
    for d in store.drafts(Step.ANIMATIC, status=DraftStatus.APPROVED):
        newest[d.target] = d
    return [d for d in newest.values() if d.files]


def all_animatic_exports(store: Store) -> list[Path]:
    """Every approved animatic's files (each language's newest approval)."""
    return [p for d in newest_animatics(store) for p in animatic_exports(store, d)]
