"""Language-model backends: in-process llama.cpp on a GGUF file, or any
OpenAI-compatible chat server (llama.cpp server, Ollama, vLLM, LM Studio).

Both stream tokens to a callback, stop when a CancelToken is set, and can
constrain output with a JSON schema (a grammar in-process; `response_format`
on a server, falling back to plain text plus validation where unsupported).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..pipeline.backend import BackendError, CancelToken
from .decoding import DecodeStats, GuidedDecoder, GuidedUnavailable, chat_prompt
from .decoding import available as guided_available

log = logging.getLogger(__name__)

OnToken = Callable[[str], None]


class LLMError(BackendError):
    """The model could not be loaded or reached; the message says what to do."""


@dataclass(frozen=True)
class ModelCard:
    """What doctor and provenance say about a model."""

    backend: str  # "llama" | "openai"
    model_id: str
    path: str = ""
    size_bytes: int = 0
    weights_sha256: str = ""
    licence: str = ""
    chat_template: str = ""  # "embedded", "gemma (forced)", "server", ...
    instruct: bool = False  # can follow instructions (whole-scene planning)


class LLM(Protocol):
    card: ModelCard

    def complete(self, prompt: str, *, schema: dict | None = None, max_tokens: int = 120,
                 temperature: float = 0.7, repeat_penalty: float = 1.3, seed: int = 0,
                 stop: list[str] | None = None, on_token: OnToken | None = None,
                 cancel: CancelToken | None = None) -> str: ...

    def chat(self, messages: list[dict[str, str]], *, schema: dict | None = None, max_tokens: int = 512,
             temperature: float = 0.4, seed: int = 0, on_token: OnToken | None = None,
             cancel: CancelToken | None = None) -> str: ...

    def count_tokens(self, text: str) -> int: ...


def warm(llm: LLM, prefix: str) -> None:
    """Get a model ready for prompts that start with `prefix` (a no-op where nothing can be kept)."""
    method = getattr(llm, "warm", None)
    if method is not None:
        method(prefix)


def stream_text(stream, piece_of: Callable[[Any], str], on_token: OnToken | None,
                cancel: CancelToken | None) -> str:
    """Join a token stream, passing each piece on; close it and raise Cancelled on cancel."""
    parts: list[str] = []
    for chunk in stream:
        piece = piece_of(chunk)
        if piece:
            parts.append(piece)
            if on_token:
                on_token(piece)
        if cancel is not None and cancel.cancelled:
            stream.close()
            cancel.check()
    return "".join(parts)


_LOG_CALLBACK = None


def quiet_llama_logs() -> None:
    """Send llama.cpp's C-level log lines to Python logging (debug), not to the
    terminal: they would corrupt the app's screen and the CLI's JSON."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None:
        return
    import ctypes

    import llama_cpp

    native = logging.getLogger("llama.cpp")

    @llama_cpp.llama_log_callback
    def _route(level, text, user_data):
        native.debug(text.decode("utf-8", "replace").rstrip())

    _LOG_CALLBACK = _route  # keep a reference: C holds only a pointer
    llama_cpp.llama_log_set(_route, ctypes.c_void_p(0))


class LlamaCppLLM:
    """A GGUF file in this process. A GGUF without a chat template gets an
    explicit `chat_format` (llama-cpp-python would silently use llama-2's).

    Schema-constrained calls use guided decoding (`decoding.py`: llguidance
    masks, jump-forward, choices by likelihood, prefix reuse) and fall back to
    llama.cpp's own grammar where it does not apply or `decoding="grammar"`."""

    def __init__(self, path: Path, *, card: ModelCard, n_ctx: int = 4096, n_threads: int = 1,
                 n_gpu_layers: int = 0, chat_format: str | None = None, decoding: str = "auto",
                 choices: str = "sample", cache_dir: Path | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise LLMError(f"model file {self.path} does not exist; set llm.model_path to a .gguf file")
        try:
            from llama_cpp import Llama
        except ImportError as e:  # pragma: no cover - it is a dependency
            raise LLMError("llama-cpp-python is not installed; run `make run`") from e
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # 2 threads collapse without it
        quiet_llama_logs()
        self._llm = Llama(model_path=str(self.path), n_ctx=n_ctx, n_threads=n_threads,
                          n_threads_batch=n_threads, n_gpu_layers=n_gpu_layers, chat_format=chat_format,
                          verbose=False)
        template = self._llm.metadata.get("tokenizer.chat_template")
        self.card = ModelCard(**{**card.__dict__, "chat_template": "embedded in GGUF" if template else
                                 f"no chat template in GGUF; chats use {chat_format or 'raw completion'}"})
        self._lock = threading.Lock()  # one generation at a time per model
        self.chat_format = chat_format
        self.choices = choices
        self.last_stats: DecodeStats | None = None  # what the last guided call cost (bench, records)
        self._guided: GuidedDecoder | None = None
        if decoding == "guided" and not guided_available():
            raise LLMError("llm.decoding = guided needs llguidance; run `make run` (or set llm.decoding = auto)")
        if decoding != "grammar" and guided_available():
            self._guided = GuidedDecoder(self._llm, cache_dir=cache_dir, key=card.weights_sha256)
        self.decoding = "guided" if self._guided else "grammar"

    @property
    def has_template(self) -> bool:
        return bool(self._llm.metadata.get("tokenizer.chat_template"))

    @staticmethod
    def _grammar(schema: dict | None):
        if schema is None:
            return None
        from llama_cpp import LlamaGrammar

        return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)

    def _guide(self, prompt, schema, add_bos=True, **kw) -> str | None:
        """Guided decoding, or None to take the grammar path (reason logged once per kind)."""
        if self._guided is None:
            return None
        try:
            text, self.last_stats = self._guided.generate(prompt, schema, choices=self.choices, add_bos=add_bos,
                                                          **kw)
            return text
        except GuidedUnavailable as e:
            log.warning("guided decoding does not apply (%s); using llama.cpp's grammar", e)
            if "tokenizer" in str(e):
                self._guided, self.decoding = None, "grammar"
            return None

    def warm(self, prefix: str) -> None:
        """Evaluate a prompt prefix into the KV cache and finish building the mask tokenizer."""
        with self._lock:
            if self._guided is None:
                return
            try:
                self._guided.prefill(prefix)
            except GuidedUnavailable:
                self._guided, self.decoding = None, "grammar"

    def complete(self, prompt, *, schema=None, max_tokens=120, temperature=0.7, repeat_penalty=1.3, seed=0,
                 stop=None, on_token=None, cancel=None) -> str:
        with self._lock:
            if schema is not None:
                text = self._guide(prompt, schema, max_tokens=max_tokens, temperature=temperature,
                                   repeat_penalty=repeat_penalty, seed=seed, on_token=on_token, cancel=cancel)
                if text is not None:
                    return text
            stream = self._llm.create_completion(prompt, max_tokens=max_tokens, temperature=temperature,
                                                 repeat_penalty=repeat_penalty, seed=seed, stop=stop,
                                                 grammar=self._grammar(schema), stream=True)
            return stream_text(stream, lambda c: c["choices"][0].get("text", ""), on_token, cancel)

    def chat(self, messages, *, schema=None, max_tokens=512, temperature=0.4, seed=0, on_token=None,
             cancel=None) -> str:
        with self._lock:
            formatted = chat_prompt(self._llm, messages, self.chat_format) if schema is not None else None
            if formatted is not None:
                text = self._guide(formatted[0], schema, add_bos=formatted[1], max_tokens=max_tokens,
                                   temperature=temperature, seed=seed, on_token=on_token, cancel=cancel)
                if text is not None:
                    return text
            stream = self._llm.create_chat_completion(messages=messages, max_tokens=max_tokens,
                                                      temperature=temperature, seed=seed,
                                                      grammar=self._grammar(schema), stream=True)
            return stream_text(stream, lambda c: c["choices"][0].get("delta", {}).get("content") or "",
                               on_token, cancel)

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode(), add_bos=False, special=True))


class OpenAICompatLLM:
    """Any server speaking the OpenAI chat API, by base URL and model name."""

    def __init__(self, base_url: str, model_name: str, *, api_key: str = "", timeout: float = 120.0):
        if not base_url:
            raise LLMError("llm.server_url is empty; give the server's base URL, e.g. http://127.0.0.1:8080/v1")
        if not model_name:
            raise LLMError("llm.model_name is empty; give the model name the server serves")
        from openai import OpenAI

        self.base_url = base_url.rstrip("/")
        self.model_name = model_name
        self._client = OpenAI(base_url=self.base_url, api_key=api_key or os.environ.get("OPENAI_API_KEY") or "none",
                              timeout=timeout, max_retries=0)
        self.card = ModelCard(backend="openai", model_id=f"{model_name} @ {self.base_url}", chat_template="server",
                              instruct=True)
        # The first response_format the server accepts is remembered.
        self._formats = ["json_schema", "json_object", None]

    def _response_format(self, kind: str | None, schema: dict) -> dict | None:
        if kind == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
        if kind == "json_object":
            return {"type": "json_object", "schema": schema}
        return None

    def _call(self, messages, schema, max_tokens, temperature, seed, on_token, cancel) -> str:
        from openai import APIConnectionError, APIStatusError

        kinds = self._formats if schema is not None else [None]
        last: Exception | None = None
        for kind in kinds:
            try:
                extra = {}
                if kind is not None:
                    extra["response_format"] = self._response_format(kind, schema)
                stream = self._client.chat.completions.create(
                    model=self.model_name, messages=messages, max_tokens=max_tokens, temperature=temperature,
                    seed=seed, stream=True, **extra)
                text = stream_text(stream, lambda c: (c.choices[0].delta.content if c.choices else None) or "",
                                   on_token, cancel)
                if schema is not None:
                    self._formats = [k for k in self._formats if kinds.index(k) >= kinds.index(kind)]
                return text
            except APIConnectionError as e:
                raise LLMError(f"cannot reach {self.base_url}: is the server running? ({e})") from e
            except APIStatusError as e:
                refused = e.status_code in (400, 422) or "response_format" in str(e.message)
                if refused and kind is not None:  # e.g. llama-cpp-python's server only knows json_object
                    log.info("server refused response_format %s: %s", kind, e)
                    last = e
                    continue
                raise LLMError(f"{self.base_url} answered {e.status_code}: {e.message}") from e
        raise LLMError(f"{self.base_url} refused the request: {last}")

    def complete(self, prompt, *, schema=None, max_tokens=120, temperature=0.7, repeat_penalty=1.3, seed=0,
                 stop=None, on_token=None, cancel=None) -> str:
        return self._call([{"role": "user", "content": prompt}], schema, max_tokens, temperature, seed, on_token,
                          cancel)

    def chat(self, messages, *, schema=None, max_tokens=512, temperature=0.4, seed=0, on_token=None,
             cancel=None) -> str:
        return self._call(messages, schema, max_tokens, temperature, seed, on_token, cancel)

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)  # servers do not share their tokenizer; a safe estimate


def parse_json(text: str) -> Any:
    """The first JSON value in a reply (models sometimes wrap it in prose or fences)."""
    text = text.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text[text.find("\n") + 1:] if "\n" in text else text
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise ValueError("no JSON in the reply")
    value, _ = json.JSONDecoder().raw_decode(text[start:])
    return value
