"""Scores how director requests become edit operations, on tests/data/requests/.

    python bench/edits_eval.py             # rules only
    python bench/edits_eval.py --model     # also the embedded model where the rules are unsure
    python bench/edits_eval.py --verbose   # every miss

Exact match: the same operations in the same order (an `add` matches when its
`after`, size and the words of `action_contains` match). Goals: ≥ 95 % for
single edits, ≥ 90 % for compound ones, and 0 wrong edits where a question or
an answer was expected (an edit made where the agent should have asked).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inkubator_tui.agents import edits  # noqa: E402
from inkubator_tui.project.models import BeatSheet, ChatMessage  # noqa: E402

DATA = ROOT / "tests" / "data" / "requests"
EDIT_KINDS = {"single", "reference", "reorder", "delete", "line"}


def load_cases() -> tuple[dict[str, BeatSheet], list[dict]]:
    sheets = {p.stem: BeatSheet.model_validate_json(p.read_text()) for p in sorted((DATA / "sheets").glob("*.json"))}
    cases = []
    for f in sorted(DATA.glob("*.json")):
        for i, case in enumerate(json.loads(f.read_text())):
            cases.append({**case, "where": f"{f.name}#{i + 1}"})
    return sheets, cases


def _value(v):
    return v.value if hasattr(v, "value") else v


def op_matches(got, want: dict) -> bool:
    kind = want["op"]
    if got.op != kind:
        return False
    if kind == "change":
        given = {k: _value(v) for k, v in got.changes.given().items()}
        return got.shot == want["shot"] and given == want["changes"]
    if kind == "add":
        if got.after != want.get("after", "") or ("size" in want and _value(got.size) != want["size"]):
            return False
        return all(w.lower() in got.action.lower() for w in want.get("action_contains", []))
    if kind in ("remove", "move"):
        return got.model_dump() == {"op": kind, "shot": want["shot"], **({"after": want.get("after", "")}
                                                                         if kind == "move" else {})}
    if kind == "line":
        return (got.shot == want.get("shot", "") and got.character.lower() == want["character"].lower()
                and got.delivery == want.get("delivery") and got.text == want.get("text"))
    if kind == "alternatives":
        return got.shots == want["shots"] and got.count == want.get("count", 2)
    if kind == "render":
        return got.step == want["step"] and got.shots == want.get("shots", [])
    return got.model_dump() == want


def classify(ops: list, want) -> str:
    """'ok', 'wrong edit' (edited where it should not, or the wrong edit), 'asked' (no edit where one was due)."""
    edits_made = [op for op in ops if not isinstance(op, edits.Clarify)]
    if want in ("clarify", "answer"):
        if edits_made:
            return "wrong edit"
        if want == "clarify" and not any(isinstance(op, edits.Clarify) for op in ops):
            return "no question"
        return "ok"
    if not edits_made:
        return "asked"
    if len(ops) == len(want) and all(op_matches(g, w) for g, w in zip(ops, want)):
        return "ok"
    return "wrong edit"


def run(director, sheets, cases, verbose: bool) -> dict:
    tally: dict[str, dict[str, int]] = {}
    misses = []
    t0 = time.perf_counter()
    for case in cases:
        sheet = sheets[case["sheet"]]
        history = [ChatMessage(role="director", text=h) for h in case.get("history", [])]
        try:
            turn = director.respond(case["request"], sheet, history)
            ops = turn.ops
        except edits.EditError as e:
            ops = [edits.Clarify(question=str(e)[:300])]
        verdict = classify(ops, case["expect"])
        group = "compound" if case["kind"] == "compound" else (
            "single" if case["kind"] in EDIT_KINDS else "question/answer")
        t = tally.setdefault(group, {"ok": 0, "n": 0, "wrong edit": 0})
        t["n"] += 1
        t["ok"] += verdict == "ok"
        t["wrong edit"] += verdict == "wrong edit"
        if verdict != "ok":
            misses.append(f"{case['where']} [{case['kind']}] {verdict}: {case['request']!r} → "
                          f"{[op.model_dump(exclude_none=True) for op in ops]} (want {case['expect']})")
    return {"tally": tally, "misses": misses, "seconds": time.perf_counter() - t0, "n": len(cases)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="store_true", help="also run with the embedded model loaded")
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args()
    from inkubator_tui.agents.director import Director

    sheets, cases = load_cases()
    results = {"rules": run(Director(None), sheets, cases, args.verbose)}
    if args.model:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from inkubator_tui.agents.backend import make_llm
        from inkubator_tui.config import load_config

        results["embedded model"] = run(Director(make_llm(load_config().config, "llama")), sheets, cases,
                                        args.verbose)
    print(f"{len(cases)} requests on {len(sheets)} sheets in {DATA.relative_to(ROOT)}")
    print(f"{'':18}" + "".join(f"{lab:>28}" for lab in results) + f"{'goal':>8}")
    goals = {"single": "95%", "compound": "90%", "question/answer": "0 wrong"}
    for group in ("single", "compound", "question/answer"):
        cells = []
        for r in results.values():
            t = r["tally"].get(group, {"ok": 0, "n": 0, "wrong edit": 0})
            cells.append(f"{t['ok'] / max(1, t['n']):.1%} ({t['ok']}/{t['n']}, {t['wrong edit']} wrong)")
        print(f"{group:18}" + "".join(f"{c:>28}" for c in cells) + f"{goals[group]:>8}")
    print(f"{'ms per request':18}" + "".join(f"{1000 * r['seconds'] / r['n']:>28.1f}" for r in results.values()))
    if args.verbose:
        for lab, r in results.items():
            print(f"\n{lab}: {len(r['misses'])} misses")
            for m in r["misses"]:
                print("  " + m)
    t = results["rules"]["tally"]
    ok = (t["single"]["ok"] >= 0.95 * t["single"]["n"] and t["compound"]["ok"] >= 0.9 * t["compound"]["n"]
          and t["question/answer"]["wrong edit"] == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
