"""The shot list as CSV: what a first AD prints, sorts and schedules from.

Script order by default; setup order groups a scene's shots by camera setup
(size, angle, lens) so the crew lights each setup once. Every cell is safe
to open in a spreadsheet: no control characters, and no cell starts with a
character a spreadsheet reads as a formula.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..project.assets import atomic_write_bytes
from ..project.models import Shot
from .base import ExportContext
from .screenplay import clean

CSV_COLUMNS = ["Scene", "Shot", "Size", "Angle", "Movement", "Lens", "Description", "Dialogue", "Duration",
               "Status", "Notes"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ShotListExporter:
    name = "csv"
    filename = "shotlist.csv"
    label = "shot list (CSV), script or setup order"
    opens_in = "LibreOffice Calc, Excel, Numbers, Google Sheets, StudioBinder / Shot Lister (CSV import)"

    def export(self, ctx: ExportContext, out: Path) -> list[Path]:
        atomic_write_bytes(out, shot_list_csv(ctx).encode("utf-8"))
        return [out]


def shot_list_csv(ctx: ExportContext) -> str:
    sheet = ctx.sheet
    shots = list(sheet.shots)
    if ctx.options.order == "setup":
        shots = setup_order(shots)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for s in shots:
        dialogue = " / ".join(f"{d.character or '?'}: {d.text}" + (f" ({d.delivery})" if d.delivery else "")
                              for d in s.dialogue)
        # Numbers and the exporter's own words as they are; text from notes, a model or a person as `cell`s.
        w.writerow([s.scene, s.number, s.size.value, s.angle.value, s.movement.value, cell(s.lens), cell(s.action),
                    cell(dialogue), f"{s.duration_s:g}", ctx.shot_status(s), cell(s.notes)])
    return buf.getvalue()


def setup_order(shots: list[Shot]) -> list[Shot]:
    """Within each scene, shots sharing a setup (size, angle, lens) together, in the order the
    setup first appears; the scenes keep their script order."""
    first_seen: dict[tuple, int] = {}
    for i, s in enumerate(shots):
        first_seen.setdefault((s.scene, s.size, s.angle, s.lens), i)
    scene_first: dict[int, int] = {}
    for i, s in enumerate(shots):
        scene_first.setdefault(s.scene, i)
    return sorted(shots, key=lambda s: (scene_first[s.scene], first_seen[(s.scene, s.size, s.angle, s.lens)]))


def cell(value: str) -> str:
    """One line of plain text that a spreadsheet shows as text, never runs as a formula: no
    terminal escapes or controls, and a leading `=`, `+`, `-`, `@`, tab or CR quoted with `'`
    (OWASP's advice for CSV injection). Only for text from notes, a model or a person: the
    numbers the exporter writes stay numbers."""
    text = " ".join(clean(str(value)).split())
    return "'" + text if text.startswith(FORMULA_START) else text
