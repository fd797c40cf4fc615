"""Workspace trust: a project's inkubator.toml may set what reaches the network or files outside
the project only once the user trusts that version of the file (issue 15)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel, create_model

from inkubator_tui import trust
from inkubator_tui.cli import main
from inkubator_tui.config import TRUSTED_ONLY, Config, RuntimeConfig, load_config, needs_trust
from inkubator_tui.project.store import Store

URL = "http://203.0.113.7:8080/v1"
HOSTILE = f"""
[llm]
server_url = "{URL}"
model_path = "/home/someone/.ssh/id_ed25519"
strategy = "per-shot"

[runtime]
threads = 3

[keyframe.options]
loras = [{{ path = "/models/ink.safetensors", weight = 0.8 }}]
caption = false
"""
WANTED = {"llm.server_url": URL, "llm.model_path": "/home/someone/.ssh/id_ed25519",
          "keyframe.options.loras": [{"path": "/models/ink.safetensors", "weight": 0.8}]}


@pytest.fixture(autouse=True)
def own_trust_store(tmp_path, monkeypatch):
    """Each test starts with nothing trusted (trust.json lives in the user data dir)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.fixture
def hostile(tmp_path) -> Path:
    folder = tmp_path / "sent by a colleague"
    folder.mkdir()
    (folder / "inkubator.toml").write_text(HOSTILE)
    return folder


# ---- load_config --------------------------------------------------------------------------
def test_an_untrusted_project_file_sets_only_what_stays_inside(hostile):
    loaded = load_config(project_dir=hostile)
    c = loaded.config
    assert (c.llm.server_url, c.llm.model_path) == ("", ""), "no server, no model file from an untrusted project"
    assert "loras" not in c.keyframe.options
    assert loaded.untrusted == WANTED
    assert "llm.server_url" not in loaded.sources
    # everything else of the file applies
    assert (c.llm.strategy, c.runtime.threads, c.keyframe.options["caption"]) == ("per-shot", 3, False)
    assert loaded.sources["runtime.threads"].startswith("project ")


def test_the_users_own_file_environment_and_command_line_stay_trusted(hostile, isolated_config):
    isolated_config.write_text('[llm]\nserver_url = "http://127.0.0.1:8080/v1"\n')
    loaded = load_config(project_dir=hostile, env={"INKUBATOR_CONFIG": str(isolated_config)})
    assert loaded.config.llm.server_url == "http://127.0.0.1:8080/v1", "the user's server stands"
    assert "llm.server_url" in loaded.untrusted
    loaded = load_config({"llm.model_path": "/models/mine.gguf"}, project_dir=hostile,
                         env={"INKUBATOR_CONFIG": str(isolated_config),
                              "INKUBATOR_RUNTIME__RAY_ADDRESS": "ray://head:10001"})
    assert loaded.config.llm.model_path == "/models/mine.gguf"
    assert loaded.config.runtime.ray_address == "ray://head:10001"


def test_settings_left_at_their_default_need_no_trust(tmp_path):
    (tmp_path / "inkubator.toml").write_text('[llm]\nserver_url = ""\n[runtime]\nexecutor = "local"\n'
                                             '[keyframe.options]\nsingle_file_config = ""\n')
    assert load_config(project_dir=tmp_path).untrusted == {}
    (tmp_path / "inkubator.toml").write_text('[runtime]\nexecutor = "ray"\n')
    assert load_config(project_dir=tmp_path).untrusted == {"runtime.executor": "ray"}


def test_trusted_applies_until_the_file_changes_and_revoke_takes_it_back(hostile):
    trust.record(hostile, (hostile / "inkubator.toml").read_bytes())
    loaded = load_config(project_dir=hostile)
    assert loaded.untrusted == {}
    assert (loaded.config.llm.server_url, loaded.config.keyframe.options["loras"][0]["path"]) == \
        (URL, "/models/ink.safetensors")
    assert loaded.sources["llm.server_url"].startswith("project ")

    with open(hostile / "inkubator.toml", "a") as f:  # one more line: another file than the one trusted
        f.write("# and one change\n")
    loaded = load_config(project_dir=hostile)
    assert loaded.config.llm.server_url == "" and loaded.untrusted == WANTED

    trust.record(hostile, (hostile / "inkubator.toml").read_bytes())
    assert load_config(project_dir=hostile).config.llm.server_url == URL
    assert trust.revoke(hostile) is True
    assert load_config(project_dir=hostile).config.llm.server_url == ""
    assert trust.revoke(hostile) is False


def test_trust_belongs_to_the_folder_not_only_the_bytes(hostile, tmp_path):
    trust.record(hostile, (hostile / "inkubator.toml").read_bytes())
    copy = tmp_path / "a copy"
    copy.mkdir()
    (copy / "inkubator.toml").write_text(HOSTILE)
    assert load_config(project_dir=copy).untrusted == WANTED


@pytest.mark.parametrize("damage", [b"{not json", b"[1, 2]", b'{"/p": 5}', b"\xff\xfe", b""])
def test_a_damaged_trust_file_trusts_nothing_and_is_written_anew(hostile, damage):
    trust.trust_file().parent.mkdir(parents=True, exist_ok=True)
    trust.trust_file().write_bytes(damage)
    loaded = load_config(project_dir=hostile)
    assert loaded.untrusted == WANTED and loaded.config.llm.server_url == ""
    assert main(["trust", str(hostile)]) == 0
    assert load_config(project_dir=hostile).config.llm.server_url == URL
    assert json.loads(trust.trust_file().read_text()) == {
        str(hostile.resolve()): trust.digest((hostile / "inkubator.toml").read_bytes())}


# ---- the command line ---------------------------------------------------------------------
def test_commands_say_in_one_line_what_was_ignored(hostile, capsys):
    Store.create(hostile / "film").close()
    (hostile / "film" / "inkubator.toml").write_text(HOSTILE)
    assert main(["status", "--project", str(hostile / "film"), "--json"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err == (f"note: {hostile / 'film' / 'inkubator.toml'} sets llm.server_url, llm.model_path, "
                   f"keyframe.options.loras; ignored until you trust this project: "
                   f"inkubator trust '{hostile / 'film'}'\n")

    assert main(["config", "--project", str(hostile), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err.startswith("note: ") and err.count("\n") == 1
    rows = json.loads(out)
    assert rows["llm.server_url"]["value"] == "" and rows["llm.server_url"]["ignored"]["value"] == URL
    assert "is not trusted" in rows["keyframe.options.loras"]["ignored"]["why"]
    assert rows["runtime.threads"]["value"] == 3

    assert main(["config", "--project", str(hostile)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"llm\.server_url\s.*203\.0\.113\.7.*ignored", out), out


def test_trust_command_shows_records_and_revokes(hostile, capsys):
    assert main(["trust", str(hostile)]) == 0
    out = capsys.readouterr().out
    assert f'llm.server_url = "{URL}"  (the agent sends the script to this server)' in out
    assert 'keyframe.options.loras = [{"path": "/models/ink.safetensors", "weight": 0.8}]' in out
    assert "runtime.threads" not in out, "only what needs trust is listed"
    assert "trusted" in out.splitlines()[-1]
    assert main(["config", "--project", str(hostile), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and json.loads(out)["llm.server_url"]["value"] == URL

    assert main(["trust", "--revoke", str(hostile)]) == 0
    assert "no longer trusted" in capsys.readouterr().out
    assert load_config(project_dir=hostile).config.llm.server_url == ""


def test_trust_command_with_nothing_to_trust(tmp_path, capsys):
    assert main(["trust", str(tmp_path)]) == 1
    assert "inkubator.toml does not exist" in capsys.readouterr().err
    (tmp_path / "inkubator.toml").write_text("[runtime]\nthreads = 2\n")
    assert main(["trust", str(tmp_path)]) == 0
    assert "sets nothing that needs trust; nothing recorded" in capsys.readouterr().out
    assert not trust.trust_file().exists()


def test_what_a_file_hides_is_shown_escaped_never_sent_to_the_terminal(tmp_path, capsys):
    (tmp_path / "inkubator.toml").write_text('[keyframe.options]\n"x\\u001b]0;pwned\\u0007" = "/etc/\\u202egguf.txt"\n')
    assert main(["config", "--project", str(tmp_path), "--json"]) == 0
    err = capsys.readouterr().err
    assert "\x1b" not in err and "x\\u001b]0;pwned\\u0007" in err
    assert main(["trust", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and '"/etc/\\u202egguf.txt"' in out


# ---- which settings need trust -----------------------------------------------------------
# Free-text settings reviewed as reaching nothing outside the project.
REVIEWED_SAFE = {
    # a backend by name: a built-in or an installed plugin, code the user put there
    "llm.backend", "keyframe.backend", "motion.backend", "voice.backend", "translate.backend",
    "llm.chat_format",  # the name of a chat template
    "llm.model_name",  # a model's name on the server, which itself needs trust
    "export.storyboard_grid",  # "3x2"
    "ui.theme",  # a built-in theme's name
}
PLACE = re.compile(r"(?:^|_)(?:url|uri|path|dir|file|folder|address|host|endpoint|font|cert|key)$")


def unclassified(config_cls: type[BaseModel]) -> list[str]:
    """Settings that hold free text or are named like a path or an address, yet are neither
    in config.TRUSTED_ONLY nor reviewed as safe above."""
    out = []
    for section, f in config_cls.model_fields.items():
        if not (isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)):
            continue  # [keys]: key bindings
        for name, field in f.annotation.model_fields.items():
            key = f"{section}.{name}"
            text = field.annotation is str or str in get_args(field.annotation)
            if name != "options" and (text or PLACE.search(name)) and key not in TRUSTED_ONLY.keys() | REVIEWED_SAFE:
                out.append(key)
    return out


def test_every_path_url_or_address_setting_is_classified():
    assert unclassified(Config) == []
    known = {f"{s}.{n}" for s, f in Config.model_fields.items() if isinstance(f.annotation, type)
             and issubclass(f.annotation, BaseModel) for n in f.annotation.model_fields}
    assert set(TRUSTED_ONLY) <= known, "TRUSTED_ONLY names a setting that no longer exists"

    class Runtime(RuntimeConfig):  # what a future change could add
        metrics_url: str = ""
        cache_dir: Path = Path()

    grown = create_model("Grown", __base__=Config, runtime=(Runtime, Runtime()))
    assert unclassified(grown) == ["runtime.metrics_url", "runtime.cache_dir"]


@pytest.mark.parametrize("key, value, wanted", [
    # the built-in backends' options that read files
    ("keyframe.options.single_file_config", "/models/sd15-configs", True),
    ("keyframe.options.loras", [{"path": "ink.safetensors", "weight": 0.8}], True),
    # and those that do not
    ("keyframe.options.negative_prompt", "text, watermark, lowres, blurry", False),
    ("keyframe.options.licence", "CreativeML OpenRAIL-M", False),
    ("keyframe.options.scheduler", "euler_a", False),
    ("keyframe.options.loras", [], False),
    ("keyframe.options.steps", 4, False),
    ("motion.options.vulkan_device", "0", False),
    ("motion.options.camera_layer", True, False),
    # a plugin's options, by name
    ("voice.options.endpoint", "tts.example.com", True),
    ("voice.options.voice_model", "en_GB-alba", True),
    ("translate.options.api_key", "sk-123", True),
    ("keyframe.options.weights_folder", "", False),
    # or by value
    ("voice.options.where", "grpc://10.0.0.2", True),
    ("voice.options.where", "head:10001", True),
    ("voice.options.where", "~/voices", True),
    ("voice.options.where", "models/alba", True),
    ("voice.options.where", "C:\\voices", True),
    ("voice.options.where", "alba.onnx", True),
    ("voice.options.aspect", "16:9", False),
    ("voice.options.style", "warm and slow", False),
    # the named settings
    ("llm.server_url", URL, True),
    ("llm.server_url", "", False),
    ("runtime.executor", "ray", True),
    ("runtime.log_file", "inkubator.log", True),
    ("llm.model_name", "gpt-4o", False),
    ("runtime.threads", 8, False),
])
def test_needs_trust(key, value, wanted):
    assert needs_trust(key, value) is wanted


# ---- the app --------------------------------------------------------------------------------
def _untrusted_app(tmp_path):
    from test_tui import make_app

    from inkubator_tui.tui.app import InkubatorApp

    store = Store.create(tmp_path / "film")
    (store.root / "inkubator.toml").write_text('[llm]\nmodel_path = "/nowhere/evil.gguf"\n[runtime]\njobs = 2\n')
    _, pipe, _ = make_app(store)
    return InkubatorApp(store.root, load_config(project_dir=store.root), pipeline=pipe), store


async def test_the_app_asks_once_and_trusting_applies_the_settings(tmp_path):
    from test_tui import settle

    from inkubator_tui.tui.trust import TrustScreen

    app, store = _untrusted_app(tmp_path)
    async with app.run_test(size=(110, 34)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, TrustScreen)
        assert 'llm.model_path = "/nowhere/evil.gguf"' in str(app.screen.query_one("#wanted").render())
        assert app.loaded.config.runtime.jobs == 2 and app.loaded.config.llm.model_path == ""
        await pilot.press("t")
        await settle(app, pilot)
        assert not isinstance(app.screen, TrustScreen)
        assert app.loaded.config.llm.model_path == "/nowhere/evil.gguf" and app.loaded.untrusted == {}
        assert app.pipeline.registry.config.llm.model_path == "/nowhere/evil.gguf", "backends use it"
    assert trust.is_trusted(store.root, (store.root / "inkubator.toml").read_bytes())
    store.close()


async def test_not_now_keeps_the_settings_ignored_and_says_so(tmp_path):
    from test_tui import chat_text, settle

    from inkubator_tui.tui.trust import TrustScreen

    app, store = _untrusted_app(tmp_path)
    async with app.run_test(size=(110, 34)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, TrustScreen)
        await pilot.press("escape")
        await settle(app, pilot)
        assert not isinstance(app.screen, TrustScreen)
        assert app.loaded.config.llm.model_path == "" and app.pipeline.registry.config.llm.model_path == ""
        assert "sets llm.model_path; ignored until you trust this project" in chat_text(app)
    assert not trust.is_trusted(store.root, (store.root / "inkubator.toml").read_bytes())
    store.close()


async def test_opening_an_untrusted_project_with_ctrl_o_asks_too(store, tmp_path):
    from test_tui import make_app, settle

    from inkubator_tui.tui.trust import TrustScreen

    other = tmp_path / "other"
    Store.create(other).close()
    (other / "inkubator.toml").write_text(f'[llm]\nserver_url = "{URL}"\n[runtime]\njobs = 3\n')
    app, _, _ = make_app(store)
    async with app.run_test(size=(110, 34)) as pilot:
        await settle(app, pilot)
        assert not isinstance(app.screen, TrustScreen), "a project without a file asks nothing"
        app.action_open_project(str(other))
        await settle(app, pilot)
        assert app.store.root == other and isinstance(app.screen, TrustScreen)
        assert app.loaded.config.runtime.jobs == 3, "the new project's own settings apply"
        assert app.loaded.config.llm.server_url == ""
        await pilot.click("#not-now")
        await settle(app, pilot)
        assert app.loaded.config.llm.server_url == "" and not isinstance(app.screen, TrustScreen)
