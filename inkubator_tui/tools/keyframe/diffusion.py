"""Keyframes by a Stable Diffusion model of the user's own (diffusers).

No weights ship with the app and nothing is ever fetched: the user points
`keyframe.model_path` at a diffusers folder (`model_index.json`) or one
`.safetensors` checkpoint (SD 1.x, SD 2.x, SDXL; the family is read from
the weights by diffusers' own inference, and the config skeleton a single
file needs offline is bundled). One loaded pipeline serves text-to-image and
image-to-image (`from_pipe`, no second load) and stays loaded between jobs.

Consistency without training: in "shared" mode each shot is denoised in a
batch with one anchor picture per character (their look, their own seed),
and the shot's self-attention also reads the anchors' tokens (the idea of
StoryDiffusion's consistent self-attention, written here as a diffusers
attention processor; no extra weights). The anchors are the same in every
shot, so every shot reads the same features of the same person. In
"reference" mode the anchor is the character's approved reference keyframe,
noised to each step's level. End frames are image-to-image of the approved
start frame, so in-betweening gets two pictures of one world.

Every PNG carries our provenance and an A1111-style `parameters` chunk, so
the settings show in the tools artists already use.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import struct
import threading
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

from PIL import Image
from PIL.PngImagePlugin import PngInfo
from pydantic import BaseModel, ConfigDict, Field

from ...config import Config
from ...pipeline.backend import (
    BackendError,
    BackendInfo,
    Cancelled,
    Capabilities,
    JobContext,
    Progress,
    Readiness,
    no_progress,
    starts_with,
    what_file_is,
)
from ...pipeline.registry import validate_options
from ...pipeline.requests import KeyframeRequest, Result
from ...project.assets import weights_sha256
from ...project.models import Movement, Step
from . import prompting

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
WEIGHT_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)
CHECKPOINT_FIX = ("give an SD 1.x, 2.x or XL .safetensors checkpoint (e.g. from huggingface.co or civitai.com) "
                  "or a diffusers folder with model_index.json")
# A safetensors header is a few hundred KB even for SDXL; the format caps it at 100 MB.
MAX_HEADER = 100_000_000


class FamilyDefaults(BaseModel):
    name: str
    native: int  # the side of the square the model was trained at (pixels)
    steps: int
    guidance: float
    scheduler: str
    licence: str


FAMILIES: dict[str, FamilyDefaults] = {
    "v1": FamilyDefaults(name="Stable Diffusion 1.x", native=512, steps=25, guidance=7.5,
                         scheduler="dpm++_2m_karras", licence="CreativeML OpenRAIL-M"),
    "v2": FamilyDefaults(name="Stable Diffusion 2.x", native=768, steps=25, guidance=7.0,
                         scheduler="dpm++_2m_karras", licence="CreativeML Open RAIL++-M"),
    "xl_base": FamilyDefaults(name="Stable Diffusion XL", native=1024, steps=25, guidance=6.0,
                              scheduler="dpm++_2m_karras", licence="CreativeML Open RAIL++-M"),
}
# Distilled few-step models (SDXL-Turbo, SD-Turbo, Lightning, LCM, Hyper): 1–4 steps, no guidance.
FEW_STEP_NAME = re.compile(r"turbo|lightning|\blcm\b|[-_]lcm|hyper[-_]?sd|hyper", re.I)
FEW_STEP = {"steps": 2, "guidance": 0.0, "scheduler": "euler_a"}

# sampler option → (diffusers scheduler class, its extra config, A1111 "Sampler", A1111 "Schedule type")
SAMPLERS: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "euler": ("EulerDiscreteScheduler", {}, "Euler", ""),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}, "Euler a", ""),
    "dpm++_2m": ("DPMSolverMultistepScheduler", {}, "DPM++ 2M", ""),
    "dpm++_2m_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}, "DPM++ 2M", "Karras"),
    "ddim": ("DDIMScheduler", {}, "DDIM", ""),
    "unipc": ("UniPCMultistepScheduler", {}, "UniPC", ""),
    "pndm": ("PNDMScheduler", {}, "PLMS", ""),
    "lcm": ("LCMScheduler", {}, "LCM", ""),
}
SAMPLER_OF_CLASS = {cls: a1111 for cls, _, a1111, _ in SAMPLERS.values()}

# Latents → RGB by a linear map per family (values as used for live previews by ComfyUI and
# A1111): a picture of the work so far with no extra weights and no VAE decode.
LATENT_RGB: dict[str, tuple[list[list[float]], list[float]]] = {
    "v1": ([[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350], [-0.2829, 0.1762, 0.2721],
            [-0.2120, -0.2616, -0.7177]], [0.0, 0.0, 0.0]),
    "xl_base": ([[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068], [0.1076, 0.1111, -0.0362],
                 [-0.3165, -0.2492, -0.2188]], [0.1084, -0.0175, -0.0011]),
}
LATENT_RGB["v2"] = LATENT_RGB["v1"]


class LoraFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    weight: float = Field(default=1.0, ge=-4.0, le=4.0)


class DiffusionOptions(BaseModel):
    """`[keyframe.options]` for the diffusion backend; 0 / "auto" / "default" = the family's own."""

    model_config = ConfigDict(extra="forbid")

    # "auto": read from the weights; set it when the weights do not say (e.g. "v2" for a 512 SD 2 base).
    family: Literal["auto", "v1", "v2", "xl_base"] = "auto"
    # For a single-file checkpoint: a diffusers folder whose configs describe it (a fine-tune with
    # a different layout); "" = the config bundled for its family.
    single_file_config: str = ""
    # Pickled checkpoints (.ckpt, .pt, .bin) can run code when loaded; refused unless you opt in.
    allow_pickle: bool = False
    # LoRA files (.safetensors) for the project's look, each with a weight.
    loras: list[LoraFile] = Field(default_factory=list)
    # "auto": float16 on CUDA, bfloat16 on CPU (≈ 2× faster than float32 here).
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    steps: int = Field(default=0, ge=0, le=200)
    guidance: float | None = Field(default=None, ge=0.0, le=30.0)
    scheduler: Literal["default", "model", *SAMPLERS] = "default"
    # A distilled 1–4 step model (Turbo, Lightning, LCM); None = guess from the file name.
    few_step: bool | None = None
    # Long side of the picture in pixels; 0 = the family's trained area at the project's aspect.
    long_side: int = Field(default=0, ge=0, le=4096)
    # What no picture should show; a project sets its own in DIR/inkubator.toml.
    negative_prompt: str = prompting.DEFAULT_NEGATIVE
    # How characters stay the same across shots (see the module docstring).
    consistency: Literal["off", "shared", "reference"] = "shared"
    # Fraction of the anchors' tokens each shot reads (StoryDiffusion samples about half).
    share: float = Field(default=0.5, gt=0.0, le=1.0)
    # Where sharing applies: the decoder's self-attention ("up", as StoryDiffusion) or all of it.
    share_layers: Literal["up", "all"] = "up"
    max_anchors: int = Field(default=2, ge=1, le=4)
    # How far an end frame may move from the start (image-to-image strength).
    end_strength: float = Field(default=0.6, gt=0.0, le=1.0)
    # For camera end frames: the reframed start is redrawn this much, to restore detail.
    camera_end_strength: float = Field(default=0.35, gt=0.0, le=1.0)
    # A small picture of the latents after every step, for the app's preview.
    preview: bool = True
    # The model's licence for provenance, when its folder does not say.
    licence: str = ""


class ModelPathError(BackendError):
    """The configured model path is not a model this backend can load; says what was expected."""


def check_model_path(raw: str, allow_pickle: bool = False) -> tuple[Path, Literal["folder", "file"]]:
    """What `keyframe.model_path` points at, checked before diffusers sees it: a missing
    folder would otherwise surface as a misleading network error."""
    if not raw.strip():
        raise ModelPathError("no diffusion model configured: set keyframe.model_path to a diffusers folder "
                             "(with model_index.json) or a .safetensors checkpoint (SD 1.x, 2.x or XL)")
    path = Path(raw).expanduser()
    if not path.exists():
        raise ModelPathError(f"keyframe.model_path {path} does not exist; point it at a diffusers folder "
                             "or a .safetensors checkpoint")
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelPathError(f"keyframe.model_path {path} is a folder without model_index.json; give a diffusers "
                                 "model folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/) "
                                 "or a .safetensors checkpoint")
        try:
            index = json.loads((path / "model_index.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            index = None
        if not isinstance(index, dict):
            raise ModelPathError(f"keyframe.model_path {path}: its model_index.json is not a diffusers model index "
                                 f"({what_file_is(path / 'model_index.json')}); copy the model folder again "
                                 "from its source")
        missing = [name for name, spec in index.items() if not name.startswith("_") and isinstance(spec, list)
                   and spec[0] is not None and not (path / name).is_dir()]
        if missing:
            raise ModelPathError(f"{path} is incomplete: model_index.json lists {', '.join(missing)} but the "
                                 "folder has no such subfolder; copy the whole model folder")
        # A part whose weights are all pickles (no .safetensors beside them).
        pickled = [p for p in sorted(path.glob("*/*")) if p.suffix in PICKLE_SUFFIXES
                   and not any(p.parent.glob("*.safetensors"))]
        if pickled and not allow_pickle:
            raise ModelPathError(f"{path} holds pickled weights ({pickled[0].relative_to(path)}), which can run "
                                 "code when loaded; convert them to .safetensors, or set "
                                 "keyframe.options.allow_pickle = true if you trust the source")
        return path, "folder"
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise ModelPathError(f"{path.name} is a pickled checkpoint, which can run code when loaded; use a "
                                 ".safetensors file, or set keyframe.options.allow_pickle = true if you trust it")
        if not starts_with(path, b"PK\x03\x04", b"\x80"):  # torch.save's zip, or an older pickle
            raise ModelPathError(f"keyframe.model_path {path} is not a PyTorch checkpoint ({what_file_is(path)}); "
                                 f"{CHECKPOINT_FIX}")
        return path, "file"
    if suffix != ".safetensors":
        raise ModelPathError(f"keyframe.model_path {path} is not a model file ({what_file_is(path)}); "
                             f"{CHECKPOINT_FIX}")
    if not is_safetensors(path):
        raise ModelPathError(f"keyframe.model_path {path} is not a safetensors checkpoint ({what_file_is(path)}); "
                             f"{CHECKPOINT_FIX}")
    return path, "file"


def is_safetensors(path: Path) -> bool:
    """The file is what safetensors reads: an 8-byte length, a JSON header of that length, and
    every tensor's bytes inside the file. Checked here so that a picture or a download's error
    page named .safetensors is refused in words by doctor and by load, not by the reader's
    "header too large" mid-job."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if not 2 <= n <= min(MAX_HEADER, size - 8):
                return False
            header = json.loads(f.read(n))
    except (OSError, struct.error, UnicodeDecodeError, ValueError):
        return False
    if not isinstance(header, dict):
        return False
    room = size - 8 - n
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        offsets = tensor.get("data_offsets") if isinstance(tensor, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(x, int) for x in offsets)
                and 0 <= offsets[0] <= offsets[1] <= room):
            return False
    return True


def peek_family(path: Path, kind: str, configured: str = "auto") -> str:
    """The model family without loading weights: a folder's configs, or a single file's
    header (names and shapes only), read by diffusers' own inference."""
    if configured != "auto":
        return configured
    if kind == "folder":
        index = json.loads((path / "model_index.json").read_text())
        if "text_encoder_2" in index or "XL" in str(index.get("_class_name", "")):
            return "xl_base"
        unet = json.loads((path / "unet" / "config.json").read_text())
        return "v2" if unet.get("cross_attention_dim") == 1024 else "v1"
    if path.suffix.lower() != ".safetensors":
        return ""
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    return infer_diffusers_model_type(checkpoint_header(path))


class _Shape:
    def __init__(self, shape):
        self.shape = tuple(shape)


def checkpoint_header(path: Path) -> dict[str, Any]:
    """A single file's tensor names and shapes — all diffusers' family inference reads —
    from the safetensors header, without reading gigabytes of weights; a pickled
    checkpoint (opted in) has no header and is loaded whole."""
    if path.suffix.lower() != ".safetensors":
        from diffusers.loaders.single_file_utils import load_single_file_checkpoint

        return load_single_file_checkpoint(str(path), local_files_only=True)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return {k: _Shape(f.get_slice(k).get_shape()) for k in f.keys()}


def model_weights_sha256(path: Path) -> str:
    """One hash for the weights: the file's own, or for a folder the hash of its weight
    files' hashes (each remembered, so a 7 GB model is read once)."""
    if path.is_file():
        return weights_sha256(path)
    import hashlib

    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.suffix in WEIGHT_SUFFIXES and p.is_file()):
        h.update(f"{f.relative_to(path).as_posix()}:{weights_sha256(f)}\n".encode())
    return h.hexdigest()


def folder_licence(path: Path) -> str:
    """The `license:` of a model card's front matter, when the folder has one."""
    card = path / "README.md" if path.is_dir() else path.with_suffix(".md")
    try:
        head = card.read_text(errors="replace")[:4000]
    except OSError:
        return ""
    m = re.search(r"^---\s*$(.*?)^---\s*$", head, re.S | re.M)
    lic = re.search(r"^license:\s*(\S.*)$", m.group(1) if m else "", re.M)
    return lic.group(1).strip().strip("'\"") if lic else ""


def a1111_parameters(prompt: str, negative: str, fields: dict[str, Any]) -> str:
    """The `parameters` text A1111, Forge, ComfyUI and Civitai read: the prompt, the
    negative prompt, then `Key: value` pairs (values with , : or " JSON-quoted)."""
    def value(v: Any) -> str:
        text = f"{v:g}" if isinstance(v, float) else str(v)
        return json.dumps(text) if re.search(r'[,:"\n]', text) else text

    pairs = ", ".join(f"{k}: {value(v)}" for k, v in fields.items() if v not in (None, ""))
    return f"{prompt}\nNegative prompt: {negative}\n{pairs}" if negative else f"{prompt}\n{pairs}"


def latents_to_rgb(latents, family: str) -> Image.Image | None:
    """A small picture of one latent (C×h×w) by the family's linear factors; None when the
    latent space is not one we know."""
    import torch

    factors, bias = LATENT_RGB.get(family, (None, None))
    if factors is None or latents.shape[0] != len(factors):
        return None
    m = torch.tensor(factors, dtype=torch.float32)
    rgb = torch.einsum("chw,cr->hwr", latents.detach().float().cpu(), m) + torch.tensor(bias)
    rgb = ((rgb + 1) / 2).clamp(0, 1).mul(255).byte().numpy()
    return Image.fromarray(rgb, "RGB")


class SharedSelfAttention:
    """Self-attention in which each shot also reads its anchors' tokens.

    The batch holds, per classifier-free-guidance half, `anchors` anchor pictures then
    the shot. Anchors attend only to themselves, so they come out the same in every
    shot's batch; the shot attends to its own tokens and a fixed sample of theirs."""

    def __init__(self, anchors: int, share: float, seed: int):
        self.anchors = anchors
        self.share = share
        self.seed = seed
        self._picks: dict[int, Any] = {}

    def _pick(self, n: int, device):
        import torch

        if n not in self._picks:
            g = torch.Generator().manual_seed(self.seed + n)
            self._picks[n] = torch.randperm(n, generator=g)[:max(1, round(n * self.share))].sort().values
        return self._picks[n].to(device)

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 *args, **kwargs):
        import torch
        import torch.nn.functional as F

        if encoder_hidden_states is not None or self.anchors == 0:
            from diffusers.models.attention_processor import AttnProcessor2_0

            return AttnProcessor2_0()(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        ndim = hidden_states.ndim
        if ndim == 4:
            b, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        batch, tokens, _ = hidden_states.shape
        group = self.anchors + 1
        halves = batch // group
        q, k, v = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
        heads = attn.heads
        head_dim = k.shape[-1] // heads

        def split(x):  # (B, N, C) → (B, heads, N, d)
            return x.view(x.shape[0], -1, heads, head_dim).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        if getattr(attn, "norm_q", None) is not None:
            q = attn.norm_q(q)
        if getattr(attn, "norm_k", None) is not None:
            k = attn.norm_k(k)
        out = F.scaled_dot_product_attention(q, k, v)  # every picture with itself
        picks = self._pick(tokens, k.device)
        for half in range(halves):
            shot = half * group + self.anchors
            anchors = slice(half * group, shot)
            shared_k = k[anchors][:, :, picks].transpose(0, 1).reshape(1, heads, -1, head_dim)
            shared_v = v[anchors][:, :, picks].transpose(0, 1).reshape(1, heads, -1, head_dim)
            out[shot:shot + 1] = F.scaled_dot_product_attention(
                q[shot:shot + 1], torch.cat([k[shot:shot + 1], shared_k], dim=2),
                torch.cat([v[shot:shot + 1], shared_v], dim=2))
        hidden_states = out.transpose(1, 2).reshape(batch, -1, heads * head_dim).to(q.dtype)
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(b, c, h, w)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


class DiffusionKeyframes:
    step: ClassVar[Step] = Step.KEYFRAMES
    Options: ClassVar[type[BaseModel]] = DiffusionOptions

    def __init__(self, config: Config):
        self.config = config
        self.options: DiffusionOptions = validate_options(DiffusionKeyframes, config, Step.KEYFRAMES, "diffusion")
        self.model_path = config.keyframe.model_path
        self.pipe = None
        self.img2img = None
        self.family = ""
        self.sha256 = ""
        self.lora_hashes: dict[str, str] = {}
        self.device = "cpu"
        self.dtype_name = ""
        self._lock = threading.Lock()

    @property
    def capabilities(self) -> Capabilities:
        inputs: dict[str, Literal["required", "optional"]] = {"start": "required"}
        if self.options.consistency == "reference":
            inputs["references"] = "required"
        return Capabilities(inputs=inputs, device="any", max_concurrency=1)

    # ---- what doctor and "auto" read ---------------------------------------
    @classmethod
    def readiness(cls, config: Config) -> Readiness:
        if importlib.util.find_spec("diffusers") is None:
            return Readiness(Step.KEYFRAMES, "diffusion", False, "diffusers is not installed",
                             fix="pip install diffusers transformers safetensors peft (make run does)")
        try:
            opts = validate_options(cls, config, Step.KEYFRAMES, "diffusion") \
                if config.keyframe.backend == "diffusion" else DiffusionOptions()
            path, kind = check_model_path(config.keyframe.model_path, opts.allow_pickle)
        except BackendError as e:
            return Readiness(Step.KEYFRAMES, "diffusion", False, str(e),
                             fix="set keyframe.model_path in config.toml, e.g. "
                                 "`inkubator config` shows where; `--set keyframe.model_path=/models/sd15.safetensors`",
                             setting="keyframe.model_path" if config.keyframe.model_path.strip() else "")
        return Readiness(Step.KEYFRAMES, "diffusion", True, f"diffusers, your model: {path} ({kind})")

    def info(self) -> BackendInfo:
        """The same before and after loading (it is part of every cache key): what was
        configured, never what loading found (that goes in each result's parameters)."""
        o = self.options
        if not self.family and self.model_path:
            try:
                self.family = peek_family(*check_model_path(self.model_path, o.allow_pickle), o.family)
            except (BackendError, OSError, ValueError):
                pass
        # every option that changes the picture (a changed option makes new drafts, not cache hits)
        params = {"model_path": self.model_path, "family": self.family,
                  **o.model_dump(exclude={"preview", "licence", "family", "loras", "allow_pickle"}),
                  "loras": self._loras()}
        return BackendInfo(name="diffusion", model_id=self._model_id(), weights_sha256=self._sha(),
                           licence=self._licence(), version="1", parameters=params)

    def _loras(self) -> list[dict[str, Any]]:
        out = []
        for lo in self.options.loras:
            p = Path(lo.path).expanduser()
            if lo.path not in self.lora_hashes and p.is_file():
                self.lora_hashes[lo.path] = weights_sha256(p)
            out.append({"path": lo.path, "weight": lo.weight, "sha256": self.lora_hashes.get(lo.path, "")})
        return out

    def _model_id(self) -> str:
        return Path(self.model_path).expanduser().name if self.model_path else ""

    def _sha(self) -> str:
        if not self.sha256 and self.model_path:
            try:
                self.sha256 = model_weights_sha256(Path(self.model_path).expanduser())
            except OSError:
                return ""
        return self.sha256

    def _licence(self) -> str:
        if self.options.licence:
            return self.options.licence
        if self.model_path:
            found = folder_licence(Path(self.model_path).expanduser())
            if found:
                return found
        fam = FAMILIES.get(self.family)
        return f"{fam.licence} (the base model's; check your checkpoint's own)" if fam else ""

    # ---- loading ---------------------------------------------------------
    def load(self, progress: Progress = no_progress) -> None:
        with self._lock:
            if self.pipe is None:
                self._load(progress)

    def _load(self, progress: Progress) -> None:
        o = self.options
        path, kind = check_model_path(self.model_path, o.allow_pickle)  # said before seconds of imports
        _quiet_libraries()
        import torch
        from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image
        torch.set_num_threads(self.config.runtime.threads)
        want = self.config.runtime.device
        self.device = "cuda" if want == "cuda" or (want == "auto" and torch.cuda.is_available()) else "cpu"
        if self.device == "cuda" and not torch.cuda.is_available():
            raise BackendError("runtime.device = cuda, but torch sees no CUDA GPU; set runtime.device = auto")
        self.dtype_name = o.dtype if o.dtype != "auto" else ("float16" if self.device == "cuda" else "bfloat16")
        dtype = getattr(torch, self.dtype_name)
        progress(0.05, f"hashing {path.name}")
        self._sha()
        progress(0.3, f"loading {path.name} ({kind})")
        try:
            if kind == "folder":
                pipe = AutoPipelineForText2Image.from_pretrained(
                    str(path), dtype=dtype, local_files_only=True, use_safetensors=None if o.allow_pickle else True,
                    safety_checker=None, requires_safety_checker=False)
            else:
                pipe = self._load_single_file(path, dtype, progress)
        except BackendError:
            raise
        except Exception as e:  # noqa: BLE001 - diffusers raises many kinds; the person needs one line
            raise ModelPathError(f"could not load {path} as a Stable Diffusion model: {_first_line(e)}") from e
        self.family = o.family if o.family != "auto" else _family_of_pipeline(pipe)
        pipe.set_progress_bar_config(disable=True)
        if self.device == "cuda" and self.dtype_name == "float16" and getattr(pipe.vae.config, "force_upcast", False):
            pipe.vae.to(dtype=torch.float32)  # SDXL's VAE overflows in float16
        progress(0.7, "LoRA" if o.loras else "ready")
        self._load_loras(pipe)
        pipe.to(self.device)
        self.pipe = pipe
        self.img2img = AutoPipelineForImage2Image.from_pipe(pipe)
        self.img2img.set_progress_bar_config(disable=True)
        progress(1.0, f"{FAMILIES[self.family].name if self.family in FAMILIES else 'model'} on {self.device}, "
                      f"{self.dtype_name}")

    def _load_single_file(self, path: Path, dtype, progress: Progress):
        from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline
        from diffusers.loaders.single_file_utils import infer_diffusers_model_type

        from . import skeletons

        checkpoint = checkpoint_header(path)
        family = self.options.family if self.options.family != "auto" else infer_diffusers_model_type(checkpoint)
        if family == "v1" and not any(k.startswith("model.diffusion_model.") for k in checkpoint):
            # diffusers answers "v1" for anything it does not recognise
            raise ModelPathError(f"{path.name} is not a Stable Diffusion checkpoint (it has no "
                                 "model.diffusion_model weights); expected an SD 1.x, 2.x or XL .safetensors file")
        if family not in FAMILIES:
            raise ModelPathError(f"{path.name} looks like a {family!r} model; this backend loads Stable Diffusion "
                                 f"1.x, 2.x and XL checkpoints ({', '.join(FAMILIES)}), or a diffusers folder "
                                 "for other families")
        del checkpoint  # a pickle was read whole; from_single_file reads it again
        if self.options.single_file_config:
            config = Path(self.options.single_file_config).expanduser()
            if not (config / "model_index.json").is_file():
                raise ModelPathError(f"keyframe.options.single_file_config {config} has no model_index.json; give a "
                                     "diffusers model folder (its weights are not needed, only its configs)")
        else:
            config = skeletons.materialise(family, self._skeleton_root())
        cls = StableDiffusionXLPipeline if family.startswith("xl") else StableDiffusionPipeline
        extra = {} if family.startswith("xl") else {"safety_checker": None, "requires_safety_checker": False}
        progress(0.5, f"building the {FAMILIES[family].name} pipeline")
        pipe = cls.from_single_file(str(path), config=str(config), local_files_only=True, dtype=dtype,
                                    **extra)
        self.family = family
        return pipe

    def _skeleton_root(self) -> Path:
        from platformdirs import user_cache_path

        return user_cache_path("inkubator") / "diffusers-configs"

    def _load_loras(self, pipe) -> None:
        loras = self.options.loras
        if not loras:
            return
        names, weights = [], []
        for i, lora in enumerate(loras):
            p = Path(lora.path).expanduser()
            if not p.is_file():
                raise BackendError(f"keyframe.options.loras[{i}]: {p} does not exist; give the path of a LoRA "
                                   ".safetensors file")
            if p.suffix.lower() != ".safetensors":
                raise BackendError(f"keyframe.options.loras[{i}]: {p.name} is not a .safetensors file (pickled "
                                   "LoRAs are refused)")
            name = f"lora{i}"
            try:
                pipe.load_lora_weights(str(p.parent), weight_name=p.name, adapter_name=name)
            except Exception as e:  # noqa: BLE001
                raise BackendError(f"could not load LoRA {p.name} into this {self.family} model: "
                                   f"{_first_line(e)} (a LoRA is made for one model family)") from e
            self.lora_hashes[lora.path] = weights_sha256(p)
            names.append(name)
            weights.append(lora.weight)
        pipe.set_adapters(names, weights)

    # ---- one keyframe ----------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """Steps, guidance and sampler: the options, else the family's (or a few-step model's) defaults."""
        o = self.options
        fam = FAMILIES.get(self.family, FAMILIES["v1"])
        few = o.few_step if o.few_step is not None else bool(FEW_STEP_NAME.search(Path(self.model_path).name))
        base = FEW_STEP if few else {"steps": fam.steps, "guidance": fam.guidance, "scheduler": fam.scheduler}
        return {"steps": o.steps or base["steps"],
                "guidance": o.guidance if o.guidance is not None else base["guidance"],
                "scheduler": base["scheduler"] if o.scheduler == "default" else o.scheduler, "few_step": few}

    def size(self, request: KeyframeRequest) -> tuple[int, int]:
        """The picture size: the family's trained area at the project's aspect (multiples of 64),
        or the long side the options ask for."""
        aspect = request.width / request.height
        o = self.options
        if o.long_side:
            long = o.long_side
        else:
            sample = getattr(self.pipe.unet.config, "sample_size", 64) if self.pipe else 64
            native = (sample if isinstance(sample, int) else sample[0]) * self._vae_scale()
            long = math.sqrt(native * native * max(aspect, 1 / aspect))
        short = long / max(aspect, 1 / aspect)
        w, h = (long, short) if aspect >= 1 else (short, long)
        return max(64, round(w / 64) * 64), max(64, round(h / 64) * 64)

    def _vae_scale(self) -> int:
        return 2 ** (len(self.pipe.vae.config.block_out_channels) - 1) if self.pipe else 8

    def _scheduler(self, pipe, name: str):
        from diffusers import schedulers

        if name == "model":
            return pipe.scheduler
        cls_name, extra, _, _ = SAMPLERS[name]
        return getattr(schedulers, cls_name).from_config(pipe.scheduler.config, **extra)

    def __call__(self, request: KeyframeRequest, ctx: JobContext) -> Result:
        self.load()
        with self._lock:  # one pipeline, one job at a time (attention processors, scheduler state)
            return self._generate(request, ctx)

    def _generate(self, request: KeyframeRequest, ctx: JobContext) -> Result:
        import torch

        o = self.options
        began = time.monotonic()
        s = self.settings()
        tok = self.pipe.tokenizer
        composed = prompting.compose(
            request, negative=", ".join(p for p in (request.negative_prompt, o.negative_prompt) if p.strip()),
            count_tokens=lambda text: len(tok(text).input_ids) - 2)
        end = request.role == "end"
        w, h = self.size(request)
        mode, init = "text-to-image", None
        strength = None
        if end and request.start is not None:
            start = Image.open(ctx.path(request.start)).convert("RGB")
            w, h = start.size
            how = request.shot.end_frame
            if how == "auto":
                how = "img2img" if request.shot.end_action.strip() else "camera"
            if how == "camera" and request.shot.movement not in (Movement.STATIC, Movement.HANDHELD):
                from ..motion.camera import last_framing

                init, strength, mode = last_framing(start, request.shot.movement).resize((w, h)), \
                    o.camera_end_strength, "camera end framing, redrawn"
            else:
                init, strength, mode = start, o.end_strength, "image-to-image of the approved start"
        pipe = self.img2img if init is not None else self.pipe
        saved_scheduler = pipe.scheduler
        pipe.scheduler = self._scheduler(pipe, s["scheduler"])
        anchors = self._anchors(request, ctx, w, h) if init is None and o.consistency != "off" else []
        cancel = ctx.cancel
        release = cancel.on_cancel(lambda: setattr(pipe, "_interrupt", True))
        saved_processors = dict(self.pipe.unet.attn_processors) if anchors else None
        n_steps = s["steps"] if init is None else max(1, int(s["steps"] * strength))
        try:
            if anchors:
                self._share_attention(len(anchors), request.seed)
            latents = self._initial_latents(pipe, anchors, request.seed, w, h) if anchors else None
            target_gen = torch.Generator().manual_seed(request.seed)
            gens = [a["generator"] for a in anchors] + [target_gen]

            def on_step(p, i, t, kwargs):
                cancel.check()
                lat = kwargs["latents"]
                if anchors and i + 1 < len(p.scheduler.timesteps):
                    self._renoise_references(p, anchors, lat, p.scheduler.timesteps[i + 1])
                preview = latents_to_rgb(lat[-1], self.family) if o.preview else None
                ctx.progress(0.05 + 0.85 * (i + 1) / n_steps, f"step {i + 1}/{n_steps}", preview)
                return {"latents": lat}

            prompts = [a["prompt"] for a in anchors] + [composed.prompt]
            negatives = [composed.negative_prompt] * len(prompts)
            common = dict(prompt=prompts, negative_prompt=negatives, num_inference_steps=s["steps"],
                          guidance_scale=s["guidance"], generator=gens if anchors else target_gen,
                          callback_on_step_end=on_step, output_type="latent")
            ctx.progress(0.02, f"{mode}: {n_steps} steps")
            with torch.inference_mode():
                if init is None:
                    out = pipe(width=w, height=h, latents=latents, **common)
                else:
                    out = pipe(image=init, strength=strength, **common)
                cancel.check()
                ctx.progress(0.93, "decoding")
                picture = self._decode(out.images[-1:])
        except Cancelled:
            raise
        except torch.OutOfMemoryError as e:
            raise BackendError(f"out of memory at {w}×{h}: set keyframe.options.long_side lower, or "
                               "dtype = float16 on a GPU") from e
        finally:
            release()
            pipe._interrupt = False
            pipe.scheduler = saved_scheduler
            if saved_processors is not None:
                self.pipe.unet.set_attn_processor(saved_processors)
        seconds = time.monotonic() - began
        return self._save(request, ctx, picture, composed, s, w, h, mode, strength, anchors, seconds)

    # ---- consistency -----------------------------------------------------
    def _anchors(self, request: KeyframeRequest, ctx: JobContext, w: int, h: int) -> list[dict[str, Any]]:
        """One anchor per character in shot (at most `max_anchors`): their look from their
        own seed ("shared"), or their approved reference picture ("reference")."""
        import torch

        out = []
        for name in list(request.looks)[: self.options.max_anchors]:
            seed = request.seeds.get(name, 0)
            anchor = {"name": name, "seed": seed, "generator": torch.Generator().manual_seed(seed),
                      "prompt": prompting.character_prompt(name, request.looks[name], request.style),
                      "reference": None}
            ref = request.references.get(name)
            if self.options.consistency == "reference" and ref is not None:
                anchor["reference"] = ref
                anchor["latent"] = self._encode(Image.open(ctx.path(ref)).convert("RGB").resize((w, h)))
                anchor["noise"] = torch.randn(anchor["latent"].shape, generator=torch.Generator().manual_seed(seed))
            out.append(anchor)
        return out

    def _encode(self, image: Image.Image):
        import torch

        vae = self.pipe.vae
        pixels = self.pipe.image_processor.preprocess(image).to(self.device, dtype=vae.dtype)
        with torch.inference_mode():
            latent = vae.encode(pixels).latent_dist.mean * vae.config.scaling_factor
        return latent.to("cpu", dtype=torch.float32)

    def _initial_latents(self, pipe, anchors, seed: int, w: int, h: int):
        """The batch's starting noise: the shot's exactly as diffusers draws it for this seed;
        a shared anchor's from the character's seed; a reference anchor is the reference
        noised to the first step's level (divided by the scale the pipeline multiplies in)."""
        import torch

        f = self._vae_scale()
        shape = (1, self.pipe.unet.config.in_channels, h // f, w // f)
        rows = []
        pipe.scheduler.set_timesteps(self.settings()["steps"])
        t0 = pipe.scheduler.timesteps[:1]
        sigma = float(pipe.scheduler.init_noise_sigma)
        for a in anchors:
            if a.get("latent") is not None:
                rows.append(pipe.scheduler.add_noise(a["latent"], a["noise"], t0) / sigma)
            else:
                rows.append(torch.randn(shape, generator=torch.Generator().manual_seed(a["seed"])))
        rows.append(torch.randn(shape, generator=torch.Generator().manual_seed(seed)))
        return torch.cat(rows).to(self.device, dtype=self.pipe.unet.dtype)

    def _renoise_references(self, pipe, anchors, latents, t_next) -> None:
        for i, a in enumerate(anchors):
            if a.get("latent") is not None:
                noisy = pipe.scheduler.add_noise(a["latent"], a["noise"], t_next.reshape(1).cpu())
                latents[i:i + 1] = noisy.to(latents.device, latents.dtype)

    def _share_attention(self, anchors: int, seed: int) -> None:
        from diffusers.models.attention_processor import AttnProcessor2_0

        procs = {}
        for i, name in enumerate(self.pipe.unet.attn_processors):
            where = name.startswith("up_blocks") or self.options.share_layers == "all"
            procs[name] = SharedSelfAttention(anchors, self.options.share, seed=i * 7919) \
                if where and name.endswith("attn1.processor") else AttnProcessor2_0()
        self.pipe.unet.set_attn_processor(procs)

    # ---- output ----------------------------------------------------------
    def _decode(self, latents) -> Image.Image:
        import torch

        vae = self.pipe.vae
        lat = latents.to(vae.dtype) / vae.config.scaling_factor
        if getattr(vae.config, "shift_factor", None):
            lat = lat + vae.config.shift_factor
        with torch.inference_mode():
            pixels = vae.decode(lat, return_dict=False)[0]
        return self.pipe.image_processor.postprocess(pixels.float(), output_type="pil")[0]

    def _save(self, request, ctx, picture, composed, s, w, h, mode, strength, anchors, seconds) -> Result:
        o = self.options
        cls = type(self.pipe.scheduler).__name__ if s["scheduler"] == "model" else SAMPLERS[s["scheduler"]][0]
        sampler = SAMPLER_OF_CLASS.get(cls, cls)
        schedule = SAMPLERS[s["scheduler"]][3] if s["scheduler"] in SAMPLERS else ""
        sha = self._sha()
        loras = self._loras()
        params = {
            "width": w, "height": h, "role": request.role, "mode": mode, "guidance": s["guidance"],
            "scheduler": cls, "sampler": s["scheduler"], "dtype": self.dtype_name, "device": self.device,
            "family": self.family, "few_step": s["few_step"], "seconds": round(seconds, 2),
            "consistency": o.consistency if anchors else "off",
            "anchors": [{"character": a["name"], "seed": a["seed"],
                         **({"reference": a["reference"].rel} if a["reference"] else {"prompt": a["prompt"]})}
                        for a in anchors],
            "share": o.share if anchors else None, "loras": loras,
            **({"strength": strength} if strength is not None else {}),
            **({"prompt_dropped": composed.dropped} if composed.dropped else {}),
        }
        fields = {"Steps": s["steps"], "Sampler": sampler, "Schedule type": schedule, "CFG scale": s["guidance"],
                  "Seed": request.seed, "Size": f"{w}x{h}", "Model hash": sha[:10], "Model": self._model_id(),
                  "Denoising strength": strength,
                  "Lora hashes": ", ".join(f"{Path(lo['path']).stem}: {lo['sha256'][:12]}" for lo in loras),
                  "Version": "inkubator"}
        meta = PngInfo()
        meta.add_text("parameters", a1111_parameters(composed.prompt, composed.negative_prompt, fields))
        meta.add_text("inkubator", json.dumps({
            "tool": "keyframes", "backend": "diffusion", "model_id": self._model_id(), "weights_sha256": sha,
            "licence": self._licence(), "shot": request.shot.number, "prompt": composed.prompt,
            "negative_prompt": composed.negative_prompt, "seed": request.seed, "steps": s["steps"], **params}))
        out = ctx.workdir / f"shot{request.shot.number}-{request.role}-diffusion.png"
        picture.save(out, pnginfo=meta)
        ctx.progress(1.0, f"{w}×{h} in {seconds:.1f} s")
        return Result(files=[out], prompt=composed.prompt, negative_prompt=composed.negative_prompt,
                      steps=s["steps"], parameters=params, data={"width": w, "height": h, "role": request.role})


def _quiet_env() -> None:
    """Offline for good, and no progress bars or notices on stderr (the app draws there):
    set before diffusers or transformers is first imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")


_quiet_env()


def _quiet_libraries() -> None:
    """The same for libraries imported before this module set the environment."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(diffusers|transformers)\.")
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    for lib in (dlog, tlog):
        lib.set_verbosity_error()
        lib.disable_progress_bar()


def _family_of_pipeline(pipe) -> str:
    """v1 / v2 / xl_base from a loaded folder pipeline's parts."""
    if hasattr(pipe, "text_encoder_2"):
        return "xl_base"
    dim = getattr(pipe.unet.config, "cross_attention_dim", 768)
    return "v2" if dim == 1024 else "v1"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__
