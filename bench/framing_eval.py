"""Does the model frame a beat sensibly when the notes do not say how? And do
choices by likelihood choose better than sampling?

    .venv/bin/python bench/framing_eval.py [--limit N] [--modes likely,sample,grammar]

Corpus: tests/data/framing/shots.jsonl (beats without camera words, each with
the sizes, angles and movements a storyboard artist would defend; the first
size is the clearly best). Each mode fills every beat with the embedded
model through the director's per-shot fill, in one run, side by side:

- likely:  guided decoding, the likeliest option at each choice point
- sample:  guided decoding, options drawn at the temperature
- grammar: llama.cpp's own grammar sampler (the fallback path)

Prints, per mode: answers accepted by the validator, size / angle / movement
within the acceptable sets, size equal to the clearly best one, s a beat.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inkubator_tui.agents.backend import make_llm  # noqa: E402
from inkubator_tui.agents.director import Director, DraftResult  # noqa: E402
from inkubator_tui.config import load_config  # noqa: E402
from inkubator_tui.project.models import BeatSheet, DialogueLine, Shot  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "framing" / "shots.jsonl"


def beats(limit: int | None) -> list[dict]:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def shot_of(row: dict, i: int) -> Shot:
    return Shot(number=str(i + 1), action=row["action"], characters=list(row["characters"]),
                dialogue=[DialogueLine(character=c, text=t) for c, t in row["dialogue"]])


def run(mode: str, rows: list[dict]) -> dict[str, float]:
    config = load_config().config
    config.llm.decoding = "grammar" if mode == "grammar" else "guided"
    config.llm.choices = "sample" if mode == "sample" else "likely"
    director = Director(make_llm(config, "llama"))
    counts = {"accepted": 0, "size ok": 0, "size best": 0, "angle ok": 0, "movement ok": 0}
    times = []
    for i, row in enumerate(rows):
        shot = shot_of(row, i)
        result = DraftResult(sheet=BeatSheet(shots=[shot]), strategy="per-shot")
        t = time.perf_counter()
        director._fill(shot, list(row["characters"]), seed=i, on_token=None, cancel=None, result=result)
        times.append(time.perf_counter() - t)
        if not result.accepted:
            continue
        counts["accepted"] += 1
        counts["size ok"] += shot.size.value in row["sizes"]
        counts["size best"] += shot.size.value == row["sizes"][0]
        counts["angle ok"] += shot.angle.value in row["angles"]
        counts["movement ok"] += shot.movement.value in row["movements"]
    n = len(rows)
    out = {k: v / n for k, v in counts.items()}
    out["s a beat"] = statistics.median(times)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--modes", default="likely,sample,grammar")
    args = ap.parse_args()
    rows = beats(args.limit)
    results = {mode: run(mode, rows) for mode in args.modes.split(",")}
    keys = list(next(iter(results.values())))
    print(f"framing of {len(rows)} beats without camera words (share of all beats; rejected answers count as misses)")
    print(f"  {'':12}" + "".join(f"{m:>10}" for m in results))
    for k in keys:
        cells = "".join(f"{r[k]:10.2f}" if k == "s a beat" else f"{r[k]:10.0%}" for r in results.values())
        print(f"  {k:12}{cells}")


if __name__ == "__main__":
    main()
