"""The director's conversation with the agent, persisted in the project.

Each message becomes validated edit operations applied to the newest beat
sheet as a **new beats draft** (approving it marks only the affected
downstream work stale), a clarifying question, or a proposed plan of tool
calls that runs only after the person approves it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ..pipeline.backend import CancelToken
from ..pipeline.pipeline import Pipeline, StepReport
from ..pipeline.steps import SHEET_TARGET
from ..project.models import (Angle, BeatSheet, Draft, DraftStatus, Movement, Provenance, Scene, Size, Step,
                              utcnow)
from ..project.store import ProjectError
from ..project.notes_file import without_controls
from . import edits
from .director import Director, rules_kept
from .notes import open_questions, parse_notes, speaker_question

# Framings an alternative cycles through, skipping the shot's current one.
ALTERNATIVE_FRAMINGS = [
    (Size.WS, Angle.HIGH, Movement.CRANE), (Size.CU, Angle.LOW, Movement.DOLLY_IN),
    (Size.MS, Angle.DUTCH, Movement.HANDHELD), (Size.OTS, Angle.EYE, Movement.STATIC),
    (Size.EWS, Angle.AERIAL, Movement.PAN), (Size.MCU, Angle.EYE, Movement.TRUCK),
]


@dataclass
class Reply:
    text: str
    drafts: list[Draft] = field(default_factory=list)
    plan: list[edits.Render] = field(default_factory=list)
    question: str = ""
    message_id: int = 0


class Conversation:
    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self.store = pipeline.store
        self._card = None  # the model card behind the current turn, for provenance

    def director(self) -> Director:
        backend = self.pipeline.backend(Step.BEATS)
        make = getattr(backend, "director", None)
        return make() if make else Director(None)

    def base(self) -> tuple[BeatSheet | None, Draft | None]:
        """The sheet edits build on: the newest pending beats draft, else the working sheet."""
        pending = self.pipeline.pending(Step.BEATS)
        if pending:
            d = pending[-1]
            return BeatSheet.model_validate(d.data["sheet"]), d
        approved = self.store.drafts(Step.BEATS, SHEET_TARGET, DraftStatus.APPROVED)
        return self.store.sheet(), (approved[-1] if approved else None)

    def send(self, message: str, *, on_token: Callable[[str], None] | None = None,
             cancel: CancelToken | None = None, notes: bool = False,
             on_partial: Callable[[dict], None] | None = None) -> Reply:
        """One director message. `notes=True` says it is notes (a file sent with /notes);
        `on_partial` sees a new beat sheet as it drafts ({"sheet", "filled"})."""
        message = without_controls(message).strip()
        if not message:
            raise ProjectError("the message is empty")
        history = self.store.messages()
        self.store.add_message("director", message)
        sheet, base = self.base()
        if sheet is None or not sheet.shots:
            # No shot list yet: the message is the notes.
            report = self.pipeline.draft_beats(message, source="chat", cancel=cancel, on_token=on_token,
                                               on_partial=on_partial)
            return self._answer_notes(report)
        pending = self._pending(history)
        try:
            if pending.get("kind") == "notes" and not notes:
                choice = _replace_or_add(message)
                if choice:
                    return self._new_notes(pending["text"], choice, sheet, base, cancel, on_token, on_partial)
            if pending.get("kind") == "speaker" and not notes:
                op = _speaker_answer(message, pending, sheet)
                if op is not None:
                    return self._act(message, [op], "rules", sheet, base)
            if notes or looks_like_notes(message):
                return self._ask_replace_or_add(message, sheet)
            director = self.director()
            turn = director.respond(message, sheet, history, on_token=on_token, cancel=cancel)
            self._card = director.llm.card if turn.source == "model" else None
            if turn.reply and not turn.ops:
                return self._say(turn.reply)  # an answer: nothing changes
            return self._act(message, turn.ops, turn.source, sheet, base)
        except edits.EditError as e:
            return self._say(f"{e}.", question=str(e))

    # ---- questions the agent asked --------------------------------------------------------
    @staticmethod
    def _pending(history) -> dict:
        """The question the agent's last message left open, if the director has not moved on."""
        last = history[-1] if history else None
        return dict(last.data.get("pending") or {}) if last is not None and last.role == "agent" else {}

    def _speaker_questions(self, sheet: BeatSheet) -> tuple[str, dict]:
        """The next "Who says …?" for a line the notes left unattributed, and its pending record."""
        open_ = open_questions(sheet)
        if not open_:
            return "", {}
        shot, index, line = open_[0]
        more = f" ({len(open_) - 1} more after this)" if len(open_) > 1 else ""
        return speaker_question(shot, line) + more, {"kind": "speaker", "shot": shot.number, "line": index,
                                                     "candidates": list(line.candidates)}

    def _ask_replace_or_add(self, notes: str, sheet: BeatSheet) -> Reply:
        incoming = parse_notes(notes)
        last_scene = max((s.scene for s in sheet.shots), default=1)
        question = (f"These look like new notes ({len(incoming.shots)} shots, "
                    f"{sum(len(s.dialogue) for s in incoming.shots)} lines). Replace the current beat sheet "
                    f"({len(sheet.shots)} shots), or add them as new scenes after scene {last_scene}? "
                    f"Answer “replace” or “add”.")
        return self._say(question, question=question, data={"pending": {"kind": "notes", "text": notes}})

    def _new_notes(self, notes: str, choice: str, sheet: BeatSheet, base: Draft | None, cancel, on_token,
                   on_partial=None) -> Reply:
        if choice == "replace":
            report = self.pipeline.draft_beats(notes, source="chat", cancel=cancel, on_token=on_token,
                                               on_partial=on_partial)
            return self._answer_notes(report)
        drafted = self.director().draft(notes, cancel=cancel, on_token=on_token)
        for cut in drafted.notices:
            self.pipeline.notice(cut)
        added = drafted.sheet
        new, said = append_scenes(sheet, added)
        d = self._draft_edit(notes, new, [], said, base, "rules", label="add-notes")
        text = f"Draft {d.id}: " + "; ".join(said) + ". Approve it to apply."
        question, pending = self._speaker_questions(new)
        if question:
            text += " " + question
        return self._say(text, drafts=[d], question=question, data={"pending": pending} if pending else None)

    def _say(self, text: str, *, drafts=(), plan=(), question: str = "", data: dict | None = None) -> Reply:
        payload = dict(data or {})
        if drafts:
            payload["drafts"] = [d.id for d in drafts]
        if plan:
            payload["plan"] = [op.model_dump() for op in plan]
            payload["plan_status"] = "proposed"
        msg = self.store.add_message("agent", text, payload)
        return Reply(text, list(drafts), list(plan), question, msg.id)

    def _answer_notes(self, report: StepReport) -> Reply:
        made = report.created + report.cached
        if not made:
            if report.cancelled:
                return self._say("Stopped. Nothing was drafted; send the notes again when you want a beat sheet.")
            return self._say("Those notes already have a beat sheet; nothing new to draft."
                             if report.up_to_date else f"I could not draft beats: {report.summary()}")
        d = made[0]
        sheet = BeatSheet.model_validate(d.data["sheet"])
        kept = rules_kept(d.data.get("agent", {}), len(sheet.shots))
        extra = f" ({kept})" if kept else ""
        if not sheet.shots:  # nothing to approve: the empty draft is withdrawn, not offered
            self.pipeline.reject(d.id, note="no shots in these notes", approver="inkubator")
            return self._say("Those notes hold no shots, so there is nothing to approve: write what happens, "
                             "scene by scene, with any dialogue in quotes.")
        question, pending = self._speaker_questions(sheet)
        text = (f"Beat sheet draft {d.id}: {len(sheet.shots)} shots in {len(sheet.scenes)} scene(s), "
                f"{sum(len(s.dialogue) for s in sheet.shots)} line(s){extra}. "
                + (question if question else "Approve it to go on."))
        return self._say(text, drafts=[d], question=question, data={"pending": pending} if pending else None)

    def _act(self, message: str, ops: list, source: str, sheet: BeatSheet, base: Draft | None) -> Reply:
        clarify = [op for op in ops if isinstance(op, edits.Clarify)]
        if clarify:
            return self._say(clarify[0].question, question=clarify[0].question)
        plan = [op for op in ops if isinstance(op, edits.Render)]
        if plan:
            for op in plan:
                edits.render_targets(op, sheet)  # raises EditError for a shot that does not exist
            words = "; ".join(edits.describe_render(op, sheet) for op in plan)
            return self._say(f"Proposed: {words}. Approve the plan to run it.", plan=plan)
        alts = [op for op in ops if isinstance(op, edits.Alternatives)]
        if alts:
            return self._alternatives(message, alts[0], sheet, base)
        new, said = edits.apply_ops(sheet, ops)
        d = self._draft_edit(message, new, ops, said, base, source)
        text = f"Draft {d.id}: " + "; ".join(said) + ". Approve it to apply."
        data: dict = {"ops": [op.model_dump(mode="json") for op in ops]}
        question, pending = self._speaker_questions(new)
        if question:
            text += " " + question
            data["pending"] = pending
        return self._say(text, drafts=[d], question=question, data=data)

    def _draft_edit(self, message: str, sheet: BeatSheet, ops: list, said: list[str], base: Draft | None,
                    source: str, label: str = "edit") -> Draft:
        card = self._card if source == "model" else None
        prov = Provenance(tool="beats", backend=f"agent-{label}" if source == "model" else f"rules-{label}",
                          model_id=card.model_id if card else "inkubator edit rules",
                          weights_sha256=card.weights_sha256 if card else "",
                          licence=card.licence if card else "GPL-3.0-or-later",
                          non_neural=source != "model", prompt=message,
                          parameters={"ops": [op.model_dump(mode="json") for op in ops], "said": said,
                                      "base_draft": base.id if base else None},
                          started_at=utcnow(), finished_at=utcnow())
        return self.pipeline.propose_sheet(sheet, prov, base=base, said=said,
                                           extra={"edit": {"message": message, "said": said}})

    def _alternatives(self, message: str, op: edits.Alternatives, sheet: BeatSheet, base: Draft | None) -> Reply:
        shots = [edits.find_shot(sheet, ref) for ref in op.shots]
        drafts = []
        for n in range(op.count):
            ops = []
            for shot in shots:
                options = [f for f in ALTERNATIVE_FRAMINGS if (f[0], f[1], f[2]) != (shot.size, shot.angle,
                                                                                    shot.movement)]
                size, angle, move = next(itertools.islice(itertools.cycle(options), n + shots.index(shot), None))
                ops.append(edits.Change(shot=shot.number, changes=edits.ShotChanges(size=size, angle=angle,
                                                                                   movement=move)))
            new, said = edits.apply_ops(sheet, ops)
            drafts.append(self._draft_edit(message, new, ops, said, base, "rules", label="alternative"))
        listing = " | ".join(f"draft {d.id}: " + "; ".join(d.data["edit"]["said"]) for d in drafts)
        return self._say(f"{len(drafts)} alternatives: {listing}. Approve the one you want; the others are "
                         f"superseded.", drafts=drafts)

    # ---- proposed tool calls ----------------------------------------------------------------
    def proposed(self) -> tuple[int, list[edits.Render]] | None:
        """The newest plan still waiting for approval."""
        for m in reversed(self.store.messages()):
            if m.data.get("plan_status") == "proposed":
                return m.id, [edits.Render.model_validate(p) for p in m.data["plan"]]
        return None

    def run_plan(self, message_id: int, *, cancel: CancelToken | None = None, on_progress=None) -> list[StepReport]:
        """Run an approved plan: each proposed tool call through the gated pipeline."""
        msg = next((m for m in self.store.messages() if m.id == message_id), None)
        if msg is None or msg.data.get("plan_status") != "proposed":
            raise ProjectError(f"message {message_id} has no plan waiting for approval")
        sheet = self.store.sheet()
        if sheet is None:
            raise ProjectError("approve the beat sheet before running tools")
        reports = []
        for raw in msg.data["plan"]:
            op = edits.Render.model_validate(raw)
            step, only = edits.render_targets(op, sheet)
            reports.append(self.pipeline.run_step(step, only=only, cancel=cancel, on_progress=on_progress))
        self.store.set_message_data(message_id, {**msg.data, "plan_status": "ran"})
        self.store.add_message("agent", "Ran: " + "; ".join(r.summary() for r in reports))
        return reports

    def decline_plan(self, message_id: int) -> None:
        msg = next((m for m in self.store.messages() if m.id == message_id), None)
        if msg is not None:
            self.store.set_message_data(message_id, {**msg.data, "plan_status": "declined"})


# ---- understanding answers ----------------------------------------------------------------
def _replace_or_add(message: str) -> str:
    low = message.lower()
    if re.search(r"\b(replace|instead|start over|start again|new sheet|overwrite|swap (?:it|them) out)\b", low):
        return "replace"
    if re.search(r"\b(add|append|extend|after|more scenes|keep both|both)\b", low):
        return "add"
    return ""


def _speaker_answer(message: str, pending: dict, sheet: BeatSheet) -> edits.Speaker | None:
    """`Ana`, `it's Ana`, `Ana says it` → the speaker of the line asked about; None if not an answer."""
    names = list(dict.fromkeys([*pending.get("candidates", []), *(c.name for c in sheet.characters)]))
    said = [n for n in names if re.search(rf"(?<![\w'’]){re.escape(n)}(?![\w'’])", message, re.I)]
    if len(said) == 1:
        return edits.Speaker(shot=pending["shot"], line=pending["line"], character=said[0])
    words = re.findall(r"[\w'’\-]+", message)
    if len(words) <= 3 and len(said) == 0:
        m = re.fullmatch(r"\s*(?:it'?s\s+|the\s+)?([A-Za-z][\w'’\-]*(?:\s[A-Z][\w'’\-]*)?)\s*[.!]?\s*", message)
        if m and m.group(1).lower() not in {"yes", "no", "ok", "okay", "thanks", "what", "why", "who", "huh",
                                            "hmm", "maybe", "dunno", "unsure", "skip"}:
            name = m.group(1)
            return edits.Speaker(shot=pending["shot"], line=pending["line"], character=name[0].upper() + name[1:])
    return None


def looks_like_notes(message: str) -> bool:
    """A pasted scene, not a request: a scene heading, or several lines of prose with no shot numbers."""
    lines = [ln for ln in message.splitlines() if ln.strip()]
    if re.search(r"(?m)^\s*(?:#{1,6}\s|INT[.\s]|EXT[.\s]|scene\s+\d+\s*[:.\-–—])", message):
        return True
    words = len(message.split())
    return len(lines) >= 3 and words >= 30 and not re.search(r"\bshots?\s+\d", message, re.I)


def append_scenes(sheet: BeatSheet, added: BeatSheet) -> tuple[BeatSheet, list[str]]:
    """New notes as new scenes after the last one; shots numbered on from the last shot."""
    new = sheet.model_copy(deep=True)
    first_scene = max((sc.number for sc in new.scenes), default=0) + 1
    scene_map = {sc.number: first_scene + i for i, sc in enumerate(added.scenes)}
    for sc in added.scenes:
        new.scenes.append(Scene(number=scene_map[sc.number], heading=sc.heading))
    last = max((int(re.match(r"\d+", s.number).group(0)) for s in new.shots), default=0)
    for i, shot in enumerate(added.shots):
        new.shots.append(shot.model_copy(update={"scene": scene_map.get(shot.scene, first_scene),
                                                 "number": str(last + 1 + i), "id": ""}))
    names = {c.name for c in new.characters}
    new.characters += [c for c in added.characters if c.name not in names]
    new.notes += [n for n in added.notes if n not in new.notes]
    said = [f"added {len(added.shots)} shots ({last + 1}–{last + len(added.shots)}) in "
            f"{len(added.scenes)} new scene(s) after scene {first_scene - 1}"]
    return BeatSheet.model_validate(new.model_dump()), said
