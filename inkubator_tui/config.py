"""Settings from four layers: CLI flag > environment > project file > user file > defaults.

User file: `config.toml` in the platform's config dir, or the file named by
`INKUBATOR_CONFIG`. Project file: `inkubator.toml` in the project folder.
Environment: `INKUBATOR_<SECTION>__<KEY>` (e.g. `INKUBATOR_LLM__N_THREADS=2`).
Every effective value remembers which layer it came from (`inkubator config`).

A project file may come from someone else: the settings that reach the network or files
outside the project (`TRUSTED_ONLY`, `needs_trust`) apply from it only once the user trusts
that version of the file (`trust.py`); until then they are listed in `LoadedConfig.untrusted`.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from platformdirs import user_config_path
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import trust

ENV_FILE = "INKUBATOR_CONFIG"
ENV_PREFIX = "INKUBATOR_"
PROJECT_FILE = "inkubator.toml"


# A backend by name: "auto" (the best ready one), "none" (skip the step), a built-in or a
# plugin's name (`inkubator doctor` lists them); the registry says which names exist.
BackendName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]*$", max_length=64)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


# `[<section>.options]`: the chosen backend's own settings, validated by its `Options` model
# when the backend is built (`inkubator doctor` and `inkubator config` show them).
BackendOptions = dict[str, Any]


class LLMConfig(_Section):
    # auto: a server when server_url is set, else llama.cpp on model_path (empty =
    # the embedded Gemma 3 270M), else the labelled rule-based splitter.
    backend: BackendName = "auto"  # auto | llama | openai | rules | a plugin
    model_path: str = ""
    # GGUFs without a chat template need one named (gemma, chatml, llama-3, ...); "" = from the GGUF/arch.
    chat_format: str = ""
    server_url: str = ""
    model_name: str = ""
    # auto: per-shot fill for base models, whole-scene planning for instruct models and servers.
    strategy: Literal["auto", "per-shot", "whole-scene"] = "auto"
    n_ctx: int = Field(default=4096, ge=512, le=131072)
    n_gpu_layers: int = Field(default=0, ge=-1, le=1000)
    max_tokens: int = Field(default=120, ge=16, le=8192)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    repeat_penalty: float = Field(default=1.3, ge=1.0, le=2.0)
    # Chat turns kept verbatim; older ones are folded into a summary line.
    history_tokens: int = Field(default=1200, ge=64, le=100000)
    # How schema-constrained replies are decoded in-process. auto/guided: llguidance token
    # masks, forced tokens appended without sampling, the shared prompt prefix kept in the
    # KV cache; grammar: llama.cpp's own grammar sampler (slower; the fallback).
    decoding: Literal["auto", "guided", "grammar"] = "auto"
    # Where a field is one of a few options (size, angle, duration, a name): take the
    # likeliest ("likely") or draw a sample at the temperature ("sample").
    choices: Literal["likely", "sample"] = "sample"


class KeyframeConfig(_Section):
    # "auto": diffusion when model_path is a model, else the labelled sketch board.
    backend: BackendName = "auto"  # auto | diffusion | sketch | none | a plugin
    # Your Stable Diffusion model: a diffusers folder (model_index.json) or one .safetensors
    # checkpoint (SD 1.x, 2.x, XL). Nothing is ever downloaded.
    model_path: str = ""
    candidates: int = Field(default=1, ge=1, le=8)
    long_side: int = Field(default=640, ge=64, le=4096)
    options: BackendOptions = Field(default_factory=dict)


class MotionConfig(_Section):
    # "auto": RIFE on PyTorch (the bundled HDv3 weights), or rife-vulkan when a real (non-CPU)
    # Vulkan GPU exists; "camera": the labelled 2-D camera move over the approved keyframe.
    backend: BackendName = "auto"  # auto | rife | rife-vulkan | camera | none | a plugin
    # Your own RIFE: a Practical-RIFE 4.x `flownet.pkl` (rife) or an ncnn model folder named
    # rife-v4… holding flownet.param/.bin (rife-vulkan); empty = the bundled HDv3 weights.
    model_path: str = ""
    # Animate on ones, twos or threes: a new drawing every 1, 2 or 3 frames.
    on: Literal[1, 2, 3] = 1
    options: BackendOptions = Field(default_factory=dict)


class VoiceConfig(_Section):
    # The engine for characters nobody cast: "auto" = Piper (the bundled voice), espeak-ng
    # (robotic) when Piper is missing. Each cast may name its own engine (`inkubator cast`).
    backend: BackendName = "auto"  # auto | piper | kokoro | coqui | espeak | none | a plugin
    # A Piper .onnx voice of your own as the default voice; empty = the bundled en_US joe voice.
    model_path: str = ""
    # A folder of Piper voices (each .onnx with its .onnx.json), all offered for casting;
    # empty = the `voices` folder in inkubator's data dir (`inkubator doctor` shows where).
    voices_dir: str = ""
    speed: float = Field(default=1.0, gt=0.2, le=4.0)
    # Every line is brought to this integrated loudness (EBU R128), plus its delivery's gain.
    loudness_lufs: float = Field(default=-20.0, ge=-40.0, le=-10.0)
    # Coqui TTS from your own files (never a model name: that downloads). A VITS-style model:
    # coqui_model_path (model .pth) + coqui_config_path (its config.json); or an XTTS folder
    # (model.pth, config.json, vocab.json) as xtts_path, cloning each character's reference clip.
    coqui_model_path: str = ""
    coqui_config_path: str = ""
    xtts_path: str = ""
    options: BackendOptions = Field(default_factory=dict)


class TranslateConfig(_Section):
    # "auto": the language model when it can translate (a server, or an instruct GGUF as
    # llm.model_path); the embedded base model cannot, so translations are typed by a person.
    backend: BackendName = "auto"  # auto | llm | none | a plugin
    # A translation this much longer to say than its original is flagged in its draft.
    long_ratio: float = Field(default=1.4, ge=1.0, le=5.0)
    options: BackendOptions = Field(default_factory=dict)


class AnimaticConfig(_Section):
    crf: int = Field(default=23, ge=0, le=51)
    # A .ttf/.otf for burnt-in captions; it must have the glyphs of every language burnt in
    # (e.g. Noto Sans CJK for Japanese). Empty = DejaVu Sans when installed, else Pillow's own.
    caption_font: str = ""
    options: BackendOptions = Field(default_factory=dict)


class ExportConfig(_Section):
    # storyboard sheet: panels across x down on a page ("1x1" to "4x4"), and the page's orientation
    storyboard_grid: Annotated[str, Field(pattern=r"^[1-4]x[1-4]$")] = "3x2"
    storyboard_orientation: Literal["landscape", "portrait"] = "landscape"
    # shot list: "script" order, or "setup" order (a scene's shots grouped by size, angle and lens)
    shot_order: Literal["script", "setup"] = "script"
    # Content Credentials (C2PA) on exported pictures and videos
    sign: bool = True
    # a studio's own signing certificate chain and private key (PEM); empty = this installation's own key
    signing_cert: str = ""
    signing_key: str = ""


class RuntimeConfig(_Section):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Threads each engine may use (2 threads need OMP_WAIT_POLICY=PASSIVE to scale).
    threads: int = Field(default=1, ge=1, le=256)
    # Jobs run side by side.
    jobs: int = Field(default=1, ge=1, le=16)
    # Where render jobs (keyframes, motion, voice, animatic) run: "local" (threads of this
    # process) or "ray" (Ray tasks; pip install 'inkubator-tui[ray]').
    executor: Literal["local", "ray"] = "local"
    # "" = start a Ray on this machine; or a cluster's address ("ray://head:10001", "auto").
    ray_address: str = ""
    log_file: str = ""


DEFAULT_KEYS = {
    # anywhere
    "quit": "ctrl+q",
    "help": "f1",
    "sample": "f2",
    "doctor": "f3",
    "run_next": "f5",
    "cancel": "escape",
    "refresh": "ctrl+r",
    "open_project": "ctrl+o",
    # on the shot board
    "approve": "a",
    "approve_step": "A",
    "reject": "r",
    "redo": "d",
    "edit": "e",
    "cast": "c",
    "previous_candidate": "left_square_bracket",
    "next_candidate": "right_square_bracket",
    "play": "p",
    "open": "o",
    "view": "v",
    "undo": "u",
    "reapply": "U",
}


class UIConfig(_Section):
    # any Textual theme: textual-dark, textual-light, nord, gruvbox, ...
    theme: str = "textual-dark"
    # how pictures are drawn: auto (what the terminal has: Kitty graphics, Sixel, else half blocks),
    # or force kitty | sixel | halfcell | unicode
    images: Literal["auto", "kitty", "sixel", "halfcell", "unicode"] = "auto"

    @field_validator("theme")
    @classmethod
    def _known_theme(cls, v: str) -> str:
        from textual.theme import BUILTIN_THEMES

        if v not in BUILTIN_THEMES:
            close = difflib.get_close_matches(v, BUILTIN_THEMES, n=1)
            raise ValueError(f"no theme {v!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                             + f"; themes: {', '.join(sorted(BUILTIN_THEMES))}")
        return v


MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}


def key_problem(key: str) -> str:
    """Why `key` is not a key Textual can bind ("" when it is): `a`, `A`, `f5`, `ctrl+o`,
    `escape`, `left_square_bracket`; several keys for one action are written `a,x`."""
    import unicodedata

    from textual.keys import Keys

    for one in key.split(","):
        one = one.strip()
        *mods, base = one.split("+") if len(one) > 1 else [one]
        if not base or any(m not in MODIFIERS for m in mods):
            return f"{one!r} is not a key (modifiers are {', '.join(sorted(MODIFIERS))})"
        if len(base) == 1 and base.isprintable() and not base.isspace():
            continue
        if base in {k.value for k in Keys} or base in ("space", "enter", "backspace", "tab", "delete"):
            continue
        try:
            unicodedata.lookup(base.replace("_", " "))  # a character by name: left_square_bracket
        except KeyError:
            return f"{one!r} is not a key: write one character (a, A, 1), a key name (f5, escape, space, " \
                   "left_square_bracket) or ctrl+x"
    return ""


class Config(_Section):
    llm: LLMConfig = LLMConfig()
    keyframe: KeyframeConfig = KeyframeConfig()
    motion: MotionConfig = MotionConfig()
    translate: TranslateConfig = TranslateConfig()
    voice: VoiceConfig = VoiceConfig()
    animatic: AnimaticConfig = AnimaticConfig()
    export: ExportConfig = ExportConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    ui: UIConfig = UIConfig()
    keys: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_KEYS))

    @field_validator("keys")
    @classmethod
    def _real_keys(cls, v: dict[str, str]) -> dict[str, str]:
        for action, key in v.items():
            if problem := key_problem(key):
                raise ValueError(f"keys.{action}: {problem}")
        return v


# ---- workspace trust -------------------------------------------------------------------------
# The settings a project's own inkubator.toml may set only once the user trusts that project
# (`inkubator trust DIR`, or the app's prompt), each with what it would do: every one reaches
# the network or reads or writes a file anywhere on this machine. From the user's file, the
# environment or the command line they apply as ever. Set to its default (nothing, or the
# local executor) a setting reaches nothing and needs no trust. A relative path needs trust
# too: it is read from the current folder, not the project's. Free-text settings reviewed as
# reaching nothing (model_name, chat_format, backend names, theme) are listed in
# tests/test_trust.py, which fails on a new path, URL or address field classified nowhere.
TRUSTED_ONLY: dict[str, str] = {
    "llm.server_url": "the agent sends the script to this server",
    "llm.model_path": "a file loaded as the agent's model",
    "keyframe.model_path": "a file or folder loaded as the keyframe model",
    "motion.model_path": "a file or folder loaded as the RIFE model",
    "voice.model_path": "a file loaded as the default voice",
    "voice.voices_dir": "a folder whose voices are loaded",
    "voice.coqui_model_path": "a file loaded as a Coqui model",
    "voice.coqui_config_path": "a file read as a Coqui model's config",
    "voice.xtts_path": "a folder loaded as an XTTS model",
    "animatic.caption_font": "a file loaded as the caption font",
    "export.signing_cert": "a file read as the signing certificate",
    "export.signing_key": "a file read as the signing private key",
    "runtime.executor": "ray starts or joins a Ray cluster, which connects out",
    "runtime.ray_address": "a Ray cluster the render jobs are sent to",
    "runtime.log_file": "a file the app writes its log to",
}

# `[<section>.options]` are free-form (a plugin brings its own), so an option needs trust when
# its name, or a key of a table in its value, has a part (split at _ - .) naming a place or a
# model, and its value holds any text; or when any text in its value looks like a path or an
# address. Numbers and switches never do.
_PLACE_WORDS = frozenset("path paths dir folder file files url uri host address endpoint server model models "
                         "weights checkpoint voice voices font cert key config lora loras".split())
_PLACE_TEXT = re.compile(
    r"://"                                        # a URL
    r"|^(?:~|\.{1,2}[/\\]|[/\\]|[A-Za-z]:[/\\])"  # a home, relative, absolute or drive path
    r"|^\S*[/\\]\S*$"                             # a/b with no spaces: a relative path, not prose
    r"|^[\w.-]*[A-Za-z.][\w.-]*:\d{2,5}$"         # host:port (not an aspect such as 16:9)
    r"|\.(?:safetensors|ckpt|pt|pth|bin|pkl|onnx|gguf|param|json|ttf|otf|pem|crt|key)$",  # a model, key, font
    re.IGNORECASE)


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value.strip()
    elif isinstance(value, dict):
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)


def _names(value: Any) -> Iterator[str]:
    """The keys of every table inside an option's value (`loras = [{ path = … }]` has `path`)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _names(v)
    elif isinstance(value, list):
        for v in value:
            yield from _names(v)


@cache
def _defaults() -> dict[str, Any]:
    return _flatten(Config().model_dump())


def needs_trust(key: str, value: Any) -> bool:
    """Whether `key = value` in a project's file waits for the user's trust (see TRUSTED_ONLY)."""
    rest = key.partition(".")[2]
    if rest.startswith("options."):
        texts = [t for t in _texts(value) if t]
        if not texts:
            return False
        names = (rest.removeprefix("options."), *_names(value))
        return any(set(re.split(r"[_.-]", n.lower())) & _PLACE_WORDS for n in names) \
            or any(_PLACE_TEXT.search(t) for t in texts)
    return key in TRUSTED_ONLY and value != _defaults().get(key)


def why_trust(key: str) -> str:
    """What a setting that needs trust would do, for the prompt that asks for it."""
    return TRUSTED_ONLY.get(key, "a path or address in a backend's options")


class ConfigError(Exception):
    """A bad key or value; the message names the key and where it came from."""


@dataclass
class LoadedConfig:
    config: Config
    # "section.key" -> where its value came from
    sources: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    # "section.key" -> value: what the project's file sets that needs trust it does not have;
    # not applied (the user file's value or the default stands), for the caller to say so.
    untrusted: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, Any, str]]:
        flat = _flatten(self.config.model_dump())
        return [(k, v, self.sources.get(k, "default")) for k, v in sorted(flat.items())]


def user_config_file() -> Path:
    env = os.environ.get(ENV_FILE)
    return Path(env).expanduser() if env else user_config_path("inkubator") / "config.toml"


def _known_keys() -> set[str]:
    keys = set(_flatten(Config().model_dump()))
    keys |= {f"keys.{k}" for k in DEFAULT_KEYS}
    return keys


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and not v and key.endswith(".options"):
            out[key] = v  # an empty options table is a value, not a missing key
        elif isinstance(v, dict) and not prefix.endswith(".options."):  # an option's value may be a table
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _check_keys(flat: dict[str, Any], origin: str) -> None:
    known = _known_keys()
    for k in flat:
        section, _, rest = k.partition(".")
        if rest.startswith("options.") and f"{section}.options" in known:
            continue  # a backend's own option: its Options model checks it
        if k not in known:
            hint = difflib.get_close_matches(k, known, n=1)
            tip = f"; did you mean {hint[0]}?" if hint else f"; known sections: {', '.join(Config.model_fields)}"
            raise ConfigError(f"unknown setting {k!r} in {origin}{tip}")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from e


def _parse_toml(raw: bytes, origin: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{origin} is not UTF-8 text (byte {e.start})") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{origin} is not valid TOML: {e}") from e
    flat = _flatten(data)
    _check_keys(flat, origin)
    return flat


def read_project_file(project_dir: Path) -> tuple[bytes, dict[str, Any]] | None:
    """A project's `inkubator.toml`: its bytes (what trust is given to) and its checked settings,
    parsed from those same bytes; None when the project has no file."""
    path = Path(project_dir) / PROJECT_FILE
    if not path.is_file():
        return None
    raw = _read_bytes(path)
    return raw, _parse_toml(raw, str(path))


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env_layer(env: dict[str, str]) -> dict[str, tuple[Any, str]]:
    out = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_FILE or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX):].partition("__")
        dotted = f"{section.lower()}.{key.lower()}"
        _check_keys({dotted: raw}, f"environment variable {name}")
        out[dotted] = (_parse_env_value(raw), f"env {name}")
    return out


def load_config(cli: dict[str, Any] | None = None, project_dir: Path | None = None,
                env: dict[str, str] | None = None) -> LoadedConfig:
    """Merge the layers and validate; raises ConfigError naming the bad key."""
    env = dict(os.environ if env is None else env)
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    files: list[Path] = []

    def apply(flat: dict[str, Any], origin: str) -> None:
        for k, v in flat.items():
            merged[k] = v
            sources[k] = origin

    user_file = Path(env[ENV_FILE]).expanduser() if env.get(ENV_FILE) else user_config_file()
    if env.get(ENV_FILE) and not user_file.is_file():
        raise ConfigError(f"{ENV_FILE} points at {user_file}, which does not exist; create it or unset {ENV_FILE}")
    if user_file.is_file():
        apply(_parse_toml(_read_bytes(user_file), str(user_file)), f"file {user_file}")
        files.append(user_file)
    untrusted: dict[str, Any] = {}
    if project_dir is not None and (project := read_project_file(project_dir)) is not None:
        raw, flat = project
        untrusted = {k: v for k, v in flat.items() if needs_trust(k, v)}
        if untrusted and trust.is_trusted(project_dir, raw):
            untrusted = {}
        pfile = Path(project_dir) / PROJECT_FILE
        apply({k: v for k, v in flat.items() if k not in untrusted}, f"project {pfile}")
        files.append(pfile)
    for k, (v, origin) in _env_layer(env).items():
        apply({k: v}, origin)
    if cli:
        _check_keys(cli, "command line")
        apply(cli, "command line")

    nested: dict[str, Any] = {}
    for k, v in merged.items():
        section, _, key = k.partition(".")
        if key.startswith("options."):
            nested.setdefault(section, {}).setdefault("options", {})[key[len("options."):]] = v
        else:
            nested.setdefault(section, {})[key] = v
    if "keys" in nested:
        nested["keys"] = {**DEFAULT_KEYS, **nested["keys"]}
    try:
        config = Config.model_validate(nested)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"][:2])
        msg = err["msg"].removeprefix("Value error, ")
        if key == "keys" and ":" in msg:  # the validator names the action: keys.approve
            key, _, msg = msg.partition(": ")
        raise ConfigError(
            f"setting {key} = {merged.get(key)!r} (from {sources.get(key, 'default')}): {msg}"
        ) from e
    return LoadedConfig(config=config, sources=sources, files=files, untrusted=untrusted)


def parse_cli_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--set section.key=value` pairs; values use TOML syntax, bare words are strings."""
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or "." not in key:
            raise ConfigError(f"--set {pair!r}: write it as section.key=value (e.g. runtime.threads=2)")
        out[key.strip()] = _parse_env_value(raw.strip())
    return out
