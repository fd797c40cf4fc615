"""Schema-constrained generation on llama.cpp at the speed of free generation.

llama.cpp's own grammar sampler checks candidates of Gemma's 262k-token
vocabulary against the grammar at every step: measured 2.6× slower than free
generation. Here:

- **masks** come from llguidance, which computes the allowed-token bitmask of
  a JSON schema in microseconds, and sampling runs in numpy on the allowed
  logits only;
- **jump-forward**: the tokens the schema forces (`{"size":"`, the rest of an
  enum value once its prefix is unique, closing quotes and braces) are
  appended without sampling and evaluated together with the next batch;
- **choices by likelihood**: where the schema allows only a few tokens (an
  enum, a duration, a name) the likeliest allowed token is taken instead of a
  sample;
- **prefix reuse**: the KV cache keeps the longest prefix this prompt shares
  with the last one, so the few-shot header is evaluated once per process.

The llguidance tokenizer costs about a second to build for a 262k vocabulary;
it is built once per model (in a background thread from `warm()`), with the
token pieces cached on disk by the weights' SHA-256.
"""

from __future__ import annotations

import codecs
import ctypes
import importlib.util
import json
import logging
import marshal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..pipeline.backend import CancelToken

log = logging.getLogger(__name__)

CHOICE_MAX = 48  # at most this many allowed tokens: a choice between listed options, not free text
TOP_K, TOP_P, MIN_P = 40, 0.95, 0.05  # llama-cpp-python's sampling defaults, kept for the same behaviour
PENALTY_LAST_N = 64


class GuidedUnavailable(RuntimeError):
    """This model or schema cannot use guided decoding; the caller falls back to llama.cpp's grammar."""


def available() -> bool:
    return importlib.util.find_spec("llguidance") is not None


@dataclass
class DecodeStats:
    """What one call cost: the bench and the draft's record read it."""

    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens already in the KV cache
    sampled: int = 0
    chosen: int = 0  # decided by likelihood at a choice point
    forced: int = 0  # appended without sampling (jump-forward)
    masks: int = 0
    seconds: float = 0.0
    stop: str = ""

    @property
    def generated(self) -> int:
        return self.sampled + self.chosen + self.forced


def _token_pieces(llama_cpp, vocab) -> list[bytes]:
    """Every token's bytes, marking control tokens the way llguidance expects (a 0xff prefix)."""
    buffer = ctypes.create_string_buffer(16 * 1024 + 1)
    pieces: list[bytes] = []
    for token in range(llama_cpp.llama_vocab_n_tokens(vocab)):
        n = llama_cpp.llama_token_to_piece(vocab, token, buffer, 16 * 1024, 0, True)
        if n < 0:
            raise GuidedUnavailable(f"token {token} is longer than 16 KiB")
        piece = bytes(buffer[:n])
        attr = llama_cpp.llama_vocab_get_attr(vocab, token)
        if attr & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL or (
                attr & llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED and piece.startswith(b"<") and piece.endswith(b">")):
            piece = b"\xff" + piece
        pieces.append(piece)
    return pieces


def build_tokenizer(llama, cache_dir: Path | None = None, key: str = ""):
    """An llguidance tokenizer for this llama.cpp model (pieces cached on disk under `key`)."""
    import llama_cpp
    from llguidance import LLTokenizer

    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    cache = cache_dir / f"pieces-{key[:32]}.marshal" if cache_dir and key else None
    pieces = None
    if cache is not None and cache.is_file():
        try:
            pieces = marshal.loads(cache.read_bytes())
        except (OSError, ValueError, EOFError, TypeError):
            pieces = None
        if not isinstance(pieces, list) or len(pieces) != llama_cpp.llama_vocab_n_tokens(vocab):
            pieces = None
    if pieces is None:
        pieces = _token_pieces(llama_cpp, vocab)
        if cache is not None:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_suffix(".part")
                tmp.write_bytes(marshal.dumps(pieces))
                tmp.replace(cache)
            except OSError as e:  # a read-only cache only costs time
                log.info("cannot cache token pieces at %s: %s", cache, e)
    tokenize = ctypes.cast(llama_cpp.llama_cpp._lib.llama_tokenize, ctypes.c_void_p).value
    return LLTokenizer.from_llamacpp(tokens=pieces, vocab_ptr=vocab, tokenize_fptr=tokenize,
                                     eos_token=llama_cpp.llama_vocab_eos(vocab), slices=None)


class GuidedDecoder:
    """Guided generation on one `llama_cpp.Llama`; the caller holds the model's lock."""

    def __init__(self, llama, *, cache_dir: Path | None = None, key: str = ""):
        self.llama = llama
        self.n_vocab = llama.n_vocab()
        self._mask = np.zeros((self.n_vocab + 31) // 32, dtype=np.int32)
        self._tokenizer = None
        self._error: BaseException | None = None
        self._grammars: dict[str, str] = {}
        self._thread = threading.Thread(target=self._build, args=(cache_dir, key), daemon=True,
                                        name="llguidance-tokenizer")
        self._thread.start()  # the Rust side drops the GIL: it builds while the prompt is evaluated

    def _build(self, cache_dir, key) -> None:
        try:
            self._tokenizer = build_tokenizer(self.llama, cache_dir, key)
        except BaseException as e:  # noqa: BLE001 - reported on first use, then the grammar path takes over
            self._error = e

    @property
    def tokenizer(self):
        self._thread.join()
        if self._tokenizer is None:
            raise GuidedUnavailable(f"llguidance tokenizer: {self._error}")
        return self._tokenizer

    def matcher(self, schema: dict):
        from llguidance import LLMatcher

        text = json.dumps(schema)  # key order matters: properties are generated in the order given
        grammar = self._grammars.get(text)
        if grammar is None:
            grammar = LLMatcher.grammar_from_json_schema(text, defaults={"whitespace_flexible": False})
            error = LLMatcher.validate_grammar(grammar, self.tokenizer)
            if error and not error.startswith("WARNING"):
                raise GuidedUnavailable(f"llguidance cannot compile the schema: {error}")
            self._grammars[text] = grammar
        matcher = LLMatcher(self.tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise GuidedUnavailable(matcher.get_error())
        return matcher

    # -- the KV cache ------------------------------------------------------------------
    def _feed_prompt(self, tokens: list[int], stats: DecodeStats) -> list[int]:
        """Keep the cached prefix this prompt shares with the last one; return the tokens still to evaluate."""
        llama = self.llama
        cached = llama.input_ids[:llama.n_tokens]
        common = 0
        for a, b in zip(cached, tokens):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)  # evaluate at least one token: its logits start the reply
        if common > 0 and llama._ctx.kv_cache_seq_rm(-1, common, -1):
            llama.n_tokens = common
        else:
            llama.reset()
            common = 0
        stats.prompt_tokens, stats.reused_tokens = len(tokens), common
        return tokens[common:]

    def prefill(self, prefix: str) -> None:
        """Evaluate a prompt prefix now (and finish the tokenizer), so later prompts start from it."""
        self.tokenizer  # noqa: B018 - joins the background build
        tokens = self.llama.tokenize(prefix.encode("utf-8"), add_bos=True, special=True)
        self.llama.eval(self._feed_prompt(tokens, DecodeStats()))

    def _logits(self) -> np.ndarray:
        import llama_cpp

        pointer = llama_cpp.llama_get_logits_ith(self.llama.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy()

    # -- one generation ----------------------------------------------------------------
    def generate(self, prompt: str | list[int], schema: dict, *, max_tokens: int = 120, temperature: float = 0.7,
                 repeat_penalty: float = 1.0, seed: int = 0, choices: str = "likely", mask: str = "always",
                 on_token: Callable[[str], None] | None = None, cancel: CancelToken | None = None,
                 add_bos: bool = True) -> tuple[str, DecodeStats]:
        """Text that matches `schema`, and what it cost. `choices`: "likely" or "sample";
        `mask`: "always" (compute the mask each step) or "on-failure" (sample, check, mask if refused)."""
        t0 = time.perf_counter()
        llama = self.llama
        matcher = self.matcher(schema)
        stats = DecodeStats()
        tokens = prompt if isinstance(prompt, list) else \
            llama.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)
        pending = self._feed_prompt(list(tokens), stats)
        rng = np.random.default_rng(seed)
        out: list[int] = []
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        eos = set(self.tokenizer.eos_tokens)

        def emit(new: list[int]) -> None:
            out.extend(new)
            if on_token:
                for t in new:
                    piece = decoder.decode(llama.detokenize([t], special=False))
                    if piece:
                        on_token(piece)

        while len(out) < max_tokens:
            if cancel is not None:
                cancel.check()
            if matcher.is_stopped():
                stats.stop = "schema complete"
                break
            forced = matcher.compute_ff_tokens()[: max_tokens - len(out)]
            if forced:
                if not matcher.consume_tokens(forced):
                    raise GuidedUnavailable(f"llguidance refused its own forced tokens: {matcher.get_error()}")
                stats.forced += len(forced)
                pending += forced
                emit(forced)
                continue
            llama.eval(pending)  # the prompt's rest, forced tokens and the last sample: one batch
            logits = self._logits()
            if repeat_penalty != 1.0 and out:
                recent = np.unique(np.array(out[-PENALTY_LAST_N:]))
                vals = logits[recent]
                logits[recent] = np.where(vals > 0, vals / repeat_penalty, vals * repeat_penalty)
            token = -1
            if mask == "on-failure":
                token = _sample(logits, _best(logits), temperature, rng)
                if matcher.validate_tokens([token]) != 1:
                    token = -1
                else:
                    stats.sampled += 1
            if token < 0:
                matcher.unsafe_compute_mask_ptr(self._mask.ctypes.data, self._mask.nbytes)
                stats.masks += 1
                n_allowed = int(np.bitwise_count(self._mask.view(np.uint32)).sum())
                if n_allowed == 0:
                    stats.stop = "no token allowed"
                    break
                allowed = np.unpackbits(self._mask.view(np.uint8), bitorder="little")[: self.n_vocab].view(bool)
                if n_allowed <= CHOICE_MAX:  # a choice between listed options
                    ids = np.flatnonzero(allowed)
                    if choices == "likely":
                        token = int(ids[np.argmax(logits[ids])])
                        stats.chosen += 1
                    else:
                        token = _sample(logits, ids, temperature, rng)
                        stats.sampled += 1
                else:
                    token = _sample(logits, _best(logits, allowed), temperature, rng)
                    stats.sampled += 1
            if token in eos and matcher.is_accepting():
                stats.stop = "end of sequence"
                break
            if not matcher.consume_token(token):
                raise GuidedUnavailable(f"llguidance refused an allowed token: {matcher.get_error()}")
            pending = [token]
            emit([token])
        if not stats.stop:
            stats.stop = "schema complete" if matcher.is_stopped() else "max_tokens"
        # The last token is not evaluated: the next call's prefix match simply stops before it.
        stats.seconds = time.perf_counter() - t0
        return llama.detokenize(out, special=False).decode("utf-8", "replace"), stats


def _best(logits: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """The ids among which the top-k lie: the 4×TOP_K highest logits, keeping the
    allowed ones — exact whenever TOP_K of them survive (any allowed id outside
    scores lower than all of them); else every allowed id. (A partition over the
    whole vocabulary with its refused ids at -inf is several times slower.)"""
    top = np.argpartition(logits, -4 * TOP_K)[-4 * TOP_K:]
    if allowed is None:
        return top
    kept = top[allowed[top]]
    return kept if len(kept) >= TOP_K else np.flatnonzero(allowed)


def _sample(logits: np.ndarray, ids: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """llama.cpp's default chain in numpy over candidate `ids`: top-k 40, top-p 0.95,
    min-p 0.05, temperature, draw (the likeliest at temperature 0)."""
    if temperature <= 0:
        return int(ids[np.argmax(logits[ids])])
    k = min(TOP_K, len(ids))
    top = ids[np.argpartition(logits[ids], -k)[-k:]] if len(ids) > k else ids
    top = top[np.argsort(-logits[top])]
    vals = logits[top].astype(np.float64)
    p = np.exp(vals - vals[0])
    p /= p.sum()
    keep = max(1, int(np.searchsorted(np.cumsum(p), TOP_P) + 1))
    keep = min(keep, max(1, int((p >= MIN_P * p[0]).sum())))
    top, vals = top[:keep], vals[:keep] / temperature
    p = np.exp(vals - vals[0])
    return int(top[rng.choice(len(top), p=p / p.sum())])


def chat_prompt(llama, messages: list[dict[str, Any]], chat_format: str | None) -> tuple[str, bool] | None:
    """The text llama-cpp-python would send for these messages, and whether to add BOS;
    None where the format is not one we can reproduce (the grammar path is used then)."""
    from llama_cpp import llama_chat_format as formats

    template = llama.metadata.get("tokenizer.chat_template")
    bos = llama.detokenize([llama.token_bos()], special=True).decode("utf-8", "replace") \
        if llama.token_bos() >= 0 else ""
    if template and not chat_format:
        eos = llama.detokenize([llama.token_eos()], special=True).decode("utf-8", "replace")
        formatter = formats.Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
    else:
        name = (chat_format or "").replace("-", "_")
        formatter = getattr(formats, f"format_{name}", None) or getattr(formats, f"format_{name.replace('_', '')}",
                                                                        None)
        if formatter is None:
            return None
    prompt = formatter(messages=messages).prompt
    return prompt, not (bos and prompt.startswith(bos))
