"""RIFE on PyTorch: the network against its reference, real in-betweens (not a
cross-fade), timing on ones/twos/threes, cut and hold checks, user
Practical-RIFE files recognised by their keys, and the backend in the
pipeline (end keyframes planned, provenance, cancel, exact re-renders)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from conftest import approve_all
from inkubator_tui.agents.rules import RuleBeats
from inkubator_tui.config import load_config
from inkubator_tui.pipeline.backend import BackendError, Cancelled, CancelToken, JobContext
from inkubator_tui.pipeline.pipeline import Pipeline
from inkubator_tui.pipeline.registry import Registry
from inkubator_tui.pipeline.requests import MotionRequest
from inkubator_tui.project.models import AssetRef, DraftStatus, Movement, Shot, Step
from inkubator_tui.tools.motion import ifnet, inbetween
from inkubator_tui.tools.motion.rife import BUNDLED_SHA256, RifeMotion, bundled_weights
from inkubator_tui.tools.video import read_mp4
from inkubator_tui.views import motion_summary
from rife_reference import reference_ifnet

torch.set_num_threads(1)

BG, FG = (30, 40, 60), (240, 200, 80)


def square(x: int, size=(160, 96), side=40) -> Image.Image:
    im = Image.new("RGB", size, BG)
    ImageDraw.Draw(im).rectangle([x, 28, x + side - 1, 28 + side - 1], fill=FG)
    return im


def ghosts(im: Image.Image) -> int:
    """Half-bright pixels: neither background nor square. A cross-fade is made of them; a real
    in-between has them only on the square's edges."""
    r = np.asarray(im)[..., 0].astype(int)
    return int(((r > BG[0] + 40) & (r < FG[0] - 40)).sum())


def columns(im: Image.Image) -> tuple[int, int]:
    """First and last column where the square is."""
    r = np.asarray(im)[..., 0]
    cols = np.where((r > 180).any(axis=0))[0]
    return int(cols[0]), int(cols[-1])


@pytest.fixture(scope="module")
def rife():
    backend = RifeMotion(load_config().config)
    backend.load()
    return backend


# ---- the network -----------------------------------------------------------------------------------
def test_the_bundled_weights_are_pinned_and_load_strictly():
    path = bundled_weights()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == BUNDLED_SHA256
    state = ifnet.strip_prefix(torch.load(path, map_location="cpu", weights_only=True))
    net = ifnet.build_for(state)
    assert isinstance(net, ifnet.HDv3) and len(state) == 160
    result = net.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_our_network_draws_what_the_reference_forward_draws():
    path = bundled_weights()
    state = ifnet.strip_prefix(torch.load(path, map_location="cpu", weights_only=True))
    ours = ifnet.load(path)
    ref = reference_ifnet()().eval()
    ref.load_state_dict(state, strict=True)
    g = torch.Generator().manual_seed(1)
    a = torch.rand(1, 3, 64, 96, generator=g)
    b = torch.roll(a, 6, 3)
    with torch.inference_mode():
        mine, theirs = ours(a, b), ref(torch.cat((a, b), 1))[2][2]
    assert (mine - theirs).abs().max().item() < 1e-4


def test_a_moving_square_lands_midway_without_the_ghost_of_a_cross_fade(rife):
    a, b = square(20), square(60)
    mid = rife.interpolator(a, b)
    fade = Image.blend(a, b, 0.5)
    assert columns(mid) == pytest.approx((40, 79), abs=1)
    # A centroid cannot tell these apart (both are centred at x = 60): count ghosts.
    assert ghosts(fade) > 3000
    assert ghosts(mid) < ghosts(fade) / 20, (ghosts(mid), ghosts(fade))


def test_odd_sizes_are_padded_for_the_network_and_cropped_back(rife):
    a, b = square(10, size=(101, 67), side=20), square(30, size=(101, 67), side=20)
    assert rife.interpolator(a, b).size == (101, 67)


# ---- timing --------------------------------------------------------------------------------------
class Midpoints:
    """A stand-in network on 1×1 grey pictures: the mean of its two inputs (or the blend at t),
    so the value of each drawing says which time it was drawn for."""

    device = "test"

    def __init__(self, takes_timestep: bool):
        self.takes_timestep = takes_timestep
        self.calls = 0

    def __call__(self, a, b, t=0.5):
        self.calls += 1
        x, y = a.getpixel((0, 0)), b.getpixel((0, 0))
        return Image.new("F", (1, 1), x + (y - x) * t)


@pytest.mark.parametrize("frames,on,drawings", [(24, 1, 24), (24, 2, 12), (24, 3, 8), (25, 2, 13), (1, 2, 1),
                                                (72, 1, 72)])
def test_ones_twos_and_threes(frames, on, drawings):
    plan = inbetween.timing(frames, on)
    assert len(plan.drawing_of_frame) == frames and len(plan.times) == drawings
    assert plan.times[0] == 0.0 and plan.times[-1] == (1.0 if drawings > 1 else 0.0)
    held = [plan.drawing_of_frame.count(d) for d in range(drawings)]
    assert held[:-1] == [on] * (drawings - 1), "each drawing is held for `on` frames"
    assert list(plan.drawing_of_frame) == sorted(plan.drawing_of_frame)


@pytest.mark.parametrize("takes_timestep", [True, False])
@pytest.mark.parametrize("frames,on", [(9, 1), (24, 2), (13, 3), (72, 1), (5, 1)])
def test_drawings_come_in_order_at_their_times(frames, on, takes_timestep):
    plan = inbetween.timing(frames, on)
    net = Midpoints(takes_timestep)
    record = inbetween.Drawings()
    a, b = Image.new("F", (1, 1), 0.0), Image.new("F", (1, 1), 1.0)
    got = [im.getpixel((0, 0)) for im in inbetween.drawings(a, b, plan.times, net, record=record)]
    assert len(got) == len(plan.times) and got == sorted(got)
    # Exact times for a timestep network; HDv3's bisection lands within half a slot of each.
    slot = 0 if takes_timestep else 1 / 2 ** (inbetween.bisection_depth(plan.times) + 1)
    assert all(abs(g - t) <= slot + 1e-6 for g, t in zip(got, plan.times))
    assert net.calls == record.passes
    assert net.calls == (len(plan.times) - 2 if takes_timestep else net.calls)
    if not takes_timestep:  # only the halves that hold a wanted time are drawn
        assert net.calls < 2 * len(plan.times)


def test_cancel_between_drawings():
    token = CancelToken()
    net = Midpoints(False)
    a, b = Image.new("F", (1, 1), 0.0), Image.new("F", (1, 1), 1.0)
    it = inbetween.drawings(a, b, inbetween.timing(33).times, net, check=token.check)
    next(it), next(it)
    token.cancel()
    with pytest.raises(Cancelled):
        list(it)


# ---- cut and hold --------------------------------------------------------------------------------
def test_a_scene_cut_is_held_and_cut_not_morphed():
    rng = np.random.default_rng(3)
    noise = Image.fromarray(rng.integers(0, 255, (96, 160, 3), dtype=np.uint8))
    sky = Image.linear_gradient("L").resize((160, 96)).convert("RGB")
    assert inbetween.decide(noise, sky)[0] == "cut"
    assert inbetween.decide(square(20), square(20))[0] == "hold"
    assert inbetween.decide(square(20), square(60))[0] == "inbetween"
    # A slight change of light is still the same shot, not a cut.
    darker = Image.eval(square(20), lambda v: int(v * 0.9))
    assert inbetween.decide(square(20), darker)[0] != "cut"


# ---- the backend on a request ------------------------------------------------------------------------
def _job(tmp_path, a: Image.Image, b: Image.Image | None, **kw):
    refs = {}
    for name, im in (("a", a), ("b", b)):
        if im is not None:
            p = tmp_path / f"{name}.png"
            im.save(p)
            refs[name] = (AssetRef(sha256=hashlib.sha256(p.read_bytes()).hexdigest(), ext=".png"), p)
    request = MotionRequest(shot=Shot(number="3"), start=refs["a"][0], end=refs["b"][0] if b else None,
                            fps=24, **{"frames": 9, "movement": Movement.STATIC, **kw})
    events = []
    ctx = JobContext(workdir=tmp_path, cancel=CancelToken(), files=dict(refs.values()),
                     emit=lambda f, m, p: events.append((f, m)))
    return request, ctx, events


def test_a_shot_clip_in_betweens_its_keyframes_on_twos(rife, tmp_path):
    request, ctx, events = _job(tmp_path, square(20), square(100), frames=9, on=2)
    result = rife(request, ctx)
    frames = list(read_mp4(result.files[0]))
    assert len(frames) == 9
    xs = [columns(f)[0] for f in frames]
    assert xs[0] == pytest.approx(20, abs=2) and xs[-1] == pytest.approx(100, abs=2)
    assert xs == sorted(xs)
    assert xs[0] == xs[1] and xs[2] == xs[3], "on twos each drawing shows for two frames"
    assert xs[2] == pytest.approx(40, abs=3), "the second drawing is a quarter of the way"
    p = result.parameters
    assert p["engine"] == "RIFE HDv3" and p["device"].startswith("cpu") and p["on"] == 2
    assert p["decision"] == "inbetween" and p["passes"] == 3 and p["timesteps"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert p["end_frame"].startswith("approved end keyframe assets/")
    assert [m for _, m in events][-1].startswith("frame 9/9")


def test_very_different_keyframes_hold_then_cut(rife, tmp_path):
    rng = np.random.default_rng(5)
    noise = Image.fromarray(rng.integers(0, 255, (96, 160, 3), dtype=np.uint8))
    request, ctx, _ = _job(tmp_path, square(20), noise, frames=6)
    result = rife(request, ctx)
    frames = [np.asarray(f).astype(int) for f in read_mp4(result.files[0])]
    assert result.parameters["decision"] == "cut" and result.parameters["passes"] == 0
    assert "held and cut" in result.parameters["note"]
    near_a = [np.abs(f - np.asarray(square(20))).mean() < 8 for f in frames]
    assert near_a == [True, True, True, False, False, False]


def test_no_end_keyframe_plays_the_camera_move_and_says_so(rife, tmp_path):
    request, ctx, _ = _job(tmp_path, square(20), None, frames=6, movement=Movement.DOLLY_IN)
    result = rife(request, ctx)
    frames = list(read_mp4(result.files[0]))
    assert result.parameters["end_frame"].startswith("derived: the camera move")
    assert result.parameters["passes"] == 0
    w0 = columns(frames[0])[1] - columns(frames[0])[0]
    w1 = columns(frames[-1])[1] - columns(frames[-1])[0]
    assert w1 > w0 * 1.1, "the push-in enlarges the square"


def test_camera_layer_rides_on_the_in_betweens(tmp_path):
    config = load_config(cli={"motion.options": {"camera_layer": True}}).config
    backend = RifeMotion(config)
    request, ctx, _ = _job(tmp_path, square(20), square(60), frames=5, movement=Movement.DOLLY_IN)
    result = backend(request, ctx)
    frames = list(read_mp4(result.files[0]))
    width = [columns(f)[1] - columns(f)[0] for f in frames]
    assert result.parameters["camera_layer"] is True and width[-1] > width[0] * 1.1


def test_cancel_stops_a_render_and_writes_nothing_half_made(rife, tmp_path):
    request, ctx, events = _job(tmp_path, square(20), square(100), frames=40)
    seen = []

    def emit(f, m, p):
        seen.append(m)
        if len(seen) == 3:
            ctx.cancel.cancel()
    ctx.emit = emit
    with pytest.raises(Cancelled):
        rife(request, ctx)
    assert len(seen) == 3


# ---- user weights -------------------------------------------------------------------------------------
V4_LAYOUTS = {
    "4.0": dict(variant="4.0", channels=(192, 128, 96, 64), head=5, encode=False),
    "4.2": dict(variant="4.2", channels=(192, 128, 96, 64), head=5, encode=False),
    "4.6": dict(variant="4.6", channels=(192, 128, 96, 64), head=6, encode=False),
    "4.7": dict(variant="4.7", channels=(192, 128, 96, 64), head=6, encode=True),
}


def _saved_and_loaded(made, tmp_path) -> tuple[RifeMotion, Path]:
    """`made` saved as a user's `train_log/flownet.pkl` (DataParallel's `module.` keys) and loaded
    through the real backend."""
    path = tmp_path / "train_log" / "flownet.pkl"
    path.parent.mkdir()
    torch.save({"module." + k: v for k, v in made.state_dict().items()}, path)
    config = load_config(cli={"motion.model_path": str(path.parent)}).config
    assert RifeMotion.readiness(config).ready
    backend = RifeMotion(config)
    backend.load()
    return backend, path


@pytest.mark.parametrize("version", list(V4_LAYOUTS))
def test_a_practical_rife_file_is_recognised_by_its_keys_and_takes_any_timestep(version, tmp_path):
    torch.manual_seed(0)
    backend, path = _saved_and_loaded(ifnet.PracticalV4(**V4_LAYOUTS[version]), tmp_path)
    net = backend.interpolator
    # 4.7's layout is 4.8's and 4.9's: it loads as the one definition of the encoder families.
    assert net.arch == ("Practical-RIFE 4.7–4.9 layout" if version == "4.7" else f"Practical-RIFE {version}")
    assert net.takes_timestep
    info = backend.info()
    assert info.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.model_id == "RIFE (train_log/flownet.pkl)"
    a, b = square(10, size=(100, 70), side=20), square(40, size=(100, 70), side=20)
    quarter, three_quarters = net(a, b, 0.25), net(a, b, 0.75)
    assert quarter.size == (100, 70)
    assert np.asarray(quarter).tobytes() != np.asarray(three_quarters).tobytes(), "the timestep reaches the network"


# Practical-RIFE 4.8+ as vs-rife's IFNet_HDv3_v4_*.py define them: block widths, encoder planes (and its
# hidden width, key style and conv count), planes handed between blocks, grouped trunk convs.
LATE_LAYOUTS = {
    "4.7–4.9": dict(widths=(192, 128, 96, 64), enc=4, hidden=16, style="seq", convs=2),
    "4.10–4.13": dict(widths=(192, 128, 96, 64), enc=8, style="seq"),
    "4.12.lite–4.13.lite": dict(widths=(128, 96, 64, 48), enc=4, style="seq"),
    "4.14–4.20, 4.24": dict(widths=(384, 192, 96, 48), enc=8),
    "4.14.lite": dict(widths=(192, 128, 96, 64), enc=8, groups=2),
    "4.15.lite–4.17.lite": dict(widths=(128, 96, 64, 48), enc=4, hidden=16),
    "4.21–4.23": dict(widths=(256, 192, 96, 48), enc=8, feat=8),
    "4.22.lite": dict(widths=(192, 128, 64, 32), enc=4, hidden=16, feat=8),
    "4.25–4.26": dict(widths=(192, 128, 96, 64, 32), enc=4, hidden=16, feat=8),
    "4.25.lite": dict(widths=(192, 128, 96, 64, 24), enc=4, hidden=16, feat=8),
    "4.26 heavy": dict(widths=(192, 128, 96, 64, 32), enc=16, hidden=16, feat=8),
}


@pytest.mark.parametrize("family", list(LATE_LAYOUTS))
def test_a_practical_rife_4_8_or_later_file_is_recognised_by_its_shapes(family, tmp_path):
    torch.manual_seed(0)
    backend, _ = _saved_and_loaded(ifnet.fresh_late(**LATE_LAYOUTS[family]), tmp_path)
    net = backend.interpolator
    assert net.arch == f"Practical-RIFE {family} layout" and net.takes_timestep
    assert net.net.multiple == (128 if family == "4.25.lite" else 64)
    assert net.net.scales == ((32, 16, 8, 4, 1) if family == "4.25.lite" else
                              (16, 8, 4, 2, 1) if len(LATE_LAYOUTS[family]["widths"]) == 5 else (8, 4, 2, 1))
    a, b = square(10, size=(100, 70), side=20), square(40, size=(100, 70), side=20)
    quarter, three_quarters = net(a, b, 0.25), net(a, b, 0.75)
    assert quarter.size == three_quarters.size == (100, 70)
    assert np.asarray(quarter).tobytes() != np.asarray(three_quarters).tobytes(), "the timestep reaches the network"


def test_a_4_8_or_later_layout_that_fits_no_rule_is_refused_in_one_line(tmp_path):
    torch.manual_seed(0)
    odd = ifnet.fresh_late((64, 48, 40, 32, 40), enc=4, hidden=16, feat=8)  # five blocks, the last 40 wide
    torch.save(odd.state_dict(), tmp_path / "flownet.pkl")
    backend = RifeMotion(load_config(cli={"motion.model_path": str(tmp_path / "flownet.pkl")}).config)
    said = r"last block is 40 wide.*supported: RIFE HDv3 and Practical-RIFE 4\.0–4\.26"
    with pytest.raises(BackendError, match=said) as e:
        backend.load()
    assert "\n" not in str(e.value)
    state = ifnet.fresh_late((64, 48, 40, 32), enc=8).state_dict()
    state["block2.conv0.0.0.weight"] = state["block2.conv0.0.0.weight"][:, :20]  # reads fewer planes than it must
    with pytest.raises(ifnet.UnknownArchitecture, match=r"block2 reading 20 planes"):
        ifnet.build_for(state)
    state = ifnet.fresh_late((64, 48, 40, 32), enc=8).state_dict()
    state["encode.cnn4.weight"] = torch.zeros(8, 8, 3, 3)  # a layer after the last transposed conv
    with pytest.raises(ifnet.UnknownArchitecture, match=r"feature encoder whose layer 3"):
        ifnet.build_for(state)

def test_files_that_are_not_rife_say_so_in_one_line(tmp_path):
    torch.save({"encoder.weight": torch.zeros(3, 3)}, tmp_path / "flownet.pkl")
    backend = RifeMotion(load_config(cli={"motion.model_path": str(tmp_path / "flownet.pkl")}).config)
    with pytest.raises(BackendError, match=r"not a RIFE flow network this app knows .*supported: RIFE HDv3"):
        backend.load()
    (tmp_path / "ncnn").mkdir()
    (tmp_path / "ncnn" / "flownet.param").write_text("7767517\n")
    r = RifeMotion.readiness(load_config(cli={"motion.model_path": str(tmp_path / "ncnn")}).config)
    assert not r.ready and "set motion.backend = rife-vulkan" in r.detail
    r = RifeMotion.readiness(load_config(cli={"motion.model_path": str(tmp_path / "missing.pkl")}).config)
    assert not r.ready and "does not exist" in r.detail


# ---- in the pipeline -------------------------------------------------------------------------------------
@pytest.fixture
def rife_pipe(store):
    config = load_config(cli={"keyframe.long_side": 96, "motion.backend": "rife", "keyframe.backend": "sketch"}).config
    reg = Registry(config, overrides={Step.BEATS: RuleBeats(config), Step.VOICE: None, Step.ANIMATIC: None})
    return Pipeline(store, reg)


def test_rife_asks_for_end_keyframes_and_a_changed_end_re_renders_only_that_shot(rife_pipe, store):
    pipe = rife_pipe
    pipe.draft_beats("INT. LAB - NIGHT\n\nSlow push in on Mira at the bench.\nOskar stands by the door.\n")
    approve_all(pipe, Step.BEATS)
    shots = store.sheet().shots
    pipe.run_step(Step.KEYFRAMES)
    targets = sorted(d.target for d in store.drafts(Step.KEYFRAMES))
    assert targets == sorted([shots[0].id, shots[0].id + "/end", shots[1].id]), \
        "the moving shot gets an end keyframe; the static one does not"
    approve_all(pipe, Step.KEYFRAMES)
    report = pipe.run_step(Step.MOTION)
    by_shot = {d.target: d for d in report.created}
    moving = by_shot[shots[0].id].provenance
    # The sketch's end panel of a push-in only diagrams where the camera arrives: the move is played
    # over the start panel, not morphed between two line drawings.
    assert moving.parameters["end_frame"].startswith("approved end panel") and moving.parameters["passes"] == 0
    assert moving.parameters["camera_layer"] is True
    assert "played over the start panel" in motion_summary(by_shot[shots[0].id])
    assert motion_summary(by_shot[shots[1].id]).endswith("holds its keyframe")
    assert moving.model_id.startswith("RIFE HDv3") and moving.weights_sha256 == BUNDLED_SHA256
    assert by_shot[shots[1].id].provenance.parameters["end_frame"].startswith("none: the shot holds")
    approve_all(pipe, Step.MOTION)

    pipe.revise_shot(shots[0].number, {"end_action": "Mira lifts the drone"})
    stale = [d for d in store.drafts(status=DraftStatus.STALE)]
    assert sorted((d.step.value, d.target) for d in stale) == [("keyframes", shots[0].id + "/end"),
                                                               ("motion", shots[0].id)]
    pipe.run_step(Step.KEYFRAMES)
    approve_all(pipe, Step.KEYFRAMES)
    report = pipe.run_step(Step.MOTION)
    assert [d.target for d in report.created] == [shots[0].id], "only that shot's clip is made again"
    # Now the end panel shows a changed action: that is in-betweened.
    redone = report.created[0].provenance.parameters
    assert redone["end_frame"].startswith("approved end keyframe") and redone["passes"] > 0
    assert motion_summary(report.created[0]).startswith("RIFE HDv3 on cpu")
    assert f"in {redone['passes']} RIFE passes" in motion_summary(report.created[0])


def test_animating_on_twos_is_part_of_what_a_clip_depends_on(store):
    def pipeline(on):
        config = load_config(cli={"keyframe.long_side": 96, "motion.backend": "rife", "motion.on": on,
                                  "keyframe.backend": "sketch"}).config
        reg = Registry(config, overrides={Step.BEATS: RuleBeats(config), Step.VOICE: None, Step.ANIMATIC: None})
        return Pipeline(store, reg)

    pipe = pipeline(1)
    pipe.draft_beats("INT. LAB - NIGHT\n\nSlow push in on Mira at the bench.\n")
    approve_all(pipe, Step.BEATS)
    pipe.revise_shot("1", {"end_action": "Mira holds the drone up to the light"})
    pipe.run_step(Step.KEYFRAMES)
    approve_all(pipe, Step.KEYFRAMES)
    [ones] = pipe.run_step(Step.MOTION).created
    assert ones.provenance.parameters["on"] == 1
    assert pipe.run_step(Step.MOTION).created == [], "nothing changed, nothing is made"
    twos = pipeline(2)
    [made] = twos.run_step(Step.MOTION).created
    assert made.provenance.parameters["on"] == 2 and made.provenance.parameters["passes"] < \
        ones.provenance.parameters["passes"]
