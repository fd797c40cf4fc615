"""`inkubator`: the TUI by default, and headless subcommands over the same pipeline.

One module per command group; this one parses arguments and maps errors to
exit codes: 0 done · 1 error · 2 bad usage · 3 stopped at an approval gate ·
4 some jobs failed · 130 cancelled (Ctrl+C).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .. import __version__
from ..config import ConfigError
from ..pipeline.backend import BackendError
from ..project.notes_file import NotesFileError
from ..project import lock
from ..project.store import ProjectError
from .agent_cmds import cmd_beats, cmd_chat
from .common import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, CliError, close_projects
from .produce import cmd_produce
from .project_cmds import (
    cmd_approve,
    cmd_cast,
    cmd_export,
    cmd_import,
    cmd_languages,
    cmd_log,
    cmd_look,
    cmd_new,
    cmd_reject,
    cmd_revise,
    cmd_translate,
    cmd_verify,
    cmd_status,
)
from .setup_cmds import cmd_config, cmd_doctor, cmd_trust, cmd_tui
from .tool_cmds import cmd_interpolate



# ---- argument parsing ----------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                        help="override one setting for this run (repeatable)")
    project = argparse.ArgumentParser(add_help=False)
    project.add_argument("--project", "-p", default=".", metavar="DIR", help="project folder (default: .)")
    models = argparse.ArgumentParser(add_help=False)
    models.add_argument("--model", metavar="PATH", help="a GGUF file for the agent (default: the embedded Gemma)")
    models.add_argument("--server", metavar="URL", help="an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1")
    models.add_argument("--model-name", metavar="NAME", help="the model name on --server")
    models.add_argument("--strategy", choices=["auto", "per-shot", "whole-scene"],
                        help="how the agent plans (default: by model)")
    who = argparse.ArgumentParser(add_help=False)
    who.add_argument("--as", dest="approver", metavar="NAME", help="who approves (default: your login name)")

    p = argparse.ArgumentParser(
        prog="inkubator",
        description="Offline shot production: notes → beats → keyframes → motion → voice → animatic, "
                    "every step approved by a person. Run without a command to open the app.",
        epilog="exit codes: 0 done, 1 error, 2 usage, 3 waiting for approval, 4 jobs failed, 130 cancelled")
    p.add_argument("--version", action="version", version=f"inkubator {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("tui", parents=[common], help="open the app (the default)")
    s.add_argument("dir", nargs="?", help="project folder (default: a new one)")
    s.set_defaults(fn=cmd_tui)

    s = sub.add_parser("new", parents=[common], help="create a project folder")
    s.add_argument("dir")
    s.add_argument("--title")
    s.add_argument("--fps", type=int, default=24)
    s.add_argument("--aspect", default="16:9", choices=["16:9", "2.39:1", "1.85:1", "4:3", "1:1", "9:16"])
    s.add_argument("--languages", default="en", metavar="LANGS",
                   help="the script's language, then those to dub into: en or en,ja (default en)")
    s.set_defaults(fn=cmd_new)

    s = sub.add_parser("produce", parents=[common, project, who, models],
                       help="run notes through every step, stopping at each approval gate")
    s.add_argument("notes", help=".txt or .md notes, or a screenplay (.fountain, .fdx) read as it is written")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--approve-all", action="store_true",
                   help="approve every draft without asking (recorded in provenance as approve-all)")
    g.add_argument("--interactive", "-i", action="store_true", help="ask at each gate in the terminal")
    s.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    s.set_defaults(fn=cmd_produce)

    s = sub.add_parser("beats", parents=[common, models], help="print the beat sheet for notes (no project needed)")
    s.add_argument("notes")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_beats)

    s = sub.add_parser("chat", parents=[common, project, models],
                       help="talk to the director agent: revise the shot list, propose renders")
    s.add_argument("message", nargs="*", help='e.g. "make shot 3 a close-up" (none: print the conversation)')
    s.add_argument("--yes", "-y", action="store_true", help="run a proposed plan without asking")
    s.add_argument("--run-plan", action="store_true", help="run the newest proposed plan (you approve it)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_chat)

    s = sub.add_parser("status", parents=[common, project], help="each shot, each step, draft status")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_status)

    s = sub.add_parser("approve", parents=[common, project, who], help="approve drafts by id")
    s.add_argument("ids", nargs="+", type=int, metavar="ID")
    s.set_defaults(fn=cmd_approve)

    s = sub.add_parser("reject", parents=[common, project, who], help="reject drafts by id")
    s.add_argument("ids", nargs="+", type=int, metavar="ID")
    s.add_argument("--note", help="what to change in the redo")
    s.set_defaults(fn=cmd_reject)

    s = sub.add_parser("revise", parents=[common, project],
                       help="change a shot's fields (marks exactly its dependants stale)")
    s.add_argument("shot", help="shot number (4, 4A) or id")
    s.add_argument("changes", nargs="+", metavar="FIELD=VALUE", help="e.g. size=CU movement=dolly-in duration_s=4")
    s.set_defaults(fn=cmd_revise)

    s = sub.add_parser("cast", parents=[common, project],
                       help="who voices each character per language (stales exactly that character's lines)")
    s.add_argument("character", nargs="?", help="a character's name (none: print the cast)")
    s.add_argument("casts", nargs="*", metavar="LANG=BACKEND:VOICE", help="e.g. en=piper:joe, ja=kokoro:jf_alpha")
    s.add_argument("--speed", type=float, help="speaking rate for this cast (1.0 = as recorded)")
    s.add_argument("--reference", metavar="CLIP.wav", help="the actor's voice for engines that clone one (XTTS); "
                                                          "kept in the project")
    s.add_argument("--consent", metavar="TEXT", help="whose voice the clip is and that they agreed (required "
                                                     "with --reference; kept in provenance)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_cast)

    s = sub.add_parser("languages", parents=[common, project],
                       help="the project's languages: the script's first, then those it is dubbed into")
    s.add_argument("languages", nargs="*", metavar="LANG", help="e.g. en ja (none: print them)")
    s.add_argument("--captions", choices=["on", "off"], help="burn each language's subtitles into its animatic")
    s.set_defaults(fn=cmd_languages)

    s = sub.add_parser("translate", parents=[common, project, who],
                       help="each line's translation per dubbing language: list, type one, or draft them")
    s.add_argument("line", nargs="?", metavar="SHOT.N", help="a line, e.g. 3.1 (shot 3's first line)")
    s.add_argument("language", nargs="?", metavar="LANG", help="e.g. ja")
    s.add_argument("text", nargs="*", help="the translation you type (it is approved as you give it)")
    s.add_argument("--draft", action="store_true",
                   help="draft every missing translation with the language model (a server or an instruct GGUF)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_translate)

    s = sub.add_parser("look", parents=[common, project],
                       help="how each character looks and which shot's keyframe shows them (stales their keyframes)")
    s.add_argument("character", nargs="?", help="a character's name (none: print them all)")
    s.add_argument("--look", metavar="TEXT", help='e.g. "tall, grey raincoat, short dark hair"')
    s.add_argument("--reference", metavar="SHOT", help='the shot whose approved keyframe shows them ("" = their first)')
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_look)

    s = sub.add_parser("export", parents=[common, project],
                       help="write screenplays, shot list, timelines, storyboard, media and provenance into "
                            "DIR/exports",
                       epilog="formats: fountain, fdx, csv, media, otio, edl, fcpxml, html, pdf, animatic, srt, "
                              "provenance (plus plugins; --list says what each opens in)")
    s.add_argument("--format", "-f", action="append", metavar="F", dest="formats",
                   help="one format (repeatable; default: every format the project allows)")
    s.add_argument("--out", "-o", metavar="PATH", help="where to write the one --format (default DIR/exports/…)")
    s.add_argument("--grid", metavar="CxR", help="storyboard panels across x down, 1x1 to 4x4 (default 3x2)")
    s.add_argument("--orientation", choices=["landscape", "portrait"], help="storyboard page orientation")
    s.add_argument("--order", choices=["script", "setup"], help="shot list order (setup: grouped by camera setup)")
    s.add_argument("--no-sign", action="store_true", help="leave out Content Credentials")
    s.add_argument("--list", action="store_true", help="list the formats and what opens each")
    s.set_defaults(fn=cmd_export)

    s = sub.add_parser("import", parents=[common, project, who],
                       help="read a screenplay (.fountain, .fdx) into the project's beat sheet, for approval")
    s.add_argument("script", help=".fountain or .fdx")
    s.add_argument("--approve", action="store_true", help="approve the imported sheet at once")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_import)

    s = sub.add_parser("verify", parents=[common, project],
                       help="check every file the project refers to (hashes, sidecars, exports)",
                       description="Hash every approved and pending draft's files against their names, compare "
                                   "each sidecar with the project's record and list the exports an approval owes. "
                                   "Read-only; exits 1 when anything is wrong.")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_verify)

    s = sub.add_parser("log", parents=[common, project], help="every change to the project, in order")
    s.set_defaults(fn=cmd_log)

    s = sub.add_parser("interpolate", parents=[common],
                       help="in-betweens of two pictures by RIFE (no project needed)",
                       description="Draw in-betweens between two pictures with the motion step's RIFE engines. "
                                   "The output holds the first picture, the in-betweens and the second picture.")
    s.add_argument("a", metavar="A.png", help="the first picture")
    s.add_argument("b", metavar="B.png", help="the last picture")
    s.add_argument("--frames", "-n", type=int, default=1, metavar="N", help="in-betweens to draw (default 1)")
    s.add_argument("--backend", choices=["rife", "rife-vulkan"],
                   help="rife (PyTorch) or rife-vulkan (ncnn); default: Vulkan on a real GPU, else PyTorch")
    s.add_argument("--out", "-o", default="inbetweens", metavar="DIR|CLIP.mp4",
                   help="a folder of PNG frames or an .mp4 (default: ./inbetweens)")
    s.add_argument("--fps", type=int, default=24, help="frame rate of an .mp4 (default 24)")
    s.set_defaults(fn=cmd_interpolate)

    s = sub.add_parser("doctor", parents=[common], help="which backends are ready, and how to add the missing")
    s.add_argument("--project", "-p", metavar="DIR")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_doctor)

    s = sub.add_parser("config", parents=[common], help="effective settings and where each came from")
    s.add_argument("--project", "-p", metavar="DIR")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_config)

    s = sub.add_parser("trust", help="let a project's inkubator.toml set servers, model paths and addresses",
                       description="Show what DIR/inkubator.toml sets that reaches the network or files outside "
                                   "the project, and trust this version of the file to set it (a changed file "
                                   "asks again). Untrusted, those settings are ignored; the rest still apply.")
    s.add_argument("dir", nargs="?", default=".", metavar="DIR", help="project folder (default: .)")
    s.add_argument("--revoke", action="store_true", help="stop trusting the project")
    s.set_defaults(fn=cmd_trust)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `inkubator [DIR]` opens the app, like `inkubator tui [DIR]`.
    parser = build_parser()
    commands = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if not argv or (argv[0] not in commands and not argv[0].startswith("-")):
        argv = ["tui", *argv]
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    lock.set_activity("the inkubator app" if argv[0] == "tui" else f"inkubator {argv[0]}")
    try:
        code = args.fn(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # `inkubator status --json | head`: the reader has all it wanted. Python would print a
        # traceback while flushing at exit, so stdout goes to devnull first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (CliError, ConfigError, ProjectError, BackendError, NotesFileError) as e:
        print(f"inkubator: {e}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as e:  # the machine said no (a file, a folder, a device): one line, not a traceback
        print(f"inkubator: {e.filename + ': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("inkubator: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    finally:
        close_projects()
