"""The tiny SD models are what real files look like to diffusers: folders load,
single files are recognised and load to the same weights and pixels, and a
kohya LoRA attaches everywhere, changes the image and switches off."""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
torch.set_num_threads(1)

from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline  # noqa: E402
from diffusers.loaders.single_file_utils import (  # noqa: E402
    infer_diffusers_model_type,
    load_single_file_checkpoint,
)
from safetensors.torch import load_file  # noqa: E402
from transformers import CLIPTokenizer  # noqa: E402

from tiny_diffusion import build_sd1, build_sdxl, write_lora, write_single_file  # noqa: E402

KINDS = {
    "sd1": (build_sd1, StableDiffusionPipeline, "v1", ["unet", "vae", "text_encoder"]),
    "sdxl": (
        build_sdxl,
        StableDiffusionXLPipeline,
        "xl_base",
        ["unet", "vae", "text_encoder", "text_encoder_2"],
    ),
}
PROMPT = "Mira checks the drone in the lab at night, cinematic film still"
# diffusers' Euler scheduler calls np.array on a tensor with copy=False; not ours
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy:DeprecationWarning"
)


@pytest.fixture(scope="module", params=list(KINDS))
def kind(request):
    return request.param


@pytest.fixture(scope="module")
def built(kind, tmp_path_factory):
    return KINDS[kind][0](tmp_path_factory.mktemp(kind) / "pipe")


def load(kind, folder):
    pipe = KINDS[kind][1].from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe):
    out = pipe(PROMPT, num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="np")
    return out.images[0]


def realign(pipe):
    """Copy every weight into fresh memory. Weights mmapped from a file can sit at
    an address BLAS treats differently, which moves the last float bit, so two
    equal pipelines only give bit-equal pixels once both are copied."""
    for name in KINDS["sdxl"][3]:
        module = getattr(pipe, name, None)
        if module is not None:
            for tensor in [*module.parameters(), *module.buffers()]:
                tensor.data = tensor.data.clone()


def folder_bytes(folder):
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def test_folder_is_small_deterministic_and_makes_64px_in_well_under_a_second(kind, built, tmp_path):
    assert folder_bytes(built) < 5_000_000
    again = KINDS[kind][0](tmp_path / "again")
    for weights in built.rglob("*.safetensors"):
        assert weights.read_bytes() == (again / weights.relative_to(built)).read_bytes()
    pipe = load(kind, built)
    generate(pipe)  # warm-up
    start = time.perf_counter()
    image = generate(pipe)
    assert time.perf_counter() - start < 2.0  # ~0.05 s here; slack for a busy CI box
    assert image.shape == (64, 64, 3) and image.std() > 0.05


def test_tokenizer_keeps_prompt_words_whole(built):
    tokenizer = CLIPTokenizer.from_pretrained(built / "tokenizer")
    tokens = tokenizer.tokenize(PROMPT)
    for word in ["checks", "drone", "lab", "night", "cinematic", "film", "still"]:
        assert f"{word}</w>" in tokens
    assert tokenizer.unk_token not in tokens  # unknown names ("Mira") fall back to pieces
    ids = tokenizer(PROMPT, padding="max_length", max_length=tokenizer.model_max_length).input_ids
    assert len(ids) == 77 and ids[0] == tokenizer.bos_token_id


def test_single_file_is_recognised_and_loads_the_same_model(kind, built, tmp_path):
    _, cls, model_type, components = KINDS[kind]
    checkpoint_file = write_single_file(built, tmp_path / "model.safetensors")
    assert infer_diffusers_model_type(load_single_file_checkpoint(str(checkpoint_file))) == model_type

    # configs only, so no weight can come from the folder instead of the file
    configs = tmp_path / "configs"
    shutil.copytree(built, configs, ignore=shutil.ignore_patterns("*.safetensors"))
    single = cls.from_single_file(str(checkpoint_file), config=str(configs), local_files_only=True)
    single.set_progress_bar_config(disable=True)
    folder = load(kind, built)
    for name in components:
        expected, got = getattr(folder, name).state_dict(), getattr(single, name).state_dict()
        assert expected.keys() == got.keys(), name
        for key, tensor in expected.items():
            assert got[key].device.type != "meta" and torch.equal(got[key], tensor), f"{name}.{key}"
    realign(folder)
    realign(single)
    assert np.array_equal(generate(folder), generate(single))


def test_single_file_uses_ldm_names(kind, built, tmp_path):
    keys = load_file(write_single_file(built, tmp_path / "model.safetensors")).keys()
    assert "model.diffusion_model.input_blocks.0.0.weight" in keys
    assert "first_stage_model.decoder.up.0.block.0.conv1.weight" in keys
    vae_q = load_file(tmp_path / "model.safetensors")["first_stage_model.encoder.mid.attn_1.q.weight"]
    assert vae_q.ndim == 4  # LDM keeps VAE attention as 1x1 convs
    if kind == "sd1":
        assert "cond_stage_model.transformer.text_model.final_layer_norm.weight" in keys
    else:
        assert "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight" in keys
        for key in ["text_projection", "positional_embedding", "transformer.resblocks.9.attn.in_proj_weight"]:
            assert f"conditioner.embedders.1.model.{key}" in keys


def test_kohya_lora_changes_the_image_and_weight_zero_restores_it(kind, built, tmp_path):
    lora_file = write_lora(built, tmp_path / "loras" / "look.safetensors")
    lora = load_file(lora_file)
    prefixes = ("lora_unet_", "lora_te_") if kind == "sd1" else ("lora_unet_", "lora_te1_", "lora_te2_")
    assert all(k.startswith(prefixes) for k in lora)
    assert all(k.endswith((".lora_down.weight", ".lora_up.weight", ".alpha")) for k in lora)
    assert {t.dtype for t in lora.values()} == {torch.float16}

    pipe = load(kind, built)
    before = generate(pipe)
    pipe.load_lora_weights(str(lora_file.parent), weight_name=lora_file.name, adapter_name="look")
    attached = sum(
        "look" in getattr(module, "lora_A", {})
        for name in KINDS[kind][3]
        if name != "vae"
        for module in getattr(pipe, name).modules()
    )
    assert attached == sum(k.endswith(".lora_down.weight") for k in lora)  # nothing skipped
    assert np.abs(generate(pipe) - before).mean() > 0.02
    pipe.set_adapters(["look"], [0.0])
    assert np.array_equal(generate(pipe), before)
