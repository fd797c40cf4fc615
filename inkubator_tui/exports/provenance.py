"""The provenance report: every approved asset, how it was made and who approved it,
as JSON a machine checks (against a published JSON Schema generated from the
model below) and as Markdown a producer reads, restrictive licences first.

Content Credentials (credentials.py) travel inside each exported picture and
clip; this report is the whole project's ledger in one file, including what
carries no credentials (the beat sheet, translations, voice lines).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..project.assets import atomic_write_bytes, sha256_file
from ..project.models import Draft, DraftStatus, Step, utcnow
from ..project.notes_file import without_controls
from .base import ExportContext, ExportUnavailable

SCHEMA_ID = "urn:inkubator:provenance-report:1"
SCHEMA_FILE = "provenance.schema.json"
C1 = re.compile(r"[\x7f-\x9f]")  # DEL and the C1 controls, which json.dumps leaves as they are
# Licence words that limit use: a producer must read these before anything ships.
RESTRICTIVE = [
    (r"non[- ]?commercial|\bNC\b|\bCPML\b", "non-commercial use only"),
    (r"research[- ]only|research purposes", "research use only"),
    (r"openrail|\bRAIL\b", "use-based restrictions (OpenRAIL): pass them on to downstream users"),
    (r"gemma terms|llama .*licen[cs]e|community licen[cs]e", "model terms of use with use restrictions"),
    (r"see the|unknown|^$", "licence not recorded: check the model's card before release"),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class AssetFile(_Strict):
    path: str = Field(description="relative to the project folder")
    sha256: str = Field(pattern=r"^([0-9a-f]{64})?$", description="content hash now (empty when the file is missing)")
    present: bool


class AssetRecord(_Strict):
    draft: int
    step: Step
    target: str
    label: str = Field(description="what a person calls it: 'shot 4A keyframe', 'shot 4A line 1 (ja)'")
    version: int
    files: list[AssetFile]
    tool: str
    backend: str
    model_id: str
    weights_sha256: str
    licence: str
    restrictions: list[str] = Field(description="what the licence limits, in words; empty = none found")
    non_neural: bool = Field(description="made by a labelled non-neural default (sketch board, rules, camera move)")
    seed: int | None
    steps: int | None
    prompt: str
    negative_prompt: str
    parameters: dict[str, Any]
    inputs: list[str]
    started_at: str
    finished_at: str
    seconds: float | None = Field(description="how long the job took")
    approver: str
    approved_at: str
    approval_mode: str
    upstream: list[int] = Field(description="draft ids this asset was made from")


class ProvenanceReport(_Strict):
    schema_: str = Field(alias="$schema", default=SCHEMA_ID)
    project: str
    generated_at: str
    generator: str
    languages: list[str]
    assets: list[AssetRecord]
    restricted: list[int] = Field(description="draft ids whose licence limits use")


class ProvenanceExporter:
    name = "provenance"
    filename = "provenance.json"
    label = "provenance report: JSON (with its JSON Schema) and a Markdown summary"
    opens_in = "any JSON tool (jq, a schema validator); the .md in any text editor or Git host"

    def export(self, ctx: ExportContext, out: Path) -> list[Path]:
        report = build_report(ctx)
        atomic_write_bytes(out, report_json(report).encode("utf-8"))
        schema = out.parent / SCHEMA_FILE
        atomic_write_bytes(schema, (json.dumps(report_schema(), indent=2) + "\n").encode("utf-8"))
        md = out.with_suffix(".md")
        atomic_write_bytes(md, report_markdown(report).encode("utf-8"))
        return [out, md, schema]


def report_schema() -> dict[str, Any]:
    """The published schema: `schemas/provenance-report.schema.json` in the repository holds the
    same (a test keeps them equal), and each export writes it beside the report."""
    schema = ProvenanceReport.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def report_json(report: ProvenanceReport) -> str:
    """The report as JSON. JSON escapes C0 controls itself; C1 controls (a CSI written as
    U+009B) it writes as they are, so they are escaped too: the record keeps every prompt
    exactly, and `cat provenance.json` sends a terminal no control."""
    text = json.dumps(report.model_dump(mode="json", by_alias=True), indent=2, ensure_ascii=False) + "\n"
    return C1.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def restrictions(licence: str, parameters: dict[str, Any]) -> list[str]:
    found = [why for pattern, why in RESTRICTIVE if re.search(pattern, licence.strip(), re.I)]
    if parameters.get("non_commercial") and "non-commercial use only" not in found:
        found.insert(0, "non-commercial use only")
    return found


def build_report(ctx: ExportContext) -> ProvenanceReport:
    approved = ctx.store.drafts(status=DraftStatus.APPROVED)
    if not approved:
        raise ExportUnavailable("nothing is approved yet: approve a beat sheet first")
    labels = _labels(ctx)
    records = []
    for d in approved:
        p = d.provenance
        files = []
        for rel in d.files:
            path = ctx.store.assets.path(rel)
            present = not ctx.store.assets.problem(rel, content=False)  # never hashed through a link
            files.append(AssetFile(path=rel, sha256=sha256_file(path) if present else "", present=present))
        records.append(AssetRecord(
            draft=d.id, step=d.step, target=d.target, label=_label(labels, d),
            version=d.version, files=files, tool=p.tool, backend=p.backend, model_id=p.model_id,
            weights_sha256=p.weights_sha256, licence=p.licence,
            restrictions=[] if p.non_neural and not p.licence.strip() else restrictions(p.licence, p.parameters),
            non_neural=p.non_neural, seed=p.seed, steps=p.steps, prompt=p.prompt, negative_prompt=p.negative_prompt,
            parameters=p.parameters, inputs=p.inputs, started_at=p.started_at, finished_at=p.finished_at,
            seconds=_seconds(p.started_at, p.finished_at), approver=p.approver, approved_at=p.approved_at,
            approval_mode=p.approval_mode, upstream=d.upstream))
    return ProvenanceReport(project=ctx.title, generated_at=utcnow(), generator=f"inkubator {_version()}",
                            languages=list(ctx.settings.languages), assets=records,
                            restricted=[r.draft for r in records if r.restrictions])


def report_markdown(report: ProvenanceReport) -> str:
    out = [f"# Provenance: {_md(report.project)}", "",
           f"{len(report.assets)} approved assets · generated {report.generated_at} by {report.generator}", ""]
    restricted = [a for a in report.assets if a.restrictions]
    if restricted:
        out += ["## ⚠ Restrictive licences", "",
                "These assets were made by models whose licence limits how the result may be used:", ""]
        for a in restricted:
            out.append(f"- **{_md(a.label)}** (draft {a.draft}): {_md(a.model_id) or 'unknown model'}, "
                       f"licence *{_md(a.licence) or 'not recorded'}* — {'; '.join(a.restrictions)}")
        out.append("")
    else:
        out += ["No restrictive licences found.", ""]
    missing = [f for a in report.assets for f in a.files if not f.present]
    if missing:
        out += ["## ⚠ Missing files", ""] + [f"- `{f.path}`" for f in missing] + [""]
    for step in Step:
        rows = [a for a in report.assets if a.step == step]
        if not rows:
            continue
        out += [f"## {step.value.capitalize()}", "",
                "| Asset | Model | Licence | Seed | Approved by | When |", "|---|---|---|---|---|---|"]
        for a in rows:
            model = _md(a.model_id or a.backend) + (" (non-neural)" if a.non_neural else "")
            out.append(f"| {_md(a.label)} | {model} | {_md(a.licence) or '—'} | "
                       f"{'' if a.seed is None else a.seed} | {_md(a.approver)} | {a.approved_at[:16]} |")
        out.append("")
    return "\n".join(out)


def _labels(ctx: ExportContext) -> dict[str, str]:
    from ..pipeline.steps import language_target, role_target

    labels = {"sheet": "beat sheet"}
    try:
        sheet = ctx.sheet
    except ExportUnavailable:
        return labels
    for lang in ctx.settings.languages:
        suffix = "" if lang == ctx.primary else f" ({lang})"
        labels[language_target("project", lang, ctx.primary)] = "animatic" + suffix
        for shot in sheet.shots:
            for i, line in enumerate(shot.dialogue):
                labels[language_target(line.id, lang, ctx.primary)] = f"shot {shot.number} line {i + 1}{suffix}"
                if lang != ctx.primary:
                    labels[language_target(line.id, lang, "")] = f"shot {shot.number} line {i + 1}{suffix}"
    for shot in sheet.shots:
        labels[role_target(shot.id, "end")] = f"shot {shot.number} end keyframe"
        labels[shot.id] = f"shot {shot.number}"
    return labels


STEP_WORD = {Step.KEYFRAMES: "keyframe", Step.MOTION: "clip", Step.TRANSLATE: "translation", Step.VOICE: "voice"}


def _label(labels: dict[str, str], d: Draft) -> str:
    base = labels.get(d.target)
    if base is None:
        return f"{d.step.value} {d.target}"
    word = STEP_WORD.get(d.step, "")
    return base if not word or base.endswith(word) else f"{base} {word}"


def _seconds(start: str, end: str) -> float | None:
    try:
        return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)
    except ValueError:
        return None


def _md(text: str) -> str:
    return " ".join(without_controls(str(text)).replace("|", "\\|").split())


def _version() -> str:
    try:
        return version("inkubator-tui")
    except PackageNotFoundError:
        return "0"

