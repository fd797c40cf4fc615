"""The bundled diffusers config skeletons describe the real models, offline.

A wrong value in a skeleton (a head count, a layer count) would only show when a user's checkpoint
fails to load, so every model is built from its config on the meta device (no memory, no weights)
and its parameter count compared with the published model's.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from inkubator_tui.tools.keyframe.skeletons import FAMILIES, materialise

PROMPT = "a photo of an astronaut riding a horse"
PROMPT_IDS = [49406, 320, 1125, 539, 550, 18376, 6765, 320, 4558, 49407]

# Parameter counts of the published models (SD 1.5, SD 2.1, SDXL base 1.0).
PARAMS = {
    "v1": {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480},
    "v2": {"unet": 865_910_724, "vae": 83_653_863, "text_encoder": 340_387_840},
    "xl_base": {"unet": 2_567_463_684, "vae": 83_653_863, "text_encoder": 123_060_480,
                "text_encoder_2": 694_659_840},
}
PIPELINE = {"v1": "StableDiffusionPipeline", "v2": "StableDiffusionPipeline", "xl_base": "StableDiffusionXLPipeline"}
SCHEDULER = {"v1": ("PNDMScheduler", "epsilon"), "v2": ("DDIMScheduler", "v_prediction"),
             "xl_base": ("EulerDiscreteScheduler", "epsilon")}
# SD 2.x and SDXL's OpenCLIP encoders pad with "!" (id 0), CLIP-L with <|endoftext|>.
PAD = {"v1": {"tokenizer": 49407}, "v2": {"tokenizer": 0}, "xl_base": {"tokenizer": 49407, "tokenizer_2": 0}}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(root.rglob("*"))}


def test_families_are_the_supported_ones():
    assert set(FAMILIES) == {"v1", "v2", "xl_base"}
    assert all(FAMILIES.values())


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_models_built_from_the_skeleton_match_the_real_ones(family, tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    accelerate = pytest.importorskip("accelerate")
    from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.set_num_threads(1)
    folder = materialise(family, tmp_path)
    index = DiffusionPipeline.load_config(folder)
    assert index["_class_name"] == PIPELINE[family]
    assert index.get("safety_checker", [None, None]) == [None, None]

    builders = {
        "unet": lambda: UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet")),
        "vae": lambda: AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae")),
        "text_encoder": lambda: CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder")),
        "text_encoder_2": lambda: CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(folder / "text_encoder_2")),
    }
    counts = {}
    with accelerate.init_empty_weights():
        for name in PARAMS[family]:
            assert index[name][0] is not None, name
            model = builders[name]()
            assert next(model.parameters()).device.type == "meta"
            counts[name] = sum(p.numel() for p in model.parameters())
            del model
    assert counts == PARAMS[family]

    scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    assert (scheduler["_class_name"], scheduler.get("prediction_type", "epsilon")) == SCHEDULER[family]
    assert index["scheduler"] == ["diffusers", SCHEDULER[family][0]]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_tokenizers_encode_like_clip(family, tmp_path):
    pytest.importorskip("transformers")
    from transformers import CLIPTokenizer

    folder = materialise(family, tmp_path)
    for sub, pad_id in PAD[family].items():
        assert (folder / sub / "merges.txt").read_text(encoding="utf-8").count("\n") == 1 + 48_894
        tok = CLIPTokenizer.from_pretrained(folder, subfolder=sub, local_files_only=True)
        assert len(tok) == 49_408
        assert tok(PROMPT).input_ids == PROMPT_IDS
        assert tok.pad_token_id == pad_id
        assert tok.model_max_length == 77


def test_materialise_is_idempotent_and_writes_nothing_twice(tmp_path):
    first = materialise("v1", tmp_path)
    assert first.parent == tmp_path and first.name.startswith("v1-")
    before = _tree(tmp_path)
    assert materialise("v1", tmp_path) == first
    assert _tree(tmp_path) == before
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temp folder left behind


def test_families_get_distinct_folders(tmp_path):
    folders = {materialise(family, tmp_path) for family in FAMILIES}
    assert len(folders) == len(FAMILIES)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in folders)


def test_concurrent_materialise_agrees_on_one_folder(tmp_path):
    results: list[Path] = []
    errors: list[BaseException] = []

    def run():
        try:
            results.append(materialise("xl_base", tmp_path))
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    assert os.listdir(tmp_path) == [results[0].name]


def test_unknown_family_is_a_clear_key_error(tmp_path):
    with pytest.raises(KeyError, match=r"'sd3'.*v1, v2, xl_base"):
        materialise("sd3", tmp_path)
    assert not any(tmp_path.iterdir())
