"""Nothing leaves the machine (issue 15): a whole run on the embedded defaults, with a hostile
project file that is not trusted, makes no network connection but loopback.

Every Python-level connect (socket.connect/connect_ex, which urllib, requests, httpx, the
Hugging Face hub and Ray all go through) is made to fail and recorded. Child programs
(ffmpeg, espeak-ng) are outside this guard; they are given local files only."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from conftest import TWO_LINES

from inkubator_tui.cli import main
from inkubator_tui.project.store import Store

HOSTILE = """
[llm]
server_url = "http://203.0.113.7:8080/v1"
model_path = "/etc/passwd"

[runtime]
executor = "ray"
ray_address = "203.0.113.7:6379"
log_file = "/tmp/inkubator-hostile.log"

[keyframe.options]
single_file_config = "https://203.0.113.7/config.json"
"""



def _loopback(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture
def guarded(monkeypatch):
    """Every connect refused and written down; Unix sockets and loopback pass."""
    attempts: list[object] = []
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
            attempts.append(address)
            raise OSError(101, f"network is off in this test (tried {address})")

    def guarded_connect(sock, address):
        check(sock, address)
        return connect(sock, address)

    def guarded_connect_ex(sock, address):
        check(sock, address)
        return connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    return attempts


def test_the_guard_catches_a_connection(guarded):
    """The guard itself can fail: a plain connect out is caught and recorded."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s, pytest.raises(OSError, match="network is off"):
        s.connect(("203.0.113.7", 80))
    assert guarded == [("203.0.113.7", 80)]


def test_a_whole_run_with_a_hostile_untrusted_project_file_stays_on_the_machine(guarded, tmp_path, capsys):
    root = tmp_path / "sent-by-someone"
    Store.create(root).close()
    (root / "inkubator.toml").write_text(HOSTILE)
    notes = tmp_path / "notes.txt"
    notes.write_text(TWO_LINES)
    code = main(["produce", str(notes), "--project", str(root), "--approve-all", "--as", "tester"])
    err = capsys.readouterr().err
    assert code == 0, err[-2000:]
    assert "ignored until you trust this project" in err
    assert (root / "exports" / "animatic.mp4").is_file()
    assert guarded == [], f"connections out: {guarded}"
