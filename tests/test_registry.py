"""The registry: backends chosen by name (plugins included), "auto" preferring ready
real models over labelled defaults, broken plugins never breaking "auto", and an
unknown name as one clear error."""

from __future__ import annotations

import pytest

from inkubator_tui.config import ConfigError, load_config
from inkubator_tui.doctor import doctor_rows
from inkubator_tui.pipeline.registry import BackendSpec, Registry, UnknownBackend
from inkubator_tui.project.models import Step

PLUGIN = '''
from inkubator_tui.pipeline.backend import BackendInfo, Readiness
from inkubator_tui.project.models import Step


class Frames:
    step = Step.KEYFRAMES

    def __init__(self, config):
        self.config = config

    @classmethod
    def readiness(cls, config):
        return Readiness(Step.KEYFRAMES, "testframes", True, "a test plugin with a model")

    def info(self):
        return BackendInfo(name="testframes", model_id="test")
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "inkubator_test_plugin.py").write_text(PLUGIN)
    (tmp_path / "inkubator_broken_plugin.py").write_text("raise ImportError('needs a library that is missing')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    extra = [BackendSpec(Step.KEYFRAMES, "broken", "inkubator_broken_plugin:Nope"),
             BackendSpec(Step.KEYFRAMES, "testframes", "inkubator_test_plugin:Frames")]

    def registry(**sets) -> Registry:
        config = load_config(cli=dict(sets)).config
        reg = Registry(config)
        reg.specs = reg.specs + extra
        return reg

    return registry


def test_auto_prefers_a_ready_plugin_model_over_the_labelled_default_and_skips_a_broken_one(plugin):
    chosen = plugin().resolve(Step.KEYFRAMES)
    assert chosen.info().name == "testframes"
    rows = [r for r in doctor_rows(plugin()) if r["step"] == "keyframes"]
    broken = next(r for r in rows if r["backend"] == "broken")
    assert not broken["ready"] and "needs a library that is missing" in broken["detail"]
    assert next(r for r in rows if r["backend"] == "testframes")["in_use"]


def test_a_backend_is_chosen_by_name_and_none_skips_the_step(plugin):
    assert plugin(**{"keyframe.backend": "sketch"}).resolve(Step.KEYFRAMES).info().name == "sketch"
    assert plugin(**{"keyframe.backend": "testframes"}).resolve(Step.KEYFRAMES).info().name == "testframes"
    assert plugin(**{"keyframe.backend": "none"}).resolve(Step.KEYFRAMES) is None


def test_an_unknown_name_is_one_error_listing_the_choices(plugin):
    with pytest.raises(UnknownBackend) as e:
        plugin(**{"keyframe.backend": "sdxl"}).resolve(Step.KEYFRAMES)
    assert str(e.value) == ("keyframe.backend = 'sdxl' is not a keyframes backend; choose one of: auto, diffusion, "
                            "sketch, broken, testframes, none (`inkubator doctor` lists them)")
    rows = doctor_rows(plugin(**{"keyframe.backend": "sdxl"}))
    assert any("'sdxl' is not a keyframes backend" in r["detail"] for r in rows)


def test_a_name_that_cannot_be_a_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="keyframe.backend"):
        load_config(cli={"keyframe.backend": "Not A Name!"})
