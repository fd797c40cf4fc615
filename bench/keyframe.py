"""The diffusion keyframe backend, measured side by side in one run.

1. Overhead: our backend vs bare diffusers on the same loaded pipeline, same
   prompt, seed, steps and sampler, alternating runs (goal: ratio ≤ 1.05).
2. Consistency: one character in 4 shots (different actions, different
   seeds) with consistency off, "shared" and "reference" (shot 1 as the
   reference); the spread is the mean pairwise colour-histogram distance of
   the centre of the frame (where the character stands): lower = more alike.
   Random weights prove nothing about likeness; give your model with --model.
3. On a CUDA GPU (or this CPU with --real-size v1,xl_base): one step of a
   real-size SD 1.5 / SDXL UNet and one VAE decode (random weights from the
   bundled configs, fp16 on CUDA, bf16 on CPU, batch 2 for guidance).

    .venv/bin/python bench/keyframe.py [--model PATH] [--steps 4] [--long-side 256] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from inkubator_tui.config import Config  # noqa: E402
from inkubator_tui.pipeline.backend import CancelToken, JobContext  # noqa: E402
from inkubator_tui.pipeline.requests import KeyframeRequest  # noqa: E402
from inkubator_tui.project.models import AssetRef, Shot, Size  # noqa: E402
from inkubator_tui.tools.keyframe.diffusion import DiffusionKeyframes  # noqa: E402

ACTIONS = ["Mira waits under the station sign", "Mira runs across the wet square",
           "Mira reads the letter by the window", "Mira looks up at the rain"]
LOOK = "young woman, short black hair, red raincoat"


def backend(model: str, args, **options) -> DiffusionKeyframes:
    opts = {"steps": args.steps, "long_side": args.long_side, "dtype": args.dtype, "consistency": "off", **options}
    return DiffusionKeyframes(Config.model_validate({"keyframe": {"model_path": model, "options": opts},
                                                     "runtime": {"threads": args.threads}}))


def shot_request(i: int, seed: int, **kw) -> KeyframeRequest:
    shot = Shot(id=f"s{i}", number=str(i + 1), size=Size.MS, characters=["Mira"], action=ACTIONS[i])
    return KeyframeRequest(shot=shot, prompt=shot.action, width=640, height=360, seed=seed, looks={"Mira": LOOK},
                           seeds={"Mira": 1234}, style="muted colours, overcast light", **kw)


def run(b: DiffusionKeyframes, req: KeyframeRequest, workdir: Path, files=None) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    return b(req, JobContext(workdir=workdir, cancel=CancelToken(), files=files or {})).files[0]


def overhead(model: str, args, tmp: Path) -> None:
    b = backend(model, args)
    b.load()
    req = shot_request(0, 7)
    first = run(b, req, tmp / "warm")  # warm both paths once
    pipe = b.pipe
    s = b.settings()
    w, h = b.size(req)
    saved = pipe.scheduler
    pipe.scheduler = b._scheduler(pipe, s["scheduler"])
    prompt = Image.open(first).text["parameters"].split("\n")[0]
    negative = Image.open(first).text["parameters"].split("\n")[1].removeprefix("Negative prompt: ")

    def bare(i: int) -> float:
        t = time.perf_counter()
        image = pipe(prompt=prompt, negative_prompt=negative, num_inference_steps=s["steps"], width=w, height=h,
                     guidance_scale=s["guidance"], generator=torch.Generator().manual_seed(7)).images[0]
        image.save(tmp / f"bare{i}.png")
        return time.perf_counter() - t

    def ours(i: int) -> float:  # sets the same sampler itself, and puts back what it found
        t = time.perf_counter()
        run(b, req, tmp / f"ours{i}")
        return time.perf_counter() - t

    bare(-1)
    times_bare, times_ours = [], []
    for i in range(args.repeat):
        times_bare.append(bare(i))
        times_ours.append(ours(i))
    pipe.scheduler = saved
    diff = np.abs(np.asarray(Image.open(tmp / "bare0.png"), dtype=int)
                  - np.asarray(Image.open(tmp / "ours0" / first.name).convert("RGB"), dtype=int)).max()
    mb, mo = statistics.median(times_bare), statistics.median(times_ours)
    print(f"1. overhead at {w}×{h}, {s['steps']} steps, {args.dtype}, {args.repeat} runs each (median)")
    print(f"   bare diffusers {mb:.3f} s   ours {mo:.3f} s   ratio {mo / mb:.3f}   max pixel difference {diff}")


def spread(paths: list[Path]) -> float:
    hists = []
    for p in paths:
        px = np.asarray(Image.open(p).convert("RGB"))
        h, w = px.shape[:2]
        centre = px[h // 4: 3 * h // 4, w // 4: 3 * w // 4].reshape(-1, 3)
        hist, _ = np.histogramdd(centre, bins=8, range=[(0, 256)] * 3)
        hists.append(hist.ravel() / hist.sum())
    return float(np.mean([np.abs(a - b).sum() for i, a in enumerate(hists) for b in hists[i + 1:]]))


def consistency(model: str, args, tmp: Path) -> None:
    print(f"2. one character in {len(ACTIONS)} shots (centre colour-histogram spread, lower = more alike)")
    results = {}
    for mode in ("off", "shared", "reference"):
        b = backend(model, args, consistency=mode)
        t = time.perf_counter()
        paths = [run(b, shot_request(0, 100), tmp / f"{mode}0")]
        ref = AssetRef(sha256="0" * 64, ext=".png")
        for i in range(1, len(ACTIONS)):
            extra = {"references": {"Mira": ref}} if mode == "reference" else {}
            paths.append(run(b, shot_request(i, 100 + i, **extra), tmp / f"{mode}{i}",
                             files={ref: paths[0]} if extra else None))
        results[mode] = spread(paths)
        print(f"   {mode:9s} spread {results[mode]:.3f}   ({time.perf_counter() - t:.1f} s for {len(ACTIONS)} shots)"
              f"   pictures: {paths[0].parent.parent}/{mode}*/")
    print(f"   shared/off {results['shared'] / results['off']:.2f}   reference/off "
          f"{results['reference'] / results['off']:.2f}")


def unet_steps(device: str, families: list[str], repeat: int) -> None:
    """One denoising step of a real-size UNet (random weights from the bundled configs), batch 2
    for guidance, and one VAE decode: what a keyframe costs per step on this machine."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from inkubator_tui.tools.keyframe import skeletons

    dtype = torch.float16 if device == "cuda" else torch.bfloat16
    root = Path(tempfile.mkdtemp())
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"3. real-size UNet step and VAE decode, random weights, {dtype}, batch 2, on {name}")
    sizes = {"v1": (704, 384, 768), "v2": (1024, 576, 1024), "xl_base": (1344, 768, 2048)}
    for family in families:
        w, h, ctx_dim = sizes[family]
        folder = skeletons.materialise(family, root)
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"))
        unet = unet.to(device, dtype).eval()
        x = torch.randn(2, 4, h // 8, w // 8, device=device, dtype=dtype)
        emb = torch.randn(2, 77, ctx_dim, device=device, dtype=dtype)
        added = {"text_embeds": torch.randn(2, 1280, device=device, dtype=dtype),
                 "time_ids": torch.randn(2, 6, device=device, dtype=dtype)} if family == "xl_base" else None

        def sync():
            if device == "cuda":
                torch.cuda.synchronize()

        with torch.inference_mode():
            unet(x, 500, encoder_hidden_states=emb, added_cond_kwargs=added)
            sync()
            t = time.perf_counter()
            for _ in range(repeat):
                unet(x, 500, encoder_hidden_states=emb, added_cond_kwargs=added)
            sync()
            step = (time.perf_counter() - t) / repeat
            del unet
            vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae")).to(device, dtype).eval()
            vae.decode(x[:1])
            sync()
            t = time.perf_counter()
            vae.decode(x[:1])
            sync()
            decode = time.perf_counter() - t
        print(f"   {family:8s} {w}×{h}: {step:.2f} s a step, VAE decode {decode:.2f} s "
              f"→ 25 steps ≈ {25 * step + decode:.0f} s a keyframe")
        del vae
        if device == "cuda":
            torch.cuda.empty_cache()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="a diffusers folder or .safetensors file (default: a tiny random SD 1.x)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--long-side", type=int, default=256)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--real-size", default="", metavar="FAMILIES",
                    help="also time real-size UNets on this CPU, e.g. v1 or v1,xl_base (slow: minutes)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench-keyframe-"))
    model = args.model
    if not model:
        from tests.tiny_diffusion import build_sd1

        model = str(build_sd1(tmp / "tiny-sd1"))
        print(f"model: a tiny random SD 1.x ({model}); give --model for real figures")
    overhead(model, args, tmp / "overhead")
    consistency(model, args, tmp / "consistency")
    if torch.cuda.is_available():
        unet_steps("cuda", ["v1", "xl_base"], repeat=10)
    elif args.real_size:
        unet_steps("cpu", args.real_size.split(","), repeat=2)
    else:
        print("3. real-size UNet steps: no CUDA GPU here; --real-size v1 times them on this CPU")


if __name__ == "__main__":
    main()
