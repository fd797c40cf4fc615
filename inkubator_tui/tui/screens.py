"""Modal screens: help, doctor, the shot form, and the redo note."""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Select, Static, TextArea

from ..doctor import doctor_table
from .actions import ACTIONS
from ..project.models import Angle, Movement, Shot, Size, VoiceCast

def _key(keys: dict[str, str], name: str) -> str:
    return keys[name].replace("_", " ")


def help_rows(keys: dict[str, str]) -> list[tuple[str, str, str]]:
    """The help screen's rows (key, chat command, what it does), made from the one list of
    actions (tui/actions.py) plus the few keys Textual itself gives."""
    rows = [(_key(keys, a.key) if a.key else "", f"/{a.slash}" + (f" {a.args}" if a.args else "") if a.slash else "",
             a.help + ("" if a.where == "anywhere" or not a.key else " (on the board)")) for a in ACTIONS]
    rows += [("ctrl+p", "", "command palette: every action, and themes"),
             ("tab", "", "move between chat, board and preview"),
             ("↑ ↓", "", "in the chat: recall earlier notes"),
             ("", "any text", "notes (first time) or a request: \"make shot 3 a close-up\", \"add a shot of … after 2\", "
                          "\"cut shot 4\", \"Mira should whisper the line\", \"render keyframes for shots 2-3\"")]
    return rows


class InfoScreen(ModalScreen):
    """A scrollable panel over the app; Esc (or its own key) closes it."""

    DEFAULT_CSS = """
    InfoScreen { align: center middle; }
    InfoScreen > VerticalScroll { width: 90%; max-width: 120; height: 90%; border: round $accent;
                                  background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Close")]

    def body(self) -> ComposeResult:
        yield from ()

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield from self.body()


class HelpScreen(ModalScreen):
    """Every key and chat command in one compact table; typing filters it."""

    BINDINGS = [Binding("f1,escape", "app.pop_screen", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 90%; max-width: 130; height: 90%; border: round $accent;
                            background: $surface; padding: 0 1; }
    HelpScreen DataTable { height: 1fr; }
    HelpScreen #hint { color: $text-muted; height: auto; }
    """

    def __init__(self, keys: dict[str, str]):
        super().__init__()
        self.keys = keys
        self.rows = help_rows(keys)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]inkubator[/] — notes become a beat sheet, then keyframes, motion, voice and an animatic; "
                         "nothing moves on until you approve.", id="intro")
            yield Input(placeholder="type to filter: export, voice, approve…", id="filter")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="keys")
            yield Static("keys are changed in the [b]\\[keys][/] table of your config (`inkubator config` says where); "
                         "esc or f1 closes", id="hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        room = min(130, int(self.app.size.width * 0.9)) - 2 - 14 - 26 - 8  # borders, padding, gutters
        table.add_column("key", width=14)
        table.add_column("chat", width=26)
        table.add_column("does", width=max(30, room))
        self.show("")
        self.query_one("#filter", Input).focus()

    def show(self, words: str) -> None:
        table = self.query_one(DataTable)
        table.clear()
        want = words.lower().split()
        for key, slash, does in self.rows:
            if all(w in f"{key} {slash} {does}".lower() for w in want):
                table.add_row(key, slash, Text(does), height=None)  # a long line wraps in its cell

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show(event.value)


class DoctorScreen(InfoScreen):
    BINDINGS = [Binding("f3", "app.pop_screen", "Close")]

    def __init__(self, rows: list[dict]):
        super().__init__()
        self.rows = rows

    def body(self) -> ComposeResult:
        yield Static(doctor_table(self.rows, "Backends"))
        yield Static("[dim]esc closes[/]")


class NoteScreen(ModalScreen[str | None]):
    """Asks for one line (the redo note); returns it, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    NoteScreen { align: center middle; }
    NoteScreen > Vertical { width: 70; height: auto; border: round $accent; background: $surface; padding: 1 2; }
    """

    # What a redo note sounds like for each step's drafts.
    EXAMPLES = {"beats": "e.g. make shot 3 a close-up, split shot 2", "keyframes": "e.g. warmer light, lower angle",
                "motion": "e.g. slower, hold the last frame longer", "translate": "e.g. less formal, shorter",
                "voice": "e.g. slower and more tired, whisper it", "animatic": "e.g. longer pauses between lines"}

    def __init__(self, prompt: str, step: str = "keyframes"):
        super().__init__()
        self.prompt = prompt
        self.example = self.EXAMPLES.get(step, "e.g. what should change")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.prompt)
            yield Input(placeholder=self.example, id="note")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class EditShotScreen(ModalScreen[dict | None]):
    """A form for one shot's fields; returns the changed fields, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]
    DEFAULT_CSS = """
    EditShotScreen { align: center middle; }
    EditShotScreen > Vertical { width: 80; max-width: 100%; height: auto; max-height: 100%; border: round $accent;
                                background: $surface; padding: 0 1; }
    EditShotScreen Grid { grid-size: 2; grid-columns: 14 1fr; grid-rows: auto; height: auto; grid-gutter: 0 1; }
    EditShotScreen Label { padding: 1 0 0 0; }
    EditShotScreen #buttons { height: auto; align: right middle; }
    EditShotScreen #error { color: $error; height: auto; }
    EditShotScreen > Vertical { overflow-y: auto; }
    EditShotScreen TextArea { height: 5; }
    """

    def __init__(self, shot: Shot):
        super().__init__()
        self.shot = shot

    def compose(self) -> ComposeResult:
        s = self.shot
        with Vertical():
            yield Static(f"[b]Shot {s.number}[/] — changes mark exactly its dependants stale")
            with Grid():
                yield Label("Size")
                yield Select([(v.value, v.value) for v in Size], value=s.size.value, allow_blank=False, id="size")
                yield Label("Angle")
                yield Select([(v.value, v.value) for v in Angle], value=s.angle.value, allow_blank=False,
                             id="angle")
                yield Label("Movement")
                yield Select([(v.value, v.value) for v in Movement], value=s.movement.value, allow_blank=False,
                             id="movement")
                yield Label("Lens")
                yield Input(s.lens, id="lens")
                yield Label("Duration (s)")
                yield Input(f"{s.duration_s:g}", id="duration_s")
                yield Label("Action")
                yield Input(s.action, id="action")
                yield Label("Image prompt")
                yield Input(s.image_prompt, id="image_prompt")
                yield Label("Characters")
                yield Input(", ".join(s.characters), placeholder="who is in the shot: Mira, Oskar", id="characters")
                yield Label("Dialogue")
                yield TextArea(dialogue_text(s.dialogue), id="dialogue", soft_wrap=True, show_line_numbers=False)
            yield Static("[dim]dialogue: one line each, as  Name: text  or  Name (delivery): text[/]")
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save (ctrl+s)", variant="primary", id="save")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_save() if event.button.id == "save" else self.action_cancel()

    def action_save(self) -> None:
        values: dict = {"size": self.query_one("#size", Select).value, "angle": self.query_one("#angle", Select).value,
                        "movement": self.query_one("#movement", Select).value}
        for key in ("lens", "duration_s", "action", "image_prompt", "characters"):
            values[key] = self.query_one(f"#{key}", Input).value.strip()
        error = self.query_one("#error", Static)
        try:
            values["duration_s"] = float(values["duration_s"])
        except ValueError:
            error.update(f"not saved: duration must be a number of seconds (not {values['duration_s']!r})")
            return
        values["characters"] = [n.strip() for n in values["characters"].split(",") if n.strip()]
        try:
            values["dialogue"] = parse_dialogue(self.query_one("#dialogue", TextArea).text)
            new = Shot.model_validate({**self.shot.model_dump(), **values})
        except ValueError as e:  # shown in the form; nothing is lost
            error.update(f"not saved: {_field_error(e)}")
            return
        def same(key: str, a, b) -> bool:  # lines compare by what is said, not by their ids
            if key == "dialogue":
                return [(x["character"], x["text"], x["delivery"]) for x in a] == \
                    [(x["character"], x["text"], x["delivery"]) for x in b]
            return a == b

        old = self.shot.model_dump(mode="json")
        self.dismiss({k: v for k, v in new.model_dump(mode="json").items()
                      if k in values and not same(k, v, old[k])})

    def action_cancel(self) -> None:
        self.dismiss(None)


DIALOGUE_ROW = re.compile(r"^\s*([^:()]+?)\s*(?:\(([^)]*)\))?\s*:\s*(\S.*)$")
FIELD_WORDS = {"duration_s": "duration", "image_prompt": "image prompt"}


def dialogue_text(lines) -> str:
    return "\n".join(f"{d.character or '?'}" + (f" ({d.delivery})" if d.delivery else "") + f": {d.text}"
                     for d in lines)


def parse_dialogue(text: str) -> list[dict]:
    """The form's dialogue box back into lines: `Name (delivery): text`, one per row (`?` for a
    line whose speaker is still an open question)."""
    out = []
    for n, row in enumerate((r for r in text.splitlines() if r.strip()), start=1):
        m = DIALOGUE_ROW.match(row)
        if not m:
            raise ValueError(f"dialogue line {n}: write it as  Name: text  or  Name (delivery): text")
        who = "" if m.group(1).strip() == "?" else m.group(1).strip()
        out.append({"character": who, "text": m.group(3).strip(), "delivery": (m.group(2) or "").strip()})
    return out


def _field_error(e: ValueError) -> str:
    """A validation error as a person reads it: `duration must be ≤ 120` rather than pydantic's."""
    from pydantic import ValidationError

    if not isinstance(e, ValidationError):
        return str(e)
    err = e.errors()[0]
    field = str(err["loc"][0]) if err["loc"] else ""
    name = FIELD_WORDS.get(field, field)
    if field == "duration_s":
        return "duration must be more than 0 and at most 120 seconds"
    return f"{name}: {err['msg'].removeprefix('Value error, ')}"


class CastScreen(ModalScreen[str | None]):
    """Who voices whom, per character and language, with the voices each language can have.
    `s` hears the selected cast say the character's first line; Enter puts the row into
    the recast line ("Mira en=kokoro:jf_alpha speed=1.1"), which is returned when submitted."""

    BINDINGS = [Binding("escape", "cancel", "Close"), Binding("s", "sample", "Hear a sample")]
    DEFAULT_CSS = """
    CastScreen { align: center middle; }
    CastScreen > Vertical { width: 110; max-width: 96%; height: auto; max-height: 92%; border: round $accent;
                            background: $surface; padding: 1 2; }
    CastScreen DataTable { height: auto; max-height: 14; }
    CastScreen #voices { height: auto; max-height: 10; color: $text-muted; }
    """

    def __init__(self, rows: list[tuple[str, str, VoiceCast, bool]], options: dict[str, list] | None = None,
                 on_sample=None):
        super().__init__()
        self.rows = rows
        self.options = options or {}
        self.on_sample = on_sample

    def _quality(self, language: str, cast: VoiceCast) -> str:
        found = next((o for o in self.options.get(language, []) if o.engine == cast.backend
                      and o.voice == cast.voice), None)
        return "" if found is None or found.quality == "native" else found.quality

    def compose(self) -> ComposeResult:
        from textual.widgets import DataTable

        with Vertical():
            yield Label("Cast — [b]s[/] hears the selected cast · Enter edits it below · a recast stales "
                        "exactly that character's lines")
            table = DataTable(cursor_type="row", id="casting")
            table.add_columns("character", "lang", "engine", "voice", "", "speed", "chosen by")
            for i, (name, lang, c, chosen) in enumerate(self.rows):
                table.add_row(name, lang, c.backend or "(configured)", c.voice or "(default)",
                              self._quality(lang, c), f"{c.speed:g}", "you" if chosen else "default", key=str(i))
            yield table
            if not self.rows:
                yield Label("(no characters yet: approve a beat sheet)")
            yield Static(self._voices_text(), id="voices")
            yield Input(placeholder="Mira en=kokoro:jf_alpha speed=1.1", id="cast")

    def _voices_text(self) -> str:
        lines = []
        for lang, opts in self.options.items():
            groups: dict[tuple[str, str], list[str]] = {}
            for o in opts:
                groups.setdefault((o.engine or "(configured)", o.quality), []).append(o.voice)
            for (engine, quality), voices in groups.items():
                more = f" … +{len(voices) - 6}" if len(voices) > 6 else ""
                note = "" if quality == "native" else f" ({quality})"
                lines.append(f"{lang} · {engine}{note}: {', '.join(voices[:6])}{more}")
        return "\n".join(lines) or "no voice engine is ready (inkubator doctor)"

    def _selected(self) -> tuple[str, str, VoiceCast, bool] | None:
        from textual.widgets import DataTable

        table = self.query_one("#casting", DataTable)
        return self.rows[table.cursor_row] if self.rows and table.row_count else None

    def on_data_table_row_selected(self, event) -> None:
        row = self._selected()
        if row is not None:
            name, lang, c, _ = row
            box = self.query_one("#cast", Input)
            box.value = f"{name} {lang}={c.backend}:{c.voice}" + (f" speed={c.speed:g}" if c.speed != 1 else "")
            box.focus()

    def action_sample(self) -> None:
        row = self._selected()
        if row is not None and self.on_sample is not None:
            self.on_sample(row[0], row[1])

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TranslateScreen(ModalScreen[str | None]):
    """Each line's translation per dubbing language. Enter on a row puts it in the line below
    ("1.1 ja …"); submitting it types that translation (approved as you give it)."""

    BINDINGS = [Binding("escape", "cancel", "Close")]
    DEFAULT_CSS = """
    TranslateScreen { align: center middle; }
    TranslateScreen > Vertical { width: 120; max-width: 96%; height: auto; max-height: 92%;
                                 border: round $accent; background: $surface; padding: 1 2; }
    TranslateScreen DataTable { height: auto; max-height: 20; }
    """

    def __init__(self, rows: list[dict], how: str):
        super().__init__()
        self.rows = rows
        self.how = how

    def compose(self) -> ComposeResult:
        from textual.widgets import DataTable

        with Vertical():
            yield Label(f"Translations — {self.how}")
            table = DataTable(cursor_type="row", id="translations")
            table.add_columns("line", "lang", "who", "original", "translation", "status")
            for i, r in enumerate(self.rows):
                table.add_row(r["line"], r["language"], r["character"], r["text"][:40],
                              (r["translation"] or "—")[:40] + (" ⚠" if r.get("flag") else ""), r["status"],
                              key=str(i))
            yield table
            yield Input(placeholder="1.1 ja 灯りはまだついている。 (line, language, your translation)", id="typed")

    def on_data_table_row_selected(self, event) -> None:
        r = self.rows[event.cursor_row]
        box = self.query_one("#typed", Input)
        box.value = f"{r['line']} {r['language']} {r['translation'] or ''}".rstrip() + " "
        box.cursor_position = len(box.value)
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
