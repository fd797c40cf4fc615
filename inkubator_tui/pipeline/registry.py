"""Which backend serves each step: built-ins, plugins, and the configured choice.

Backends are named by "module:Class" so nothing heavy is imported until a
step actually needs it. Plugins register through the entry-point group
`inkubator.backends` with names like `keyframes.mymodel`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points

from ..config import Config
from ..project.models import Step
from .backend import Backend, BackendError, Readiness

ENTRY_POINT_GROUP = "inkubator.backends"


@dataclass(frozen=True)
class BackendSpec:
    step: Step
    name: str
    ref: str  # "module:Class"; the class takes (config) and has readiness(config)

    def load_class(self) -> type:
        module, _, cls = self.ref.partition(":")
        return getattr(importlib.import_module(module), cls)


# In order of preference for "auto": real models first, labelled defaults last.
BUILTINS: list[BackendSpec] = [
    BackendSpec(Step.BEATS, "openai", "inkubator_tui.agents.backend:ServerBeats"),
    BackendSpec(Step.BEATS, "llama", "inkubator_tui.agents.backend:LlamaBeats"),
    BackendSpec(Step.BEATS, "rules", "inkubator_tui.agents.rules:RuleBeats"),
    BackendSpec(Step.KEYFRAMES, "sketch", "inkubator_tui.tools.keyframe.sketch:SketchBoard"),
    BackendSpec(Step.MOTION, "camera", "inkubator_tui.tools.motion.camera:CameraMove"),
    BackendSpec(Step.VOICE, "piper", "inkubator_tui.tools.voice.piper:PiperVoiceBackend"),
    BackendSpec(Step.ANIMATIC, "ffmpeg", "inkubator_tui.tools.animatic:Animatic"),
]


def _plugin_specs() -> list[BackendSpec]:
    specs = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        step, _, name = ep.name.partition(".")
        if step in Step._value2member_map_ and name:
            specs.append(BackendSpec(Step(step), name, ep.value))
    return specs


class UnknownBackend(BackendError):
    """A configured backend name that no built-in or plugin has."""


SECTION = {Step.BEATS: "llm", Step.KEYFRAMES: "keyframe", Step.MOTION: "motion", Step.VOICE: "voice",
           Step.ANIMATIC: "animatic"}


def configured_choice(config: Config, step: Step) -> str:
    return {
        Step.BEATS: config.llm.backend,
        Step.KEYFRAMES: config.keyframe.backend,
        Step.MOTION: config.motion.backend,
        Step.VOICE: config.voice.backend,
        Step.ANIMATIC: "auto",
    }[step]


class Registry:
    """Resolves one backend instance per step, lazily, and reports readiness."""

    def __init__(self, config: Config, overrides: dict[Step, Backend | None] | None = None):
        self.config = config
        self._overrides = dict(overrides or {})
        self._instances: dict[Step, Backend | None] = {}
        self.specs = BUILTINS + _plugin_specs()

    def specs_for(self, step: Step) -> list[BackendSpec]:
        return [s for s in self.specs if s.step == step]

    def _choose(self, step: Step) -> BackendSpec | None:
        """The configured backend, or for "auto" the first ready one — real models
        (plugins included) before labelled non-neural defaults. A plugin that fails
        to load is skipped by "auto" (doctor reports it); an unknown name is an error."""
        choice = configured_choice(self.config, step)
        if choice == "none":
            return None
        candidates = self.specs_for(step)
        if choice != "auto":
            named = [s for s in candidates if s.name == choice]
            if not named:
                names = ", ".join(["auto", *(s.name for s in candidates), "none"])
                raise UnknownBackend(f"{SECTION[step]}.backend = {choice!r} is not a {step.value} backend; "
                                     f"choose one of: {names} (`inkubator doctor` lists them)")
            return named[0]
        ready: list[tuple[bool, BackendSpec]] = []
        for spec in candidates:
            try:
                r = spec.load_class().readiness(self.config)
            except Exception:  # noqa: BLE001 - a broken plugin never breaks "auto"
                continue
            if r.ready:
                ready.append((r.non_neural, spec))
        return min(ready, key=lambda pair: pair[0])[1] if ready else None

    def resolve(self, step: Step) -> Backend | None:
        """The backend for `step`, or None when the step has none (it is skipped)."""
        if step in self._overrides:
            return self._overrides[step]
        if step not in self._instances:
            spec = self._choose(step)
            self._instances[step] = spec.load_class()(self.config) if spec else None
        return self._instances[step]

    def readiness(self) -> list[Readiness]:
        out = []
        for step in Step:
            if step in self._overrides:
                b = self._overrides[step]
                out.append(Readiness(step, b.info().name if b else "none", b is not None, "injected"))
                continue
            for spec in self.specs_for(step):
                try:
                    out.append(spec.load_class().readiness(self.config))
                except Exception as e:  # a broken plugin must not hide the others
                    out.append(Readiness(step, spec.name, False, f"cannot load {spec.ref}: {e}"))
        return out
