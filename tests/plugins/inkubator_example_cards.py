"""An example plugin backend: title cards for keyframes.

A plugin is a class in any installed package, registered under the entry-point
group `inkubator.backends` as `<step>.<name>` (see the dist-info beside this
file, which is what `pip install` of a package with

    [project.entry-points."inkubator.backends"]
    "keyframes.cards" = "inkubator_example_cards:TitleCards"

writes). Chosen with `keyframe.backend = "cards"`; its options come from
`[keyframe.options]`. It draws no picture of the shot, so it says so: it is a
labelled non-neural backend, like the built-in sketch board.
"""

from __future__ import annotations

from typing import ClassVar

from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict

from inkubator_tui.pipeline.backend import BackendInfo, Capabilities, JobContext, Readiness
from inkubator_tui.pipeline.registry import validate_options
from inkubator_tui.pipeline.requests import KeyframeRequest, Result
from inkubator_tui.project.models import Step


class CardOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    background: tuple[int, int, int] = (20, 20, 28)
    ink: tuple[int, int, int] = (240, 240, 240)


class TitleCards:
    step: ClassVar[Step] = Step.KEYFRAMES
    Options: ClassVar[type[BaseModel]] = CardOptions
    capabilities: ClassVar[Capabilities] = Capabilities(cancellable=True, device="cpu")

    def __init__(self, config):
        self.options = validate_options(TitleCards, config, Step.KEYFRAMES, "cards")

    @classmethod
    def readiness(cls, config) -> Readiness:
        return Readiness(Step.KEYFRAMES, "cards", True, "title cards (example plugin, not a model)",
                         non_neural=True)

    def info(self) -> BackendInfo:
        return BackendInfo(name="cards", model_id="inkubator example title cards", licence="GPL-3.0-or-later",
                           non_neural=True, version="1", parameters=self.options.model_dump())

    def load(self, progress=None) -> None:
        pass

    def __call__(self, request: KeyframeRequest, ctx: JobContext) -> Result:
        img = Image.new("RGB", (request.width, request.height), self.options.background)
        d = ImageDraw.Draw(img)
        font = ImageFont.load_default(size=max(10, request.height // 12))
        ctx.cancel.check()
        title = f"{request.shot.number}{' END' if request.role == 'end' else ''} · {request.shot.size.value}"
        d.text((request.width * 0.08, request.height * 0.4), title, font=font, fill=self.options.ink)
        d.text((request.width * 0.08, request.height * 0.55), request.prompt[:60], font=font, fill=self.options.ink)
        out = ctx.workdir / f"card-{request.shot.number}-{request.role}.png"
        img.save(out)
        ctx.progress(1.0, "card drawn")
        return Result(files=[out], prompt=request.prompt, parameters={"role": request.role})
