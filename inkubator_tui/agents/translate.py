"""The translate step: each dialogue line into each further language of the
project, drafted by a language model that can follow instructions (a server,
or an instruct GGUF) and approved by a person like any other draft.

The embedded Gemma 3 270M is a base model: asked to translate it continues
the text instead. This backend is then not ready, and the app asks the
director to type the translation — the honest path, said in those words.
"""

from __future__ import annotations

import re
from typing import ClassVar

from ..config import Config
from ..pipeline.backend import BackendInfo, JobContext, Readiness
from ..pipeline.requests import Result, TranslateRequest
from ..pipeline.dubbing import language_name, timing
from ..project.models import Step
from .backend import LazyLLM, gguf_card, gguf_template
from .llm import LLMError

def clean_reply(reply: str) -> str:
    """The translation alone: the first non-empty line, without quotes or a "Translation:" label."""
    line = next((ln.strip() for ln in reply.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^(translation|traduction|übersetzung|翻訳)\s*[:：]\s*", "", line, flags=re.I)
    return line.strip().strip('"“”「」').strip()


class LLMTranslate(LazyLLM):
    step: ClassVar[Step] = Step.TRANSLATE

    def __init__(self, config: Config):
        super().__init__(config)
        self.kind = "openai" if config.llm.server_url and config.llm.model_name else "llama"

    @classmethod
    def readiness(cls, config: Config) -> Readiness:
        c = config.llm
        if c.server_url and c.model_name:
            return Readiness(Step.TRANSLATE, "llm", True, f"{c.model_name} at {c.server_url} drafts translations")
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
        card = gguf_card(self.config)
        return BackendInfo(name="llm", model_id=card.model_id, weights_sha256=card.weights_sha256,
                           licence=card.licence, version="1", parameters={"temperature": 0.2})

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
