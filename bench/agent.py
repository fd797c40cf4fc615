"""The director agent's speed, measured side by side in one run.

    .venv/bin/python bench/agent.py [--rounds 3]

Same model (the configured GGUF, by default the embedded Gemma 3 270M), same
prompt, same thread count, alternating rounds, medians:

1. tokens/s: free generation (bare llama-cpp-python, no constraint) vs the
   same shot answer under the schema — guided (llguidance masks +
   jump-forward + prefix reuse; the mask every step, or only when a
   sampled token is refused) and llama.cpp's grammar (the fallback);
   goal: guided ≥ 0.9× free.
2. the agent vs bare llama-cpp-python on the same constrained work; goal ≥ 0.95×.
3. notes → beat sheet for a 6-shot note: guided vs grammar, warm (model
   loaded) and cold (load included); goal: guided warm < 5 s.
4. time to the first visible shot (the sheet shown while the rest fill):
   the rules' shots, and the first model-filled shot, cold and after the
   app's `prepare`; goal < 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llama_cpp import Llama, LlamaGrammar  # noqa: E402

from inkubator_tui.agents.backend import LlamaBeats, gguf_card, make_llm  # noqa: E402
from inkubator_tui.agents.director import Director, fill_prompt, fill_schema, talk_seconds  # noqa: E402
from inkubator_tui.agents.notes import explicit_camera, parse_notes  # noqa: E402
from inkubator_tui.config import load_config  # noqa: E402

SIX_SHOTS = """INT. WORKSHOP - NIGHT

Rain hammers the skylight.

Close on MIRA as she solders a tiny circuit board. Mira whispers, "Come on, little one."

Slow push in on the drone as it blinks awake.

OSKAR leans in the doorway. "You said that last night," Oskar says.

Wide shot: the drone lifts off the bench and hovers between them.

Oskar grabs his coat and heads out into the rain.
"""


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def runs(xs: list[float], unit: str = "") -> str:
    return ", ".join(f"{x:.2f}{unit}" for x in xs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    config = load_config().config
    threads = config.runtime.threads
    card = gguf_card(config)
    config.llm.decoding = "guided"
    guided = make_llm(config, "llama")
    config.llm.decoding = "grammar"
    grammar = make_llm(config, "llama")
    bare = Llama(model_path=card.path, n_ctx=config.llm.n_ctx, n_threads=threads, n_threads_batch=threads,
                 verbose=False)

    sheet = parse_notes(SIX_SHOTS)
    assert len(sheet.shots) == 6, f"the bench note should make 6 shots, not {len(sheet.shots)}"
    shot = sheet.shots[1]
    names = [c.name for c in sheet.characters]
    prompt = fill_prompt(shot, names)
    schema = fill_schema(explicit_camera(shot.action), names, talk_seconds(shot))
    kw = dict(max_tokens=config.llm.max_tokens, temperature=config.llm.temperature,
              repeat_penalty=config.llm.repeat_penalty)

    def timed(fn) -> float:
        t = time.perf_counter()
        n = fn()
        return n / (time.perf_counter() - t)

    def counter():
        box = [0]

        def count(_):
            box[0] += 1
        return box, count

    def free(seed: int) -> int:
        out = bare.create_completion(prompt, seed=seed, **{**kw, "max_tokens": 48})
        return out["usage"]["completion_tokens"]

    def bare_grammar(seed: int) -> int:
        g = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        out = bare.create_completion(prompt, grammar=g, seed=seed, **kw)
        return out["usage"]["completion_tokens"]

    def ours(llm, seed: int) -> int:
        box, count = counter()
        llm.complete(prompt, schema=schema, seed=seed, on_token=count, **kw)
        return llm.last_stats.generated if llm.last_stats and llm is guided else box[0]

    def on_failure(seed: int) -> int:  # sample first, check, mask only when the token is refused
        _, stats = guided._guided.generate(prompt, schema, seed=seed, mask="on-failure", choices=guided.choices, **kw)
        return stats.generated

    sides = {"free (bare, no schema)": free, "guided (agent)": lambda s: ours(guided, s),
             "guided, mask on failure": on_failure,
             "grammar (agent fallback)": lambda s: ours(grammar, s), "grammar (bare)": bare_grammar}
    for fn in sides.values():
        fn(0)  # warm each side: pages, prefix cache
    rates: dict[str, list[float]] = {k: [] for k in sides}
    for r in range(args.rounds):
        for name, fn in sides.items():
            rates[name].append(timed(lambda: fn(r + 1)))
    tok = {k: median(v) for k, v in rates.items()}
    free_rate = tok["free (bare, no schema)"]
    print(f"1. one shot answer, {threads} thread(s), {args.rounds} alternating rounds (median tok/s)")
    for name, v in rates.items():
        print(f"   {name:26} {tok[name]:6.1f} tok/s  ×{tok[name] / free_rate:4.2f} of free   runs: {runs(v)}")
    print(f"   goal: guided ≥ 0.90× free → {tok['guided (agent)'] / free_rate:.2f}×")
    print("2. the agent vs bare llama-cpp-python on the same constrained work")
    print(f"   guided agent / bare grammar   {tok['guided (agent)'] / tok['grammar (bare)']:5.2f}×")
    print(f"   grammar agent / bare grammar  {tok['grammar (agent fallback)'] / tok['grammar (bare)']:5.2f}×"
          "   (goal ≥ 0.95×)")

    walls: dict[str, list[float]] = {"guided": [], "grammar": []}
    results = {}
    for r in range(args.rounds):
        for name, llm in (("guided", guided), ("grammar", grammar)):
            t = time.perf_counter()
            results[name] = Director(llm).draft(SIX_SHOTS, seed=r)
            walls[name].append(time.perf_counter() - t)
    print(f"3. notes → beat sheet, {len(sheet.shots)} shots, model loaded")
    for name, v in walls.items():
        res = results[name]
        print(f"   {name:8} median {median(v):5.2f} s   runs: {runs(v, ' s')}   last run: accepted "
              f"{res.accepted}, rejected {len(res.rejected)}")
    print(f"   ratio grammar/guided {median(walls['grammar']) / median(walls['guided']):.1f}×   goal: guided < 5 s")

    config.llm.decoding = "auto"
    firsts: dict[str, list[float]] = {"rules' shots shown (cold)": [], "first filled shot (cold)": [],
                                      "whole sheet (cold)": [], "first filled shot (prepared)": [],
                                      "whole sheet (prepared)": []}
    for r in range(args.rounds):
        backend = LlamaBeats(config)
        for prepared in (False, True):
            if prepared:
                backend.prepare()
            seen: list[tuple[int, float]] = []
            t = time.perf_counter()
            backend.director().draft(SIX_SHOTS, seed=r,
                                     on_shot=lambda s, filled: seen.append((filled, time.perf_counter() - t)))
            total = time.perf_counter() - t
            label = "prepared" if prepared else "cold"
            if not prepared:
                firsts["rules' shots shown (cold)"].append(seen[0][1])
            firsts[f"first filled shot ({label})"].append(next(s for f, s in seen if f == 1))
            firsts[f"whole sheet ({label})"].append(total)
    print("4. time to the first visible shot (cold = the model loads inside; prepared = the app loaded it at start)")
    for name, v in firsts.items():
        print(f"   {name:30} median {median(v):6.3f} s   runs: {runs(v, ' s')}")
    print("   goal: first filled shot < 1.5 s")


if __name__ == "__main__":
    main()
