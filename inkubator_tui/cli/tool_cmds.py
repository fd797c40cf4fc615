"""`inkubator interpolate`: the motion backends as a tool of their own, two pictures in,
in-betweens out, no project needed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..project.models import Step
from .common import EXIT_OK, CliError, ProgressPrinter, load_args_config


def _picture(path: str):
    from PIL import Image, UnidentifiedImageError

    p = Path(path).expanduser()
    if not p.is_file():
        raise CliError(f"{p} does not exist; give two image files (PNG, JPEG, …)")
    try:
        with Image.open(p) as im:
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError):
        raise CliError(f"{p} is not an image this app can read; give a PNG or JPEG") from None


def cmd_interpolate(args) -> int:
    from ..pipeline.backend import ProgressEvent
    from ..pipeline.registry import Registry
    from ..tools.motion import inbetween
    from ..tools.video import write_mp4

    if args.frames < 1 or args.frames > 10000:
        raise CliError("--frames is how many in-betweens to draw between the two pictures: 1 to 10000")
    a, b = _picture(args.a), _picture(args.b)
    if b.size != a.size:
        print(f"note: {args.b} is {b.size[0]}×{b.size[1]}; resized to {a.size[0]}×{a.size[1]} like {args.a}",
              file=sys.stderr)
        b = b.resize(a.size)
    out = Path(args.out).expanduser()
    if out.suffix.lower() not in ("", ".mp4"):
        raise CliError(f"--out {out} should be a folder (PNG frames) or a .mp4 file")
    loaded = load_args_config(args)
    registry = Registry(loaded.config)
    name = args.backend or (loaded.config.motion.backend if loaded.config.motion.backend.startswith("rife") else "")
    if not name:  # the best RIFE this machine has: Vulkan on a real GPU, else PyTorch
        vulkan = next(spec for spec in registry.specs_for(Step.MOTION) if spec.name == "rife-vulkan")
        name = "rife-vulkan" if vulkan.load_class().readiness(loaded.config).ready else "rife"
    backend = registry.named(Step.MOTION, name)
    if backend is None or not hasattr(backend, "interpolator"):
        raise CliError(f"{name} does not draw in-betweens; use --backend rife or rife-vulkan")
    with ProgressPrinter() as printer:  # the bars go before the line saying what was written
        backend.load(lambda f, m: printer(ProgressEvent("load", f, m, step="motion")))
        net = backend.interpolator
        decision, ssim = inbetween.decide(a, b)
        if decision == "cut":
            print(f"note: the two pictures look like different scenes (SSIM {ssim:.2f}); the in-betweens will morph",
                  file=sys.stderr)
        times = tuple(i / (args.frames + 1) for i in range(args.frames + 2))
        record = inbetween.Drawings()
        started = time.monotonic()

        def frames():
            for i, frame in enumerate(inbetween.drawings(a, b, times, net, record=record)):
                printer(ProgressEvent("interpolate", i / (len(times) - 1), f"frame {i + 1}/{len(times)}",
                                      step="motion"))
                yield frame

        if out.suffix.lower() == ".mp4":
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(f".{out.name}.part.mp4")  # a cancelled run leaves no half clip
            try:
                write_mp4(tmp, frames(), a.size, args.fps)
                tmp.replace(out)
            finally:
                tmp.unlink(missing_ok=True)
        else:
            out.mkdir(parents=True, exist_ok=True)
            width = max(4, len(str(len(times) - 1)))
            for i, frame in enumerate(frames()):
                frame.save(out / f"frame_{i:0{width}d}.png")
    seconds = time.monotonic() - started
    exact = "" if net.takes_timestep else " (HDv3: times by halving, each within half a step)"
    print(f"wrote {len(times)} frames to {out}: {args.a}, {args.frames} in-between{'s' * (args.frames != 1)}, "
          f"{args.b} · {backend.info().model_id} on {net.device} · {record.passes} passes in {seconds:.1f}s{exact}")
    return EXIT_OK
