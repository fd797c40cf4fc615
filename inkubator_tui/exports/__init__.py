"""Interchange files a production already uses: screenplays (Fountain, Final Draft),
the shot list, timelines (OTIO, EDL, FCP 7 XML), the storyboard sheet (HTML,
PDF), each shot's media with Content Credentials, the animatics with their
subtitles, and the provenance report. One module per format (base.py says
the contract); `export` runs one format or every one the project allows.
"""

from __future__ import annotations

from pathlib import Path

from ..project.assets import refuse_links
from ..project.store import ProjectError, Store
from .base import ExportContext, ExportOptions, ExportUnavailable, exporter, exporter_specs

__all__ = ["ExportContext", "ExportOptions", "ExportUnavailable", "export", "export_all", "exporter",
           "exporter_specs"]


def export(store: Store, formats: list[str] | None = None, *, options: ExportOptions = ExportOptions(),
           out: Path | None = None, ctx: ExportContext | None = None) -> tuple[list[Path], ExportContext]:
    """Write the named formats (all when None) into `exports/` (or `out`, for one format);
    returns the paths written and the context (its `notices` say what a person should know).
    Asked for by name, a format the project cannot make yet is an error; among all, it is skipped."""
    ctx = ctx or ExportContext(store, options)
    names = formats or [s.name for s in exporter_specs()]
    if out is not None and len(names) != 1:
        raise ProjectError("--out names one file: give one --format with it")
    written: list[Path] = []
    skipped: list[str] = []
    for name in names:
        ex = exporter(name)
        target = out or ctx.exports_dir / ex.filename
        if target.absolute().is_relative_to(store.root.absolute()):  # never written through a link in the project
            refuse_links(store.root, target)
        try:
            written += [p for p in ex.export(ctx, target) if p not in written]
        except ExportUnavailable as e:
            if formats:
                raise ExportUnavailable(f"{name}: {e}") from None
            skipped.append(name)
    if skipped and written:
        ctx.notice(f"not made yet: {', '.join(skipped)} (approve more steps; `inkubator status` says which)")
    if not written:
        raise ProjectError("nothing to export yet: approve a beat sheet first")
    return written, ctx


def export_all(store: Store, options: ExportOptions = ExportOptions()) -> list[Path]:
    return export(store, options=options)[0]
