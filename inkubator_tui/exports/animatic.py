"""The approved animatics (one MP4 per language, signed with Content Credentials) and
their subtitles (`.srt` per language): what a director sends for review.

Approving an animatic already lands it in `exports/` (the pipeline's
contract); exporting writes it again from the approved draft, so a missing or
deleted file comes back, and adds its credentials, naming as ingredients the
signed keyframes, clips and voice lines it was cut from.
"""

from __future__ import annotations

from pathlib import Path

from ..pipeline.subtitles import animatic_exports, newest_animatics, srt
from ..pipeline.steps import language_of
from ..project.assets import atomic_write_bytes
from .base import ExportContext, ExportUnavailable
from .media import collect_media


class AnimaticExporter:
    name = "animatic"
    filename = "animatic.mp4"
    label = "the approved animatic per language (MP4, H.264 + AAC) with its subtitles"
    opens_in = "any video player (VLC, QuickTime, a browser); the .srt beside it loads as subtitles"

    def export(self, ctx: ExportContext, out: Path) -> list[Path]:
        drafts = newest_animatics(ctx.store)
        if not drafts:
            raise ExportUnavailable("approve an animatic first")
        written = []
        for d in drafts:
            put = _signed_put(ctx, d) if ctx.options.sign else None
            written += animatic_exports(ctx.store, d, put) if put else animatic_exports(ctx.store, d)
        if out.parent != ctx.exports_dir or out.name != self.filename:  # --out elsewhere: the primary's copy
            atomic_write_bytes(out, (ctx.exports_dir / self.filename).read_bytes())
            written.append(out)
        return written


class SubtitlesExporter:
    name = "srt"
    filename = "animatic.srt"
    label = "subtitles of each approved animatic (SubRip .srt per language)"
    opens_in = "VLC, mpv, any NLE (import as captions), YouTube / Vimeo caption upload"

    def export(self, ctx: ExportContext, out: Path) -> list[Path]:
        drafts = newest_animatics(ctx.store)
        if not drafts:
            raise ExportUnavailable("approve an animatic with voice first; subtitles follow its cuts")
        written = []
        for d in drafts:
            lang = d.data.get("language") or language_of(d.target, ctx.primary)
            text = srt(d.data.get("cues") or []).encode("utf-8")
            path = out if lang == ctx.primary else out.with_name(f"{out.stem}.{lang}.srt")
            atomic_write_bytes(path, text)
            written.append(path)
        return written


def _signed_put(ctx: ExportContext, draft):
    """Write the MP4 with credentials; ingredients are the signed media it was cut from."""
    from .credentials import AssetClaim, Credentials, CredentialsError, Ingredient

    try:
        cred = Credentials.load(cert=ctx.options.signing_cert, key=ctx.options.signing_key)
    except CredentialsError as e:
        ctx.notice(f"animatics written without Content Credentials: {e}")
        return None
    media = collect_media(ctx)
    lang = draft.data.get("language") or language_of(draft.target, ctx.primary)
    parts = []
    for m in media.shots:
        picture = m.clip or m.keyframe
        if picture is not None:
            parts.append(Ingredient(picture, f"shot {m.shot.number}"))
    for clip, path in media.voices.get(lang, []):
        parts.append(Ingredient(path, f"shot {clip.shot} line {clip.line} ({lang})"))

    def put(src: Path, dest: Path) -> None:
        try:
            cred.sign(src, dest, AssetClaim(title=f"{ctx.title}: animatic ({lang})", provenance=draft.provenance,
                                            ingredients=tuple(parts), composite=True))
        except CredentialsError as e:
            ctx.notice(f"{dest.name} written without Content Credentials: {e}")
            atomic_write_bytes(dest, src.read_bytes())

    return put
