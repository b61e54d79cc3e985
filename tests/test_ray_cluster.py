"""``dataset generate --ray-address`` on a real cluster started the ordinary way
(``ray start --head``, which turns Ray's token authentication on when a token is
available), byte-identical to a local run; one-line errors saying what to do where the
connection cannot work; a local run starting its own Ray instance whatever RAY_ADDRESS or
a stale cluster file from an earlier ``ray start`` say.

Each head runs in its own process group with its own temp dir, token and ports, and is
stopped by killing that group (``ray stop`` would stop every Ray on the machine)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

TINY = ["resolution=[32,24]", "num_frames=4", "spp=1"]
EPISODES = 2
RAY = str(Path(sys.executable).with_name("ray"))
WORLDGEN = [sys.executable, "-m", "worldgen.cli"]
RAY_VARIABLES = ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_TMPDIR")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_dir():
    """A short private folder for Ray's temp dirs (its socket paths must stay under 108 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="wgray", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _env(ray_dir: Path, **extra: str) -> dict[str, str]:
    """This environment without any Ray setting of the user's; Ray's default temp dir private."""
    env = {k: v for k, v in os.environ.items() if k not in RAY_VARIABLES}
    env.update(RAY_TMPDIR=str(ray_dir / "default"), **extra)
    return env


def _generate(root: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    argv = [*WORLDGEN, "dataset", "generate", "objects_drop", *TINY, "-o", str(root), "--episodes", str(EPISODES),
            "--shard-size", "2", "-q", *extra]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def local(tmp_path_factory, ray_dir) -> Path:
    """The tiny dataset made in-process by one worker (no Ray)."""
    root = tmp_path_factory.mktemp("local")
    result = _generate(root, _env(ray_dir), "--workers", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    return root


@pytest.fixture(scope="module")
def head(ray_dir):
    """``ray start --head`` with a token of its own (so token authentication is on, as
    ``ray start`` does whenever a token is available); yields (address, token file)."""
    token = ray_dir / "auth_token"
    token.write_text(secrets.token_hex(32))
    temp = ray_dir / "head"
    env = _env(ray_dir, RAY_AUTH_TOKEN_PATH=str(token))
    argv = [RAY, "start", "--head", "--port", "0", "--temp-dir", str(temp), "--num-cpus", "2",
            "--include-dashboard=false", "--dashboard-port", str(_free_port()),
            "--dashboard-agent-listen-port", str(_free_port()), "--disable-usage-stats"]
    start = subprocess.Popen(argv, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    group = start.pid  # start_new_session: the group of `ray start` and every process it leaves running
    try:
        output, _ = start.communicate(timeout=120)
        assert start.returncode == 0, output[-3000:]
        assert "Token authentication is enabled" in output, output[-3000:]
        yield (temp / "ray_current_cluster").read_text().strip(), token
    finally:
        _stop_group(group)


def _stop_group(group: int) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


@pytest.mark.slow  # a head, a local run and a cluster run: about 40 s on 2 idle cores, minutes on a loaded machine
def test_generating_on_a_ray_start_head_cluster_is_byte_identical_to_local(head, local, tmp_path, ray_dir):
    address, token = head
    # the token reaches worldgen as Ray documents (here RAY_AUTH_TOKEN_PATH); RAY_AUTH_MODE is left unset
    result = _generate(tmp_path / "cluster", _env(ray_dir, RAY_AUTH_TOKEN_PATH=str(token)),
                       "--workers", "2", "--ray-address", address)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{EPISODES} episodes produced" in result.stdout
    cluster, reference = _files(tmp_path / "cluster"), _files(local)
    assert cluster.keys() == reference.keys()
    assert [name for name in reference if cluster[name] != reference[name]] == []


@pytest.mark.slow
def test_cluster_errors_are_one_line_saying_what_to_do(head, tmp_path, ray_dir):
    address, _ = head
    home = tmp_path / "home"  # no ~/.ray/auth_token here
    home.mkdir()
    line = _one_error_line(_generate(tmp_path / "a", _env(ray_dir, HOME=str(home)), "--workers", "2",
                                     "--ray-address", address))
    assert "--ray-address" in line and "token authentication" in line and "ray get-auth-token" in line, line
    assert "RAY_AUTH_TOKEN" in line and "~/.ray/auth_token" in line, line

    wrong = tmp_path / "wrong_token"
    wrong.write_text(secrets.token_hex(32))
    line = _one_error_line(_generate(tmp_path / "b", _env(ray_dir, RAY_AUTH_TOKEN_PATH=str(wrong)), "--workers", "2",
                                     "--ray-address", address))
    assert "--ray-address" in line and "rejected" in line and "ray get-auth-token" in line, line

    line = _one_error_line(_generate(tmp_path / "c", _env(ray_dir, RAY_AUTH_MODE="disabled"), "--workers", "2",
                                     "--ray-address", address))
    assert "RAY_AUTH_MODE is 'disabled'" in line and "RAY_AUTH_MODE=token" in line, line

    port = _free_port()
    line = _one_error_line(_generate(tmp_path / "d", _env(ray_dir), "--workers", "2", "--ray-address", f"127.0.0.1:{port}"))
    assert "nothing answers at " in line and f":{port} (" in line and "ray start --head" in line, line  # as Ray resolves it
    # each is refused before ray.init, which would wait 20 s and say 'cannot connect' (forever for no head)
    assert not any((tmp_path / name / "manifest.json").exists() for name in "abcd")


@pytest.mark.slow  # starts a local Ray node, which needs CPU within Ray's own 30 s
def test_a_local_run_starts_its_own_ray_whatever_ray_address_or_a_stale_cluster_file_say(local, tmp_path, ray_dir):
    env = _env(ray_dir, RAY_ADDRESS=f"127.0.0.1:{_free_port()}")
    stale = Path(env["RAY_TMPDIR"]) / "ray" / "ray_current_cluster"  # what an earlier `ray start` leaves
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text(f"127.0.0.1:{_free_port()}")
    result = _generate(tmp_path / "two", env, "--workers", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert _files(tmp_path / "two") == _files(local)


class _FakeRay:
    """Records what ``ray.init`` is asked; ``fail``: raise it from ``init``."""

    def __init__(self, fail: Exception | None = None):
        self.calls, self.fail = [], fail

    def init(self, **kwargs):
        self.calls.append(kwargs)
        if self.fail:
            raise self.fail


def test_a_local_run_asks_ray_for_a_new_local_instance_whatever_ray_address_says(monkeypatch):
    """The default run's guard of the slow test above: ``address="local"`` (Ray then reads
    neither RAY_ADDRESS nor the cluster file of an earlier ``ray start``), and a local start
    that fails is one line about --workers, not --ray-address."""
    from worldgen.pipelines.dataset_generation import _init_ray
    from worldgen.scene import SceneError

    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    ray = _FakeRay()
    _init_ray(ray, 3, None)
    assert ray.calls == [dict(address="local", num_cpus=3, include_dashboard=False, log_to_driver=False,
                              logging_level="ERROR")]
    with pytest.raises(SceneError) as err:
        _init_ray(_FakeRay(Exception("The current node timed out during startup.\nmore")), 2, None)
    assert str(err.value) == ("command line: --workers: cannot start a local Ray instance for 2 workers: The current "
                              "node timed out during startup. (--workers 1 runs without Ray)")
