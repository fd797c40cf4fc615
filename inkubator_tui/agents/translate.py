"""The translate step: each dialogue line into each further language of the
project, drafted by a language model that can follow instructions (a server,
or an instruct GGUF) and approved by a person like any other draft.

The embedded Gemma 3 270M is a base model: asked to translate it continues
the text instead. This backend is then not ready, and the app asks the
director to type the translation — the honest path, said in those words.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from typing import ClassVar

from ..config import Config
from ..pipeline.backend import BackendInfo, JobContext, Progress, Readiness, no_progress
from ..pipeline.requests import Result, TranslateRequest
from ..project.models import Step, base_language
from .llm import LLM, LLMError

# Rough speaking rates (characters a second, punctuation and spaces excluded), to compare how
# long a line and its translation take to say across scripts.
CHARS_PER_SECOND = {"ja": 7.5, "zh": 4.5, "ko": 6.0, "th": 10.0}
DEFAULT_CPS = 13.0
LANGUAGE_NAMES = {"en": "English", "ja": "Japanese", "fr": "French", "de": "German", "es": "Spanish",
                  "it": "Italian", "pt": "Portuguese", "nl": "Dutch", "sv": "Swedish", "pl": "Polish",
                  "ru": "Russian", "uk": "Ukrainian", "zh": "Chinese", "ko": "Korean", "ar": "Arabic",
                  "hi": "Hindi", "tr": "Turkish", "cy": "Welsh", "da": "Danish", "fi": "Finnish",
                  "no": "Norwegian", "cs": "Czech", "el": "Greek", "he": "Hebrew", "th": "Thai"}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(base_language(code), code)


def speaking_seconds(text: str, language: str) -> float:
    """How long a line takes to say, estimated from its letters (not its bytes or words)."""
    letters = sum(1 for ch in text if unicodedata.category(ch)[0] in "LN")
    return letters / CHARS_PER_SECOND.get(base_language(language), DEFAULT_CPS)


def timing(source: str, source_lang: str, text: str, language: str, long_ratio: float) -> dict:
    """A translation's timing note: its length against the original's, flagged when long."""
    a, b = speaking_seconds(source, source_lang), speaking_seconds(text, language)
    ratio = b / a if a > 0 else 1.0
    out = {"source_s": round(a, 2), "estimated_s": round(b, 2), "length_ratio": round(ratio, 2)}
    if ratio > long_ratio:
        out["flag"] = f"{ratio:.1f}× as long to say as the original; the shot may need to run longer"
    return out


def clean_reply(reply: str) -> str:
    """The translation alone: the first non-empty line, without quotes or a "Translation:" label."""
    line = next((ln.strip() for ln in reply.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^(translation|traduction|übersetzung|翻訳)\s*[:：]\s*", "", line, flags=re.I)
    return line.strip().strip('"“”「」').strip()


class LLMTranslate:
    step: ClassVar[Step] = Step.TRANSLATE

    def __init__(self, config: Config):
        self.config = config
        self.kind = "openai" if config.llm.server_url and config.llm.model_name else "llama"
        self.llm: LLM | None = None
        self._loading = threading.Lock()

    @classmethod
    def readiness(cls, config: Config) -> Readiness:
        c = config.llm
        if c.server_url and c.model_name:
            return Readiness(Step.TRANSLATE, "llm", True, f"{c.model_name} at {c.server_url} drafts translations")
        from .backend import gguf_card, gguf_template

        try:
            card = gguf_card(config)
            template, _ = gguf_template(card.path)
        except Exception as e:  # noqa: BLE001 - a missing or broken model is reported, not raised
            return Readiness(Step.TRANSLATE, "llm", False, f"no language model: {e}",
                             fix="type translations (inkubator translate), or set llm.server_url")
        if not template:
            return Readiness(Step.TRANSLATE, "llm", False,
                             f"{card.model_id} is a base model: it cannot translate, so you type translations "
                             "(inkubator translate, /translate in the app)",
                             fix="for drafted translations set llm.server_url + llm.model_name, or an instruct "
                                 "GGUF as llm.model_path")
        return Readiness(Step.TRANSLATE, "llm", True, f"{card.model_id} (instruct) drafts translations")

    def info(self) -> BackendInfo:
        c = self.config.llm
        if self.kind == "openai":
            return BackendInfo(name="llm", model_id=f"{c.model_name} @ {c.server_url}",
                               licence="see the server's model", version="1")
        from .backend import gguf_card

        card = gguf_card(self.config)
        return BackendInfo(name="llm", model_id=card.model_id, weights_sha256=card.weights_sha256,
                           licence=card.licence, version="1", parameters={"temperature": 0.2})

    def load(self, progress: Progress = no_progress) -> None:
        with self._loading:
            if self.llm is None:
                from .backend import make_llm

                progress(0.0, "loading the language model")
                self.llm = make_llm(self.config, self.kind)
                progress(1.0, f"{self.llm.card.model_id} loaded")

    def __call__(self, request: TranslateRequest, ctx: JobContext) -> Result:
        self.load()
        source, target = language_name(request.source), language_name(request.target)
        system = (f"You translate film dialogue from {source} into {target} for dubbing. Keep the meaning, "
                  "the tone and the register, keep names as they are, and make it natural to say in about "
                  "the same time as the original. Reply with the translation only: no quotes, no notes.")
        scene = "\n".join(request.context)
        how = f" ({request.delivery})" if request.delivery else ""
        user = (f"The scene around it:\n{scene}\n\n" if scene else "") + \
               f"Translate what {request.character or 'the speaker'} says{how}:\n{request.text}"
        if request.note:
            user += f"\n\nThe director's note on the last try: {request.note}"
        ctx.progress(0.1, f"{request.character}: {request.text[:40]}")
        reply = self.llm.chat([{"role": "system", "content": system}, {"role": "user", "content": user}],
                              max_tokens=min(400, 40 + 4 * len(request.text)), temperature=0.2, seed=request.seed,
                              on_token=ctx.on_token, cancel=ctx.cancel)
        text = clean_reply(reply)
        if not text:
            raise LLMError(f"{self.info().model_id} gave no translation for {request.text[:40]!r}; type it instead")
        return Result(prompt=request.text,
                      data={"text": text, "source_text": request.text, "language": request.target,
                            "source": request.source,
                            **timing(request.text, request.source, text, request.target,
                                     self.config.translate.long_ratio)},
                      parameters={"character": request.character, "raw_reply": reply[:1000]})
