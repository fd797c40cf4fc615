"""The diffusion keyframe backend on tiny random pipelines: the real diffusers loading
code on real file formats (folder, single file, LoRA), with no download."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers", reason="diffusers is installed by `make test`; without it there is nothing to test")

from inkubator_tui.config import Config  # noqa: E402
from inkubator_tui.pipeline.backend import BackendError, Cancelled, CancelToken, JobContext  # noqa: E402
from inkubator_tui.pipeline.requests import KeyframeRequest  # noqa: E402
from inkubator_tui.project.models import AssetRef, Movement, Shot, Size  # noqa: E402
from inkubator_tui.tools.keyframe import diffusion as dk  # noqa: E402
from inkubator_tui.tools.keyframe.diffusion import DiffusionKeyframes, check_model_path  # noqa: E402
from tests import tiny_diffusion  # noqa: E402


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    sd1 = tiny_diffusion.build_sd1(root / "tiny-sd1")
    sdxl = tiny_diffusion.build_sdxl(root / "tiny-sdxl")
    return {
        "sd1": sd1, "sdxl": sdxl,
        "sd1_file": tiny_diffusion.write_single_file(sd1, root / "files" / "tiny-sd1.safetensors"),
        "sdxl_file": tiny_diffusion.write_single_file(sdxl, root / "files" / "tiny-sdxl.safetensors"),
        "lora": tiny_diffusion.write_lora(sd1, root / "loras" / "inkwash.safetensors"),
    }


def backend(model: Path, **options) -> DiffusionKeyframes:
    opts = {"long_side": 64, "steps": 3, "dtype": "float32", "consistency": "off", **options}
    cfg = Config.model_validate({"keyframe": {"backend": "diffusion", "model_path": str(model), "options": opts}})
    return DiffusionKeyframes(cfg)


MIRA = Shot(id="s1", number="1", size=Size.MS, movement=Movement.DOLLY_IN, characters=["Mira"],
            action="Mira waits under the sign", end_action="Mira turns away")


def request(shot: Shot = MIRA, **kw) -> KeyframeRequest:
    base = dict(shot=shot, prompt=shot.action, width=640, height=360, seed=3,
                looks={c: "young woman in a red coat" for c in shot.characters},
                seeds={c: 11 for c in shot.characters}, style="Muted colours, rain")
    return KeyframeRequest(**{**base, **kw})


def run(b: DiffusionKeyframes, req: KeyframeRequest, tmp: Path, files=None, events=None, cancel=None):
    tmp.mkdir(parents=True, exist_ok=True)
    ctx = JobContext(workdir=tmp, cancel=cancel or CancelToken(), files=files or {},
                     emit=(lambda f, m, p: events.append((f, m, p))) if events is not None else None)
    return b(req, ctx)


def pixels(result) -> np.ndarray:
    return np.asarray(Image.open(result.files[0]).convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("kind", ["sd1", "sdxl"])
def test_a_folder_model_makes_the_same_picture_for_the_same_seed(models, tmp_path, kind):
    b = backend(models[kind])
    one, two = run(b, request(), tmp_path / "a"), run(b, request(), tmp_path / "b")
    other = run(b, request(seed=4), tmp_path / "c")
    assert np.array_equal(pixels(one), pixels(two))
    assert not np.array_equal(pixels(one), pixels(other))
    assert b.info().parameters["family"] == ("xl_base" if kind == "sdxl" else "v1")
    assert one.parameters["width"] == 64 and Image.open(one.files[0]).size == (64, 64)


def test_our_backend_draws_what_bare_diffusers_draws(models, tmp_path):
    """No hidden changes: with consistency off, the picture is exactly diffusers' own."""
    import torch
    from diffusers import AutoPipelineForText2Image, DPMSolverMultistepScheduler

    b = backend(models["sd1"])
    ours = run(b, request(), tmp_path / "ours")
    pipe = AutoPipelineForText2Image.from_pretrained(str(models["sd1"]), local_files_only=True, safety_checker=None)
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config, use_karras_sigmas=True)
    pipe.set_progress_bar_config(disable=True)
    image = pipe(prompt=ours.prompt, negative_prompt=ours.negative_prompt, num_inference_steps=3, width=64,
                 height=64, guidance_scale=7.5, generator=torch.Generator().manual_seed(3)).images[0]
    assert np.abs(np.asarray(image, dtype=np.int16) - pixels(ours)).max() <= 1


@pytest.mark.parametrize("kind", ["sd1", "sdxl"])
def test_a_single_file_loads_through_the_family_skeleton(models, tmp_path, monkeypatch, kind):
    """The family is read from the weights, its config skeleton is materialised, and the
    single file gives the same picture as the folder it was made from."""
    from inkubator_tui.tools.keyframe import skeletons

    asked = []

    def tiny_skeleton(family, root):  # the bundled skeletons are full-size; these weights are tiny
        asked.append(family)
        return models[kind]

    monkeypatch.setattr(skeletons, "materialise", tiny_skeleton)
    single = backend(models[f"{kind}_file"])
    from_file = run(single, request(), tmp_path / "file")
    assert asked == ["xl_base" if kind == "sdxl" else "v1"]
    from_folder = run(backend(models[kind]), request(), tmp_path / "folder")
    assert np.abs(pixels(from_file) - pixels(from_folder)).max() <= 1
    assert single.info().weights_sha256 == dk.weights_sha256(models[f"{kind}_file"])


def test_a_single_file_with_a_config_folder_of_the_users(models, tmp_path):
    b = backend(models["sd1_file"], single_file_config=str(models["sd1"]))
    assert run(b, request(), tmp_path / "x").files[0].is_file()


def test_a_lora_changes_the_picture_and_its_weight_is_honoured(models, tmp_path):
    plain = pixels(run(backend(models["sd1"]), request(), tmp_path / "plain"))
    lora = str(models["lora"])
    looked = run(backend(models["sd1"], loras=[{"path": lora, "weight": 1.0}]), request(), tmp_path / "look")
    off = pixels(run(backend(models["sd1"], loras=[{"path": lora, "weight": 0.0}]), request(), tmp_path / "off"))
    assert np.abs(pixels(looked) - plain).mean() > 2
    assert np.abs(off - plain).max() <= 1
    (entry,) = looked.parameters["loras"]
    assert entry["sha256"] == dk.weights_sha256(models["lora"]) and entry["weight"] == 1.0
    assert "Lora hashes" in Image.open(looked.files[0]).text["parameters"]


def test_the_end_frame_is_the_start_redrawn(models, tmp_path):
    """Image-to-image of the approved start (random weights cannot show likeness, so: the
    end is made from the start picture it is given, at its size, deterministically)."""
    b = backend(models["sd1"], end_strength=0.5)
    start = run(b, request(), tmp_path / "start")
    other = run(b, request(seed=9), tmp_path / "other")
    ref = AssetRef(sha256="a" * 64, ext=".png")
    end_req = request(role="end", prompt=MIRA.end_action, start=ref)
    end = run(b, end_req, tmp_path / "end", files={ref: start.files[0]})
    again = run(b, end_req, tmp_path / "again", files={ref: start.files[0]})
    from_other = run(b, end_req, tmp_path / "end2", files={ref: other.files[0]})
    assert end.parameters["mode"].startswith("image-to-image") and end.parameters["strength"] == 0.5
    assert np.array_equal(pixels(end), pixels(again))
    assert not np.array_equal(pixels(end), pixels(from_other))
    assert Image.open(end.files[0]).size == Image.open(start.files[0]).size
    assert "Denoising strength: 0.5" in Image.open(end.files[0]).text["parameters"]


def test_a_moving_shot_without_an_end_action_ends_on_the_camera_framing(models, tmp_path):
    shot = MIRA.model_copy(update={"end_action": ""})
    b = backend(models["sd1"])
    start = run(b, request(shot), tmp_path / "start")
    ref = AssetRef(sha256="b" * 64, ext=".png")
    end = run(b, request(shot, role="end", start=ref), tmp_path / "end", files={ref: start.files[0]})
    assert end.parameters["mode"].startswith("camera end framing")
    assert end.parameters["strength"] == b.options.camera_end_strength


def test_a_shot_reads_its_anchors_tokens_and_the_anchors_read_nothing_of_the_shot():
    """The mechanism itself, on one attention layer: with sharing, the shot's output moves
    toward its anchor's; the anchor's output is what it is alone; each guidance half reads
    only its own anchor."""
    import torch
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    torch.manual_seed(0)
    attn = Attention(query_dim=32, heads=2, dim_head=16).eval()
    x = torch.randn(4, 24, 32)  # [anchor, shot] × (unconditional, conditional)
    with torch.no_grad():
        plain = AttnProcessor2_0()(attn, x)
        shared = dk.SharedSelfAttention(anchors=1, share=1.0, seed=0)(attn, x)
        changed = x.clone()
        changed[2] += 5  # the other half's anchor
        other_half = dk.SharedSelfAttention(anchors=1, share=1.0, seed=0)(attn, changed)
    assert torch.allclose(shared[0], plain[0], atol=1e-6) and torch.allclose(shared[2], plain[2], atol=1e-6)
    for anchor, shot in ((0, 1), (2, 3)):
        assert (shared[shot] - plain[anchor]).norm() < 0.9 * (plain[shot] - plain[anchor]).norm()
    assert torch.allclose(other_half[1], shared[1], atol=1e-6)
    half = dk.SharedSelfAttention(anchors=1, share=0.5, seed=0)
    assert len(half._pick(24, "cpu")) == 12


def test_shared_mode_denoises_each_shot_with_its_characters_anchor(models, tmp_path):
    off = run(backend(models["sd1"]), request(), tmp_path / "off")
    b = backend(models["sd1"], consistency="shared")
    shared = run(b, request(), tmp_path / "shared")
    again = run(b, request(), tmp_path / "again")
    (anchor,) = shared.parameters["anchors"]
    assert anchor["character"] == "Mira" and anchor["seed"] == 11 and "red coat" in anchor["prompt"]
    assert not np.array_equal(pixels(off), pixels(shared))
    assert np.array_equal(pixels(shared), pixels(again))
    # the processors are put back: the next plain job is plain again
    assert np.array_equal(pixels(run(backend(models["sd1"]), request(), tmp_path / "off2")), pixels(off))
    nobody = request(MIRA.model_copy(update={"characters": []}), looks={}, seeds={})
    assert run(b, nobody, tmp_path / "nobody").parameters["anchors"] == []


def test_reference_mode_reads_the_characters_approved_picture(models, tmp_path):
    b = backend(models["sd1"], consistency="reference")
    ref_pic = run(b, request(), tmp_path / "ref")
    ref = AssetRef(sha256="c" * 64, ext=".png")
    shot = MIRA.model_copy(update={"id": "s2", "number": "2", "action": "Mira runs across the square"})
    with_ref = run(b, request(shot, prompt=shot.action, references={"Mira": ref}), tmp_path / "with",
                   files={ref: ref_pic.files[0]})
    anchor = with_ref.parameters["anchors"][0]
    assert anchor["reference"] == ref.rel
    without = run(backend(models["sd1"]), request(shot, prompt=shot.action), tmp_path / "without")
    assert not np.array_equal(pixels(with_ref), pixels(without))
    assert b.capabilities.inputs["references"] == "required"


def test_every_step_reports_progress_with_a_live_preview(models, tmp_path):
    events = []
    run(backend(models["sd1"], steps=4), request(), tmp_path, events=events)
    steps = [(f, p) for f, m, p in events if m.startswith("step ")]
    assert len(steps) == 4
    assert all(isinstance(p, Image.Image) and p.size == (8, 8) for _, p in steps)
    assert [f for f, _ in steps] == sorted(f for f, _ in steps)


def test_cancel_stops_within_one_step(models, tmp_path):
    cancel = CancelToken()
    events = []

    def listen(f, m, p):
        events.append(m)
        if m == "step 2/20":
            threading.Thread(target=cancel.cancel).start()
            cancel._event.wait(5)

    b = backend(models["sd1"], steps=20)
    tmp_path.mkdir(exist_ok=True)
    with pytest.raises(Cancelled):
        b(request(), JobContext(workdir=tmp_path, cancel=cancel, emit=listen))
    assert sum(m.startswith("step ") for m in events) <= 3
    assert not list(tmp_path.glob("*.png"))
    assert b.pipe._interrupt is False  # the next job starts clean
    assert run(b, request(), tmp_path / "after").files


def test_the_a1111_parameters_chunk_reads_back(models, tmp_path):
    r = run(backend(models["sd1"]), request(note='warmer light, "golden": hour'), tmp_path)
    text = Image.open(r.files[0]).text
    prompt, negative, fields = parse_a1111(text["parameters"])
    assert prompt == r.prompt and 'warmer light, "golden": hour' in prompt
    assert negative == r.negative_prompt
    assert fields["Steps"] == "3" and fields["Seed"] == "3" and fields["CFG scale"] == "7.5"
    assert fields["Size"] == "64x64" and fields["Sampler"] == "DPM++ 2M" and fields["Schedule type"] == "Karras"
    ours = json.loads(text["inkubator"])
    assert fields["Model hash"] == ours["weights_sha256"][:10] and len(fields["Model hash"]) == 10
    assert ours["seed"] == 3 and ours["steps"] == 3 and ours["prompt"] == r.prompt and ours["dtype"] == "float32"


def parse_a1111(text: str) -> tuple[str, str, dict[str, str]]:
    """Read `parameters` the way A1111's own infotext parser does (last line: fields)."""
    *lines, last = text.strip().split("\n")
    prompt, negative, in_negative = [], [], False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative, line = True, line[len("Negative prompt:"):].strip()
        (negative if in_negative else prompt).append(line)
    fields = {}
    for k, v in re.findall(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)', last):
        fields[k] = json.loads(v) if v.startswith('"') else v
    return "\n".join(prompt), "\n".join(negative), fields


@pytest.mark.parametrize("setup, message", [
    (lambda p: p / "nowhere", "does not exist"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "without model_index.json"),
    (lambda p: _incomplete(p), "is incomplete"),
    (lambda p: _touch(p / "model.ckpt"), "pickled checkpoint"),
    (lambda p: _touch(p / "notes.txt"), "not a model file"),
])
def test_bad_model_paths_say_what_was_expected(tmp_path, setup, message):
    path = setup(tmp_path)
    with pytest.raises(BackendError, match=message) as e:
        check_model_path(str(path))
    assert "\n" not in str(e.value)
    r = DiffusionKeyframes.readiness(Config.model_validate({"keyframe": {"model_path": str(path)}}))
    assert not r.ready and message in r.detail


def test_pickles_load_only_when_the_user_opts_in(tmp_path):
    import torch

    path = tmp_path / "model.ckpt"
    torch.save({}, str(path))
    assert check_model_path(str(path), allow_pickle=True) == (path, "file")


def test_a_checkpoint_of_another_family_is_named(tmp_path):
    from safetensors.torch import save_file
    import torch

    path = tmp_path / "flux.safetensors"
    save_file({"double_blocks.0.img_attn.norm.key_norm.scale": torch.zeros(4),
               "img_in.weight": torch.zeros(4, 4)}, str(path))
    with pytest.raises(BackendError, match=r"looks like a 'flux.*Stable Diffusion 1.x, 2.x and XL"):
        backend(path).load()


def test_a_safetensors_file_that_is_not_a_diffusion_model_is_named(tmp_path):
    from safetensors.torch import save_file
    import torch

    path = tmp_path / "embedding.safetensors"
    save_file({"emb_params": torch.zeros(2, 8)}, str(path))
    with pytest.raises(BackendError, match="is not a Stable Diffusion checkpoint"):
        backend(path).load()


def test_a_missing_lora_is_one_line(models):
    with pytest.raises(BackendError, match=r"loras\[0\].*does not exist"):
        backend(models["sd1"], loras=[{"path": "/no/such.safetensors"}]).load()


def test_no_model_configured_leaves_the_sketch_as_the_default():
    from inkubator_tui.pipeline.registry import Registry
    from inkubator_tui.project.models import Step

    r = DiffusionKeyframes.readiness(Config())
    assert not r.ready and "keyframe.model_path" in r.detail
    assert Registry(Config()).resolve(Step.KEYFRAMES).info().name == "sketch"


def test_a_configured_model_is_the_default(models):
    from inkubator_tui.pipeline.registry import Registry
    from inkubator_tui.project.models import Step

    cfg = Config.model_validate({"keyframe": {"model_path": str(models["sd1"])}})
    assert Registry(cfg).resolve(Step.KEYFRAMES).info().name == "diffusion"


def _touch(path: Path) -> Path:
    path.write_bytes(b"\0")
    return path


def _incomplete(root: Path) -> Path:
    d = root / "half"
    d.mkdir()
    (d / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline",
                                                    "unet": ["diffusers", "UNet2DConditionModel"]}))
    return d


@pytest.mark.parametrize("kind, family", [("sd1", "v1"), ("sdxl", "xl_base"), ("sd1_file", "v1"),
                                          ("sdxl_file", "xl_base")])
def test_what_the_backend_says_of_itself_does_not_change_when_it_loads(models, kind, family, monkeypatch):
    """Its info is part of every cache key: a loaded app must find the drafts a fresh one made."""
    from inkubator_tui.tools.keyframe import skeletons

    monkeypatch.setattr(skeletons, "materialise", lambda fam, root: models[kind.removesuffix("_file")])
    b = backend(models[kind], loras=[{"path": str(models["lora"]), "weight": 0.5}] if kind == "sd1" else [])
    before = b.info()
    b.load()
    assert b.info() == before and before.parameters["family"] == family
    assert "Stable Diffusion" in before.licence or "CreativeML" in before.licence
