"""Agent generation speed vs bare llama-cpp-python, same model, same prompt, same run.

    .venv/bin/python bench/agent.py [--rounds 3]

Prints tokens/s for each side (alternating rounds, medians) and their ratio,
then wall time from notes to beat sheet for a 6-shot note (agent vs rules).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from llama_cpp import Llama, LlamaGrammar  # noqa: E402

from inkubator_tui.agents import embedded  # noqa: E402
from inkubator_tui.agents.backend import make_llm  # noqa: E402
from inkubator_tui.agents.director import Director, fill_prompt, fill_schema  # noqa: E402
from inkubator_tui.agents.notes import explicit_camera, parse_notes  # noqa: E402
from inkubator_tui.config import load_config  # noqa: E402

SIX_SHOTS = """INT. WORKSHOP - NIGHT

Rain hammers the skylight. Close on MIRA as she solders a tiny circuit board.
Mira whispers, "Come on, little one."
Slow push in on the drone as it blinks awake.
OSKAR leans in the doorway. "You said that last night," Oskar says.
Wide shot: the drone lifts off the bench and hovers between them.
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    config = load_config().config
    ours = make_llm(config, "llama")
    bare = Llama(model_path=str(embedded.gguf_path()), n_ctx=config.llm.n_ctx, n_threads=config.runtime.threads,
                 n_threads_batch=config.runtime.threads, verbose=False)
    sheet = parse_notes(SIX_SHOTS)
    shot = sheet.shots[1]
    prompt = fill_prompt(shot, [c.name for c in sheet.characters])
    schema = fill_schema(explicit_camera(shot.action))
    kw = dict(max_tokens=config.llm.max_tokens, temperature=0.7, repeat_penalty=1.3, seed=11,
              stop=["\n\n", "\nShot:"])

    def run_ours() -> float:
        n = 0

        def count(_):
            nonlocal n
            n += 1
        t = time.perf_counter()
        ours.complete(prompt, schema=schema, on_token=count, **kw)
        return n / (time.perf_counter() - t)

    def run_bare() -> float:
        grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        t = time.perf_counter()
        out = bare.create_completion(prompt, grammar=grammar, **kw)
        return out["usage"]["completion_tokens"] / (time.perf_counter() - t)

    run_ours(), run_bare()  # warm both (prompt cache, pages)
    a, b = [], []
    for _ in range(args.rounds):
        a.append(run_ours())
        b.append(run_bare())
    ta, tb = statistics.median(a), statistics.median(b)
    print(f"per-shot fill, {config.runtime.threads} thread(s), grammar on, {args.rounds} alternating rounds")
    print(f"  agent (streaming)      {ta:6.1f} tok/s   runs: {', '.join(f'{x:.1f}' for x in a)}")
    print(f"  bare llama-cpp-python  {tb:6.1f} tok/s   runs: {', '.join(f'{x:.1f}' for x in b)}")
    print(f"  ratio agent/bare       {ta / tb:6.2f}")

    director = Director(ours)
    walls, rules_walls = [], []
    for i in range(args.rounds):
        t = time.perf_counter()
        result = director.draft(SIX_SHOTS, seed=i)
        walls.append(time.perf_counter() - t)
        t = time.perf_counter()
        parse_notes(SIX_SHOTS)
        rules_walls.append(time.perf_counter() - t)
    print(f"notes → beat sheet, {len(result.sheet.shots)} shots")
    print(f"  agent (per-shot)  median {statistics.median(walls):5.2f} s   "
          f"accepted {result.accepted}, rejected {len(result.rejected)} in the last run")
    print(f"  rules only        median {statistics.median(rules_walls) * 1000:5.1f} ms")


if __name__ == "__main__":
    main()
