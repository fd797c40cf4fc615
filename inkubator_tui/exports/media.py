"""Each shot's approved pictures, clip and voice lines, copied out under names a person
reads (`exports/media/shot-4A.mp4`), each picture and clip carrying Content Credentials.

The project's own assets are named by content hash and live inside the project;
an editor, a colleague or a festival gets `exports/` instead. The timelines
point here (relative paths), so `exports/` opens on another machine as it is.
A file is copied (and signed) again only when its approved source changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..project.assets import atomic_write_bytes, sha256_file
from ..project.models import Draft, Shot
from .base import ExportContext, ExportUnavailable, VoiceClip

INDEX = ".sources.json"  # dest name -> sha256 of the source and whether it was signed
SIGNED_SUFFIXES = {".png", ".jpg", ".jpeg", ".mp4", ".mov"}


@dataclass
class ShotMedia:
    shot: Shot
    keyframe: Path | None = None
    end_keyframe: Path | None = None
    clip: Path | None = None
    clip_seconds: float = 0.0
    # the clip's last frame, for a shot the animatic runs longer than its clip (its lines need it)
    hold: Path | None = None


@dataclass
class MediaIndex:
    folder: Path
    shots: list[ShotMedia] = field(default_factory=list)
    voices: dict[str, list[tuple[VoiceClip, Path]]] = field(default_factory=dict)  # language -> placed lines
    files: list[Path] = field(default_factory=list)

    def of(self, shot: Shot) -> ShotMedia:
        return next(m for m in self.shots if m.shot.id == shot.id)


class MediaExporter:
    name = "media"
    filename = "media"
    label = "each shot's approved keyframes, clip and voice lines, named by shot, with Content Credentials"
    opens_in = "any file browser; PNG/MP4 credentials verify at contentcredentials.org/verify or with c2patool"

    def export(self, ctx: ExportContext, out: Path) -> list[Path]:
        media = collect_media(ctx, out)
        if not media.files:
            raise ExportUnavailable("no approved keyframes, clips or voice lines yet")
        return media.files


def collect_media(ctx: ExportContext, folder: Path | None = None) -> MediaIndex:
    """Copy (and sign) every approved asset the exports refer to; cached per context."""
    folder = (folder or ctx.exports_dir / "media").absolute()
    cached = ctx._media.get(str(folder))
    if cached is not None:
        return cached
    writer = _Writer(ctx, folder)
    media = MediaIndex(folder)
    runs = {t.shot.id: t.seconds for t in ctx.timing()}
    for shot in ctx.sheet.shots:
        m = ShotMedia(shot)
        kf, end, mo = ctx.keyframe(shot, "start"), ctx.keyframe(shot, "end"), ctx.motion(shot)
        if kf is not None:
            m.keyframe = writer.put(kf, f"shot-{shot.number}.png", f"shot {shot.number} keyframe")
        if end is not None:
            m.end_keyframe = writer.put(end, f"shot-{shot.number}-end.png", f"shot {shot.number} end keyframe")
        if mo is not None:
            m.clip = writer.put(mo, f"shot-{shot.number}.mp4", f"shot {shot.number} clip",
                                ingredients=[d for d in (kf, end) if d is not None])
            frames, fps = mo.data.get("frames"), mo.data.get("fps")
            m.clip_seconds = float(mo.data.get("seconds") or (frames / fps if frames and fps else shot.duration_s))
            if runs.get(shot.id, 0.0) > m.clip_seconds + 0.5 / ctx.settings.fps:
                m.hold = writer.put_last_frame(mo, m.clip, f"shot-{shot.number}-hold.png",
                                               f"shot {shot.number} hold frame")
        media.shots.append(m)
    for lang in ctx.settings.languages:
        placed = []
        for clip in ctx.voice_clips(lang):
            name = f"shot-{clip.shot}-line{clip.line}.{lang}.wav"
            placed.append((clip, writer.put(clip.draft, name, f"shot {clip.shot} line {clip.line} ({lang})")))
        if placed:
            media.voices[lang] = placed
    writer.save()
    media.files = writer.written
    if writer.unsigned and ctx.options.sign:
        ctx.notice(f"media written without Content Credentials: {writer.unsigned}")
    ctx._media[str(folder)] = media
    return media


class _Writer:
    """Copies sources out once, signing pictures and clips when credentials are available."""

    def __init__(self, ctx: ExportContext, folder: Path):
        self.ctx, self.folder = ctx, folder
        self.written: list[Path] = []
        self.unsigned = "" if ctx.options.sign else "signing is off (export.sign = false)"
        self._credentials = None
        self._digests: dict[Path, str] = {}
        try:
            self.index = json.loads((folder / INDEX).read_text())
        except (OSError, ValueError):
            self.index = {}

    def credentials(self):
        if self._credentials is None and not self.unsigned:
            from .credentials import Credentials, CredentialsError

            try:
                self._credentials = Credentials.load(cert=self.ctx.options.signing_cert,
                                                     key=self.ctx.options.signing_key)
            except CredentialsError as e:
                self.unsigned = str(e)
        return self._credentials

    def put(self, draft: Draft, name: str, title: str, ingredients: list[Draft] = ()) -> Path:
        src = self.ctx.asset(draft)
        sign = Path(name).suffix.lower() in SIGNED_SUFFIXES and self.ctx.options.sign
        digest = self._digest(src)
        if (done := self._current(name, digest, sign)) is not None:
            return done

        def parts():  # an ingredient is its signed copy when there is one: its credentials travel inside
            from .credentials import Ingredient

            return tuple(Ingredient(self._signed_or_source(d), f"{d.step.value} {d.target}") for d in ingredients)

        return self._place(src, name, digest, sign, draft, title, parts)

    def put_last_frame(self, draft: Draft, clip: Path, name: str, title: str) -> Path | None:
        """The clip's last frame as a PNG, signed with the clip as its parent; decoded again only
        when the clip changed."""
        from ..tools.video import read_mp4

        src = self.ctx.asset(draft)
        digest = self._digest(src)
        sign = self.ctx.options.sign
        if (done := self._current(name, digest, sign)) is not None:
            return done
        last = None
        try:
            for last in read_mp4(src):
                pass
        except (OSError, RuntimeError, ValueError):
            last = None
        if last is None:
            return None

        def parent():
            from .credentials import Ingredient

            return (Ingredient(clip, title.replace("hold frame", "clip"), relationship="parentOf"),)

        tmp = self.folder / f".tmp-{name}"
        last.save(tmp, format="PNG")
        try:
            return self._place(tmp, name, digest, sign, draft, title, parent)
        finally:
            tmp.unlink(missing_ok=True)

    def _current(self, name: str, digest: str, sign: bool) -> Path | None:
        """The file already written from this source (and signed as asked), if there is one."""
        dest = self.folder / name
        if dest.is_file() and self.index.get(name) == {"source": digest, "signed": sign}:
            self.written.append(dest)
            return dest
        return None

    def _place(self, src: Path, name: str, digest: str, sign: bool, draft: Draft, title: str, ingredients) -> Path:
        """Write `src` as `name`: signed when asked and credentials are at hand, else copied."""
        dest = self.folder / name
        signed = False
        if sign and (cred := self.credentials()) is not None:
            from .credentials import AssetClaim, CredentialsError

            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                cred.sign(src, dest, AssetClaim(title=f"{self.ctx.title}: {title}", provenance=draft.provenance,
                                                ingredients=ingredients()))
                signed = True
            except CredentialsError as e:
                self.unsigned = str(e)
        if not signed:
            atomic_write_bytes(dest, src.read_bytes())
        self.index[name] = {"source": digest, "signed": signed}
        self.written.append(dest)
        return dest

    def _digest(self, path: Path) -> str:
        """A source's hash, computed once per export (a clip is also an ingredient of its hold)."""
        if path not in self._digests:
            self._digests[path] = sha256_file(path)
        return self._digests[path]

    def _signed_or_source(self, draft: Draft) -> Path:
        src = self.ctx.asset(draft)
        digest = self._digest(src)
        for name, entry in self.index.items():
            if entry.get("source") == digest and (self.folder / name).is_file():
                return self.folder / name
        return src

    def save(self) -> None:
        if self.written:
            atomic_write_bytes(self.folder / INDEX, json.dumps(self.index, indent=1, sort_keys=True).encode())

