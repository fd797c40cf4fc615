"""Tiny random Stable Diffusion models in the file formats people actually use.

The image backend loads SD 1.x and SDXL checkpoints the way artists have them:
a diffusers folder, a single A1111/LDM ``.safetensors`` from Civitai, and kohya
LoRAs on top. Tests must run that real diffusers loading code on real file
layouts, but CI has no network and no multi-gigabyte weights. So everything here
is built locally from seeded random weights, small enough (a few MB, well under a
second per 64x64 image on one CPU thread) to make in a fixture.

``write_single_file`` is the inverse of ``diffusers.loaders.single_file_utils``'s
LDM converters (UNet, VAE, CLIP, OpenCLIP), written from the LDM layout rather
than for these configs only, so any SD1/SDXL diffusers folder converts.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

SD1_SCALING_FACTOR = 0.18215
SDXL_SCALING_FACTOR = 0.13025
# SD's training schedule; the schedulers of real SD repos use it too
SD_BETAS = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000)
MAX_TOKENS = 77  # CLIP's context, also the LDM position-embedding length

# Enough words that shot descriptions tokenize into whole words; anything else
# still tokenizes (byte-level base alphabet), just in pieces.
WORDS = """
a an the and or but of in on at to from with without by for into over under near behind
above below between through across toward away up down out off inside outside front back
is are was were be been being has have had do does did will can could should would may
i you he she it we they me him her us them my your his its our their this that these those
who what where when why how all some any no not one two three four five first last next
man woman men women boy girl child children person people old young tall small big little
face eyes eye hair hand hands arm arms head mouth smile tears body feet shoulder back
walks walk runs run looks look stands stand sits sit turns turn holds hold opens open
closes close checks check sees see watches watch takes take gives give reaches reach
falls fall flies fly drives drive enters enter leaves leave waits wait speaks speak says
light dark night day morning evening sunset sunrise dawn dusk shadow shadows sun moon stars sky
rain snow fog mist wind storm cloud clouds fire smoke water sea ocean river lake beach sand
city street road alley building house room kitchen office lab laboratory hospital school
window door wall floor ceiling table chair bed car train bus boat ship plane drone robot
forest tree trees grass flower flowers field mountain hill desert garden park bridge tower
int ext interior exterior scene shot close-up wide medium angle camera frame cinematic film
still portrait landscape photo photograph painting drawing sketch illustration render
red orange yellow green blue purple pink white black gray grey brown golden silver neon
warm cold soft hard bright dim glowing blurry sharp detailed high quality masterpiece best
lighting lit backlit moody dramatic quiet calm empty crowded busy rainy snowy foggy misty
style art artist color colors colour vivid muted pastel film grain bokeh depth focus lens
very more most less much many few other same new good bad great beautiful ugly strange
""".split()


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed the global RNG model constructors use, without disturbing the caller's."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _bytes_to_unicode() -> list[str]:
    """GPT-2/CLIP's byte-level alphabet: one printable character per byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def _merge_pair(word: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


@functools.cache
def tiny_clip_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A CLIP-style BPE vocab: byte alphabet, whole words, specials last.

    The merges come from training BPE on ``WORDS`` (most frequent pair first,
    ties by name, so it is deterministic), which makes every listed word one
    token; hand-written merges would fight each other and split words.
    """
    words = [tuple(w[:-1]) + (w[-1] + "</w>",) for w in dict.fromkeys(WORDS) if w.isalpha() and len(w) > 1]
    merges: list[tuple[str, str]] = []
    while counts := Counter(pair for word in words for pair in zip(word, word[1:])):
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        words = [_merge_pair(word, best) for word in words]
    alphabet = _bytes_to_unicode()
    tokens = alphabet + [ch + "</w>" for ch in alphabet] + ["".join(pair) for pair in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    return vocab, merges


def _tokenizer(pad_token: str = "<|endoftext|>"):
    from transformers import CLIPTokenizer

    vocab, merges = tiny_clip_vocab()
    return CLIPTokenizer(
        vocab=dict(vocab), merges=list(merges), pad_token=pad_token, model_max_length=MAX_TOKENS
    )


def _clip_config(hidden: int, layers: int, heads: int, projection: int, act: str = "quick_gelu"):
    from transformers import CLIPTextConfig

    vocab, _ = tiny_clip_vocab()
    return CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=MAX_TOKENS,
        projection_dim=projection,
        hidden_act=act,
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"],
    )


def _vae(scaling_factor: float):
    """4 levels, so the scale factor is 8 like SD's, with 8-32 channels."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=(8, 16, 32, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
        scaling_factor=scaling_factor,
    )


def build_sd1(dest: Path) -> Path:
    """Save a tiny random SD-1.x diffusers folder (64x64 by default) at ``dest``."""
    from diffusers import PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    dest = Path(dest)
    with _seeded(0):
        unet = UNet2DConditionModel(
            sample_size=8,
            in_channels=4,
            out_channels=4,
            layers_per_block=1,
            block_out_channels=(32, 64),
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=4,  # SD1's misnomer: the number of heads
        )
    with _seeded(1):
        vae = _vae(SD1_SCALING_FACTOR)
    with _seeded(2):
        text_encoder = CLIPTextModel(_clip_config(hidden=32, layers=2, heads=4, projection=32))
    scheduler = PNDMScheduler(**SD_BETAS, skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=_tokenizer(),
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(dest, safe_serialization=True)
    return dest


def build_sdxl(dest: Path) -> Path:
    """Save a tiny random SDXL-base diffusers folder (64x64 by default) at ``dest``.

    text_encoder_2 has 10 layers because diffusers recognises SDXL by its
    ``resblocks.9`` key; the two encoders differ in width (32, 64) because
    diffusers tells CLIP-L from OpenCLIP-G in a single file by that width.
    """
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    dest = Path(dest)
    time_embed_dim, pooled_dim = 8, 32
    with _seeded(0):
        unet = UNet2DConditionModel(
            sample_size=8,
            in_channels=4,
            out_channels=4,
            layers_per_block=1,
            block_out_channels=(16, 32),
            norm_num_groups=8,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2),
            attention_head_dim=(2, 4),
            use_linear_projection=True,
            cross_attention_dim=32 + 64,
            addition_embed_type="text_time",
            addition_time_embed_dim=time_embed_dim,
            # 6 micro-conditioning numbers (sizes, crop) + text_encoder_2's pooled embedding
            projection_class_embeddings_input_dim=6 * time_embed_dim + pooled_dim,
        )
    with _seeded(1):
        vae = _vae(SDXL_SCALING_FACTOR)
    with _seeded(2):
        text_encoder = CLIPTextModel(_clip_config(hidden=32, layers=2, heads=4, projection=32))
    with _seeded(3):
        text_encoder_2 = CLIPTextModelWithProjection(
            _clip_config(hidden=64, layers=10, heads=4, projection=pooled_dim, act="gelu")
        )
    scheduler = EulerDiscreteScheduler(
        **SD_BETAS, steps_offset=1, timestep_spacing="leading", interpolation_type="linear"
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=_tokenizer(),
        tokenizer_2=_tokenizer(pad_token="!"),  # as SDXL's second tokenizer
        unet=unet,
        scheduler=scheduler,
        force_zeros_for_empty_prompt=True,
        add_watermarker=False,
    )
    pipe.save_pretrained(dest, safe_serialization=True)
    return dest


# ---------------------------------------------------------------- single file


def _component(pipeline_dir: Path, name: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """A saved component's config and weights, read straight from the folder."""
    folder = pipeline_dir / name
    config = json.loads((folder / "config.json").read_text())
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no .safetensors weights in {folder}")
    weights: dict[str, torch.Tensor] = {}
    for file in files:
        weights.update(load_file(file))
    return config, weights


_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "class_embedding.linear_1": "label_emb.0.0",
    "class_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}


def _resnet(rest: str, table: dict[str, str]) -> str:
    layer, _, param = rest.partition(".")
    return f"{table[layer]}.{param}"


def _unet_layer(kind: str, rest: str) -> str:
    """Inside an LDM input/output block, .0 is the resnet and .1 the transformer."""
    return f"0.{_resnet(rest, _UNET_RESNET)}" if kind == "resnets" else f"1.{rest}"


def unet_to_ldm(unet: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    """diffusers UNet2DConditionModel keys -> LDM ``input_blocks``/``middle_block``/``output_blocks``.

    LDM numbers every down step flat: input_blocks.0 is conv_in, then per level
    ``layers_per_block`` (resnet, attention) pairs and one downsampler. Up levels
    have one pair more, with the upsampler after the last attention.
    """
    per_block = config["layers_per_block"]
    if not isinstance(per_block, int):
        raise ValueError("LDM checkpoints need the same layers_per_block for every level")
    out: dict[str, torch.Tensor] = {}
    for key, tensor in unet.items():
        module, _, param = key.rpartition(".")
        if module in _UNET_TOP:
            new = f"{_UNET_TOP[module]}.{param}"
        elif m := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
            level, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
            index = 1 + level * (per_block + 1) + layer
            new = f"input_blocks.{index}.{_unet_layer(kind, rest)}"
        elif m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            index = 1 + int(m[1]) * (per_block + 1) + per_block
            new = f"input_blocks.{index}.0.op.{m[2]}"
        elif m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key):
            new = f"middle_block.{2 * int(m[1])}.{_resnet(m[2], _UNET_RESNET)}"
        elif m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
            new = f"middle_block.1.{m[1]}"
        elif m := re.fullmatch(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
            level, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
            index = level * (per_block + 1) + layer
            new = f"output_blocks.{index}.{_unet_layer(kind, rest)}"
        elif m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
            level = int(m[1])
            index = level * (per_block + 1) + per_block
            has_attention = any(k.startswith(f"up_blocks.{level}.attentions.") for k in unet)
            new = f"output_blocks.{index}.{2 if has_attention else 1}.conv.{m[2]}"
        else:
            raise KeyError(f"no LDM name for UNet key {key!r}")
        out[f"model.diffusion_model.{new}"] = tensor
    if len(out) != len(unet):
        raise ValueError("two UNet keys mapped to one LDM key")
    return out


_VAE_RESNET = {
    "norm1": "norm1",
    "conv1": "conv1",
    "norm2": "norm2",
    "conv2": "conv2",
    "conv_shortcut": "nin_shortcut",
}
_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def vae_to_ldm(vae: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    """diffusers AutoencoderKL keys -> LDM ``first_stage_model.*``.

    The decoder's levels are numbered from the bottom in LDM (up.0 is the
    full-resolution one), and mid-block attention projections are 1x1 convs.
    """
    levels = len(config["block_out_channels"])
    out: dict[str, torch.Tensor] = {}
    for key, tensor in vae.items():
        if m := re.fullmatch(r"(encoder|decoder)\.conv_norm_out\.(.+)", key):
            new = f"{m[1]}.norm_out.{m[2]}"
        elif re.fullmatch(r"(encoder|decoder)\.conv_(in|out)\.(.+)|(post_)?quant_conv\..+", key):
            new = key
        elif m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            new = f"encoder.down.{m[1]}.block.{m[2]}.{_resnet(m[3], _VAE_RESNET)}"
        elif m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            new = f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
        elif m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            new = f"decoder.up.{levels - 1 - int(m[1])}.block.{m[2]}.{_resnet(m[3], _VAE_RESNET)}"
        elif m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
            new = f"decoder.up.{levels - 1 - int(m[1])}.upsample.conv.{m[2]}"
        elif m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", key):
            new = f"{m[1]}.mid.block_{int(m[2]) + 1}.{_resnet(m[3], _VAE_RESNET)}"
        elif m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(weight|bias)", key):
            new = f"{m[1]}.mid.attn_1.{_VAE_ATTENTION[m[2]]}.{m[3]}"
            if m[2] != "group_norm" and tensor.ndim == 2:
                tensor = tensor[:, :, None, None]  # linear -> 1x1 conv
        else:
            raise KeyError(f"no LDM name for VAE key {key!r}")
        out[f"first_stage_model.{new}"] = tensor
    return out


def _hf_clip_keys(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys as ``text_model.*``, whether or not this transformers flattens CLIPTextModel."""
    return {
        k if k.startswith(("text_model.", "text_projection.")) else f"text_model.{k}": v
        for k, v in weights.items()
        if not k.endswith("position_ids")
    }


def clip_to_ldm(weights: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """OpenAI CLIP text model: LDM keeps the transformers names under a prefix."""
    return {prefix + k: v for k, v in _hf_clip_keys(weights).items()}


_OPEN_CLIP_TOP = {
    "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
    "text_model.embeddings.position_embedding.weight": "positional_embedding",
    "text_model.final_layer_norm.weight": "ln_final.weight",
    "text_model.final_layer_norm.bias": "ln_final.bias",
}
_OPEN_CLIP_LAYER = {
    "self_attn.out_proj": "attn.out_proj",
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
}


def open_clip_to_ldm(weights: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """CLIPTextModelWithProjection -> OpenCLIP's layout (SDXL's second encoder).

    OpenCLIP fuses q/k/v into ``attn.in_proj_*`` and applies ``text_projection``
    as ``x @ P``, so P is the transpose of the linear layer's weight.
    """
    weights = _hf_clip_keys(weights)
    out: dict[str, torch.Tensor] = {}
    for key, tensor in weights.items():
        if key in _OPEN_CLIP_TOP:
            out[prefix + _OPEN_CLIP_TOP[key]] = tensor
        elif key == "text_projection.weight":
            out[prefix + "text_projection"] = tensor.T.contiguous()
        elif m := re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(\w+)", key):
            if m[2] == "q":  # fuse once, on q
                base = f"text_model.encoder.layers.{m[1]}.self_attn"
                fused = [weights[f"{base}.{p}_proj.{m[3]}"] for p in "qkv"]
                out[f"{prefix}transformer.resblocks.{m[1]}.attn.in_proj_{m[3]}"] = torch.cat(fused)
        elif m := re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)", key):
            out[f"{prefix}transformer.resblocks.{m[1]}.{_OPEN_CLIP_LAYER[m[2]]}.{m[3]}"] = tensor
        else:
            raise KeyError(f"no OpenCLIP name for text encoder key {key!r}")
    return out


def write_single_file(pipeline_dir: Path, out_file: Path) -> Path:
    """Convert a saved SD1/SDXL diffusers folder to one A1111/LDM ``.safetensors``."""
    pipeline_dir, out_file = Path(pipeline_dir), Path(out_file)
    unet_config, unet = _component(pipeline_dir, "unet")
    vae_config, vae = _component(pipeline_dir, "vae")
    tensors = {**unet_to_ldm(unet, unet_config), **vae_to_ldm(vae, vae_config)}
    _, text_encoder = _component(pipeline_dir, "text_encoder")
    if (pipeline_dir / "text_encoder_2").is_dir():  # SDXL
        _, text_encoder_2 = _component(pipeline_dir, "text_encoder_2")
        tensors.update(clip_to_ldm(text_encoder, "conditioner.embedders.0.transformer."))
        tensors.update(open_clip_to_ldm(text_encoder_2, "conditioner.embedders.1.model."))
    else:
        tensors.update(clip_to_ldm(text_encoder, "cond_stage_model.transformer."))
    out_file.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out_file), metadata={"format": "pt"})
    return out_file


# ----------------------------------------------------------------------- LoRA

# kohya's default LoRA targets: every linear in the UNet's transformer blocks
_UNET_LORA = re.compile(
    r"(down_blocks|mid_block|up_blocks).*\.attentions\.\d+\."
    r"(proj_in|proj_out|transformer_blocks\.\d+\."
    r"(attn[12]\.(to_q|to_k|to_v|to_out\.0)|ff\.net\.(0\.proj|2)))\.weight"
)
# ... and the text encoders' attention and MLP linears
_TEXT_LORA = re.compile(
    r"text_model\.encoder\.layers\.\d+\.(self_attn\.(q|k|v|out)_proj|mlp\.fc[12])\.weight"
)


def _lora_pair(name: str, weight: torch.Tensor, rank: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Random down/up so that up @ down is about as large as the weight itself."""
    out_features, in_features = weight.shape[:2]
    kernel = weight.shape[2:]  # 1x1 convs (SD1's proj_in/out) stay convs
    down = torch.randn((rank, in_features, *kernel), generator=gen) / in_features**0.5
    up = torch.randn((out_features, rank, *(1,) * len(kernel)), generator=gen) / rank**0.5
    return {
        f"{name}.lora_down.weight": down.to(torch.float16),
        f"{name}.lora_up.weight": up.to(torch.float16),
        f"{name}.alpha": torch.tensor(float(rank), dtype=torch.float16),
    }


def write_lora(pipeline_dir: Path, out_file: Path, rank: int = 4, seed: int = 0) -> Path:
    """Write a kohya/A1111-format LoRA (fp16, like Civitai's) for a saved tiny pipeline.

    Names follow kohya: ``lora_unet_`` + the diffusers module path with ``_``
    for ``.``, and ``lora_te_`` (SD1) or ``lora_te1_``/``lora_te2_`` (SDXL)
    for the text encoders. alpha = rank, so the scale is 1.
    """
    pipeline_dir, out_file = Path(pipeline_dir), Path(out_file)
    gen = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    _, unet = _component(pipeline_dir, "unet")
    for key in sorted(unet):
        if _UNET_LORA.fullmatch(key):
            name = "lora_unet_" + key.removesuffix(".weight").replace(".", "_")
            tensors.update(_lora_pair(name, unet[key], rank, gen))
    encoders = {"text_encoder": "lora_te_"}
    if (pipeline_dir / "text_encoder_2").is_dir():
        encoders = {"text_encoder": "lora_te1_", "text_encoder_2": "lora_te2_"}
    for folder, prefix in encoders.items():
        weights = _hf_clip_keys(_component(pipeline_dir, folder)[1])
        for key in sorted(weights):
            if _TEXT_LORA.fullmatch(key):
                name = prefix + key.removesuffix(".weight").replace(".", "_")
                tensors.update(_lora_pair(name, weights[key], rank, gen))
    out_file.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out_file), metadata={"format": "pt", "ss_network_module": "networks.lora"})
    return out_file
