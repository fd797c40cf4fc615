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
from pydantic import BaseModel, ValidationError

from .backend import Backend, BackendError, NoOptions, Readiness
from .executors import BackendHandle

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
    BackendSpec(Step.KEYFRAMES, "diffusion", "inkubator_tui.tools.keyframe.diffusion:DiffusionKeyframes"),
    BackendSpec(Step.KEYFRAMES, "sketch", "inkubator_tui.tools.keyframe.sketch:SketchBoard"),
    BackendSpec(Step.MOTION, "rife-vulkan", "inkubator_tui.tools.motion.rife_vulkan:RifeVulkan"),
    BackendSpec(Step.MOTION, "rife", "inkubator_tui.tools.motion.rife:RifeMotion"),
    BackendSpec(Step.MOTION, "camera", "inkubator_tui.tools.motion.camera:CameraMove"),
    BackendSpec(Step.TRANSLATE, "llm", "inkubator_tui.agents.translate:LLMTranslate"),
    BackendSpec(Step.VOICE, "piper", "inkubator_tui.tools.voice.piper:PiperVoiceBackend"),
    BackendSpec(Step.VOICE, "kokoro", "inkubator_tui.tools.voice.kokoro:KokoroVoice"),
    BackendSpec(Step.VOICE, "coqui", "inkubator_tui.tools.voice.coqui:CoquiVoice"),
    BackendSpec(Step.VOICE, "espeak", "inkubator_tui.tools.voice.espeak:EspeakVoice"),
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


SECTION = {Step.BEATS: "llm", Step.KEYFRAMES: "keyframe", Step.MOTION: "motion", Step.TRANSLATE: "translate",
           Step.VOICE: "voice", Step.ANIMATIC: "animatic"}


def configured_choice(config: Config, step: Step) -> str:
    return {
        Step.BEATS: config.llm.backend,
        Step.KEYFRAMES: config.keyframe.backend,
        Step.MOTION: config.motion.backend,
        Step.TRANSLATE: config.translate.backend,
        Step.VOICE: config.voice.backend,
        Step.ANIMATIC: "auto",
    }[step]


def section_options(config: Config, step: Step) -> dict:
    section = getattr(config, SECTION[step], None)
    return dict(getattr(section, "options", {}) or {})


def validate_options(cls: type, config: Config, step: Step, name: str) -> BaseModel:
    """The backend's own options from `[<section>.options]`, validated by its `Options` model;
    a bad key or value is one BackendError naming the key and the backend."""
    model: type[BaseModel] = getattr(cls, "Options", NoOptions)
    raw = section_options(config, step)
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        known = ", ".join(model.model_fields) or "none"
        what = "is not an option of" if err["type"] == "extra_forbidden" else f"= {raw.get(key)!r}: {err['msg']} for"
        raise BackendError(f"{SECTION[step]}.options.{key} {what} the {name} backend "
                           f"(its options: {known})") from None


class Registry:
    """Resolves backend instances by step and name, lazily, and reports readiness."""

    def __init__(self, config: Config, overrides: dict[Step, Backend | None] | None = None):
        self.config = config
        self._overrides = dict(overrides or {})
        self._instances: dict[Step, Backend | None] = {}
        self._named: dict[tuple[Step, str], Backend] = {}
        self._passed_over: dict[Step, list[Readiness]] = {}
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
        passed = self._passed_over.setdefault(step, [])
        for spec in candidates:
            try:
                r = spec.load_class().readiness(self.config)
            except Exception:  # noqa: BLE001 - a broken plugin never breaks "auto"
                continue
            if r.ready:
                ready.append((r.non_neural, spec))
            elif r.setting and all(p.setting != r.setting for p in passed):
                passed.append(r)
        return min(ready, key=lambda pair: pair[0])[1] if ready else None

    def passed_over(self, step: Step) -> list[Readiness]:
        """The backends "auto" left out when it resolved `step` because a setting the person gave
        does not work (one per setting), so the pipeline can say why the step runs on another."""
        return list(self._passed_over.get(step, []))

    def resolve(self, step: Step) -> Backend | None:
        """The backend for `step`, or None when the step has none (it is skipped)."""
        if step in self._overrides:
            return self._overrides[step]
        if step not in self._instances:
            spec = self._choose(step)
            self._instances[step] = self._build(spec) if spec else None
        return self._instances[step]

    def _build(self, spec: BackendSpec) -> Backend:
        cls = spec.load_class()
        validate_options(cls, self.config, spec.step, spec.name)
        backend = cls(self.config)
        backend._inkubator_spec = spec  # so handle() can tell a worker how to rebuild it
        return backend

    def named(self, step: Step, name: str) -> Backend | None:
        """The backend called `name` for `step` ("" = the step's configured one): a
        cast can name its own voice engine, so two characters use two engines."""
        default = self.resolve(step)
        if not name or (default is not None and default.info().name == name):
            return default
        if (step, name) not in self._named:
            spec = next((s for s in self.specs_for(step) if s.name == name), None)
            if spec is None:
                names = ", ".join(s.name for s in self.specs_for(step))
                raise UnknownBackend(f"{name!r} is not a {step.value} backend; choose one of: {names}")
            self._named[(step, name)] = self._build(spec)
        return self._named[(step, name)]

    def handle(self, backend: Backend) -> BackendHandle:
        """How an executor gets `backend` in another process: rebuilt from its class and
        this config, or (an injected instance with no spec) the instance itself."""
        spec = getattr(backend, "_inkubator_spec", None)
        if spec is None:
            return BackendHandle(instance=backend)
        return BackendHandle(ref=spec.ref, config=self.config.model_dump(mode="json"), instance=backend)

    def options(self, step: Step) -> BaseModel | None:
        """The validated options of the step's backend (None when the step has none)."""
        backend = self.resolve(step)
        if backend is None:
            return None
        spec = getattr(backend, "_inkubator_spec", None)
        return validate_options(type(backend), self.config, step, spec.name if spec else backend.info().name)

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
