"""The beats backend with no model: notes split and mapped by rules.

Labelled as non-neural everywhere it shows (doctor, provenance, the TUI), so
nobody mistakes its shot list for a model's.
"""

from __future__ import annotations

from typing import ClassVar

from ..config import Config
from ..pipeline.backend import BackendInfo, JobContext, Progress, Readiness, no_progress
from ..pipeline.requests import BeatsRequest, Result
from ..project.models import Step
from .notes import parse_notes


class RuleBeats:
    step: ClassVar[Step] = Step.BEATS

    def __init__(self, config: Config):
        self.config = config

    @classmethod
    def readiness(cls, config: Config) -> Readiness:
        return Readiness(Step.BEATS, "rules", True,
                         "rule-based beat splitter (no language model): scenes, shots, quoted dialogue, camera words",
                         non_neural=True)

    def info(self) -> BackendInfo:
        return BackendInfo(name="rules", model_id="inkubator notes rules", licence="GPL-3.0-or-later",
                           non_neural=True, version="1")

    def load(self, progress: Progress = no_progress) -> None:
        pass

    def __call__(self, request: BeatsRequest, ctx: JobContext) -> Result:
        ctx.progress(0.1, "splitting notes into shots")
        cut: list[str] = []
        sheet = parse_notes(request.notes, cuts=cut)  # the notes' own title; the project keeps a title a person set
        ctx.cancel.check()
        return Result(data={"sheet": sheet.model_dump(mode="json")}, prompt=request.notes[:4000], notices=cut)
