"""Settings layers, their sources, and errors that name the key."""

from __future__ import annotations

import pytest

from inkubator_tui.config import ConfigError, load_config, parse_cli_overrides


def test_defaults_without_files(isolated_config):
    loaded = load_config()
    assert loaded.config.runtime.threads == 1
    assert dict((k, s) for k, _, s in loaded.rows())["runtime.threads"] == "default"


def test_precedence_cli_env_project_file_default(isolated_config, tmp_path):
    isolated_config.write_text("[runtime]\nthreads = 2\njobs = 2\ndevice = 'cpu'\n[voice]\nspeed = 1.5\n")
    project = tmp_path / "proj"
    project.mkdir()
    (project / "inkubator.toml").write_text("[runtime]\nthreads = 3\njobs = 3\n")
    env = {"INKUBATOR_CONFIG": str(isolated_config), "INKUBATOR_RUNTIME__THREADS": "4"}
    loaded = load_config(cli={"runtime.threads": 5}, project_dir=project, env=env)
    src = {k: s for k, _, s in loaded.rows()}
    c = loaded.config
    assert c.runtime.threads == 5 and src["runtime.threads"] == "command line"
    assert c.runtime.jobs == 3 and src["runtime.jobs"].startswith("project ")
    assert c.voice.speed == 1.5 and src["voice.speed"].startswith("file ")
    assert c.keyframe.candidates == 1 and src["keyframe.candidates"] == "default"
    loaded = load_config(project_dir=project, env=env)
    assert loaded.config.runtime.threads == 4 and loaded.sources["runtime.threads"] == "env INKUBATOR_RUNTIME__THREADS"


def test_unknown_key_names_it_and_suggests(isolated_config):
    isolated_config.write_text("[runtime]\nthread = 2\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'runtime.thread'.*did you mean runtime.threads"):
        load_config()


def test_wrong_type_names_key_value_and_source(isolated_config):
    with pytest.raises(ConfigError, match=r"runtime.threads = 'two' \(from env INKUBATOR_RUNTIME__THREADS\)"):
        load_config(env={"INKUBATOR_CONFIG": str(isolated_config), "INKUBATOR_RUNTIME__THREADS": "two"})


def test_bad_toml_and_missing_override_file(isolated_config, tmp_path):
    isolated_config.write_text("[runtime\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config()
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(env={"INKUBATOR_CONFIG": str(tmp_path / "nope.toml")})


def test_keys_are_remappable_and_checked(isolated_config):
    isolated_config.write_text("[keys]\napprove = 'y'\n")
    keys = load_config().config.keys
    assert keys["approve"] == "y" and keys["quit"] == "ctrl+q"
    isolated_config.write_text("[keys]\napprov = 'y'\n")
    with pytest.raises(ConfigError, match="keys.approve"):
        load_config()


def test_cli_set_syntax():
    assert parse_cli_overrides(["runtime.threads=2", "voice.model_path=/x/y.onnx"]) == {
        "runtime.threads": 2, "voice.model_path": "/x/y.onnx"}
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_cli_overrides(["threads"])
