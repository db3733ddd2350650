"""The ``ray`` engine on a real local cluster, started as a user starts one (``ray start --head``).

The cluster (2 CPUs) is started once for the module in a session of its own
(``start_new_session``) and stopped by signalling that session's processes: ``ray stop``
would stop every Ray process of this user on the machine, other people's clusters included. Output on the cluster must be byte for
byte the local engine's (manifest checksums), also when a worker process is killed in the
middle of the run (the task is retried) or when it is not retried (a clear error, and the
same command again resumes to the same bytes).
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (it is in the dev extra: pip install -e '.[dev]')"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the cluster's worker processes in /proc"),
]

# A cluster `ray start` makes uses token authentication, and a driver given its address
# must say so before Ray is imported (Ray reads RAY_AUTH_MODE once, at import; "token" is
# also what Ray picks itself for a new in-process cluster, so other tests see no change).
os.environ.setdefault("RAY_AUTH_MODE", "token")

import domaingen as dg  # noqa: E402
from domaingen import ray_engine  # noqa: E402
from domaingen.errors import DomaingenError, UsageError  # noqa: E402
from domaingen.generation import read_manifest  # noqa: E402

N, SHARD = 6000, 1000
TASK_TITLE = b"ray::_shard_task"  # what Ray names a worker process while it runs ray_engine._shard_task


@dataclass
class Cluster:
    address: str
    session: int  # the session (setsid) every process of this cluster runs in
    temp_dir: str


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (held open together while chosen, so none repeats)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _free_port() -> int:
    return _free_ports(1)[0]


def _session_pids(session: int) -> list[int]:
    """The live (not zombie) processes of session ``session``: the cluster's daemons and its
    workers (each worker leads a process group of its own, but stays in the session)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                state = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[0]
                if os.getsid(int(entry)) == session and state != "Z":
                    pids.append(int(entry))
            except (OSError, IndexError):  # gone meanwhile, or not ours to inspect
                pass
    return pids


def _stop_session(session: int) -> None:
    """SIGTERM every process of the cluster's session, SIGKILL what is left after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        for pid in _session_pids(session):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while _session_pids(session) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _session_pids(session):
            return


def _ray_env() -> dict[str, str]:
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def cluster():
    temp_dir = tempfile.mkdtemp(prefix="dgray-", dir="/tmp")  # short: Ray's socket paths must fit in 107 characters
    # the cluster's token: the one Ray in this process would present (a token file named
    # by RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token, which an in-process Ray of an earlier
    # test may have made and Ray keeps for the process), else one made for the cluster
    # as `ray get-auth-token --generate` would, without touching ~/.ray
    previous_token_path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    token_path = Path(previous_token_path or Path.home() / ".ray" / "auth_token")
    if not token_path.is_file():
        token_path = Path(temp_dir) / "auth_token"
        token_path.write_text(secrets.token_hex(32), encoding="utf-8")
        token_path.chmod(0o600)
    os.environ["RAY_AUTH_TOKEN_PATH"] = str(token_path)
    port, client_port, agent_port = _free_ports(3)
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    command = [
        ray_cli, "start", "--head", "--num-cpus", "2", "--port", str(port), "--disable-usage-stats", "--temp-dir", temp_dir,
        "--include-dashboard", "false", "--ray-client-server-port", str(client_port),
        "--dashboard-agent-listen-port", str(agent_port),
    ]  # fmt: skip
    started = subprocess.Popen(command, env=_ray_env(), start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = started.communicate(timeout=180)
        assert started.returncode == 0, f"ray start failed:\n{output}"
        yield Cluster(f"127.0.0.1:{port}", started.pid, temp_dir)
    finally:
        import ray

        ray.shutdown()
        _stop_session(started.pid)
        left = _session_pids(started.pid)
        shutil.rmtree(temp_dir, ignore_errors=True)
        if previous_token_path is None:
            os.environ.pop("RAY_AUTH_TOKEN_PATH", None)
        else:
            os.environ["RAY_AUTH_TOKEN_PATH"] = previous_token_path
        assert not left, f"cluster processes still running: {left}"


@pytest.fixture(scope="module")
def tabular_bundle(tmp_path_factory):
    """A small VAE bundle of scikit-learn's breast-cancer table (2 epochs: seconds)."""
    recipe = dg.recipe_from_dict(
        {
            "schema_version": 1,
            "name": "bc-ray",
            "seed": 3,
            "data": {"plugin": "tabular", "source": "sklearn:breast_cancer"},
            "model": {"family": "vae", "options": {"latent_dim": 8, "hidden": [32, 32]}},
            "train": {"epochs": 2, "batch_size": 256},
            "generate": {"format": "csv", "shard_size": SHARD, "batch_size": 500},
            "evaluate": {"enabled": False},
        }
    )
    path = tmp_path_factory.mktemp("ray-bundles") / "bc"
    dg.train(recipe, path)
    return path


@pytest.fixture(scope="module")
def local_output(tabular_bundle, tmp_path_factory):
    """The reference: the same generation on the local engine."""
    out = tmp_path_factory.mktemp("ray-local") / "out"
    dg.generate(dg.load_bundle(tabular_bundle), out, N, shard_size=SHARD)
    return out


@pytest.fixture
def auto_address(cluster, monkeypatch):
    """``--address auto`` finds this test's cluster (and not another one on the machine)."""
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    yield "auto"
    import ray

    ray.shutdown()


def checksums(folder: Path) -> list[tuple[str, str]]:
    manifest = read_manifest(folder)
    assert manifest is not None and manifest["complete"]
    return sorted((f["path"], f["sha256"]) for s in manifest["shards"] for f in s["files"])


def exactly_listed(folder: Path) -> bool:
    """The folder holds the manifest's files and nothing else (no temporaries, no lock)."""
    manifest = read_manifest(folder)
    listed = {f["path"] for s in manifest["shards"] for f in s["files"]} | {f["path"] for f in manifest.get("overview", [])}
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} == listed | {"manifest.json"}


class WorkerKiller(threading.Thread):
    """SIGKILLs the first worker process of the cluster's ``session`` seen running a shard task."""

    def __init__(self, session: int):
        super().__init__(daemon=True)
        self.session, self.killed, self.stop = session, None, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and self.killed is None:
            for pid in _session_pids(self.session):
                try:
                    title = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if title.startswith(TASK_TITLE):
                    os.kill(pid, signal.SIGKILL)
                    self.killed = pid
                    return
            time.sleep(0.05)


# ------------------------------------------------------------------------------------------


def test_cli_on_cluster_is_byte_identical_to_local(cluster, tabular_bundle, local_output, tmp_path):
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "domaingen.cli", "--quiet", "generate", str(tabular_bundle), "-n", str(N), "--out", str(out),
               "--shard-size", str(SHARD), "--engine", "ray", "--address", cluster.address]  # fmt: skip
    done = subprocess.run(command, env=_ray_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{N} records in {N // SHARD} shard(s)" in done.stdout
    assert checksums(out) == checksums(local_output)
    assert exactly_listed(out)


def test_driver_without_the_cluster_token_is_told_how_to_present_it(cluster, tabular_bundle, tmp_path):
    env = {k: v for k, v in _ray_env().items() if k != "RAY_AUTH_MODE"}  # as a user who did not export it
    command = [sys.executable, "-m", "domaingen.cli", "generate", str(tabular_bundle), "-n", "10", "--out", str(tmp_path / "out"),
               "--engine", "ray", "--address", cluster.address]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"error: --address {cluster.address}: the Ray cluster there uses token authentication" in done.stderr
    assert "export RAY_AUTH_MODE=token" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_killed_worker_is_retried_and_output_is_identical(auto_address, cluster, tabular_bundle, local_output, tmp_path):
    out = tmp_path / "ray"
    killer = WorkerKiller(cluster.session)
    killer.start()
    try:
        dg.generate(dg.load_bundle(tabular_bundle), out, N, shard_size=SHARD, engine="ray", address=auto_address)
    finally:
        killer.stop.set()
        killer.join()
    assert killer.killed is not None, "no worker was seen running a shard"
    assert checksums(out) == checksums(local_output)
    assert exactly_listed(out)  # the killed worker's temporary, if it had one, is gone


def test_unretried_failure_is_clear_and_a_rerun_resumes(auto_address, cluster, tabular_bundle, local_output, tmp_path, monkeypatch):
    out = tmp_path / "ray"
    bundle = dg.load_bundle(tabular_bundle)
    monkeypatch.setattr(ray_engine, "MAX_RETRIES", 0)
    killer = WorkerKiller(cluster.session)
    killer.start()
    try:
        with pytest.raises(DomaingenError, match=r"failed after 1 attempt \(.*recorded in .*manifest.json: run the same command again") as info:
            dg.generate(bundle, out, N, shard_size=SHARD, engine="ray", address=auto_address)
    finally:
        killer.stop.set()
        killer.join()
    assert killer.killed is not None
    assert type(info.value) is DomaingenError  # not a usage error: exit code 1
    partial = read_manifest(out)
    assert partial is not None and not partial["complete"] and 1 <= len(partial["shards"]) < N // SHARD
    monkeypatch.setattr(ray_engine, "MAX_RETRIES", 3)
    dg.generate(bundle, out, N, shard_size=SHARD, engine="ray", address=auto_address)
    assert checksums(out) == checksums(local_output)
    assert exactly_listed(out)


def test_output_the_workers_cannot_see_is_refused(auto_address, tabular_bundle, tmp_path, monkeypatch):
    import ray

    ray.init(address=auto_address, log_to_driver=False, logging_level="ERROR")
    node = ray.nodes()[0]["NodeManagerAddress"]
    # a real task on the cluster's node looks for a probe that is not there
    blind = ray_engine.unseen_nodes(ray, str(tmp_path / "no-probe"), "token", str(tmp_path / "no-bundle"))
    assert [what for name, what in blind.items() if name.startswith(node)] == [
        [f"--out not visible at {tmp_path}", f"bundle not found at {tmp_path / 'no-bundle'}"]
    ]
    assert ray_engine.unseen_nodes(ray, str(tmp_path / "no-probe"), "token", str(tabular_bundle)) != {}

    # the driver's probe lands where the workers do not look (as on a disk of the driver's own)
    real_unseen = ray_engine.unseen_nodes
    monkeypatch.setattr(ray_engine, "unseen_nodes", lambda r, probe, token, bundle: real_unseen(r, probe + ".elsewhere", token, bundle))
    out = tmp_path / "new" / "out"
    with pytest.raises(UsageError, match=r"workers cannot use the shared paths: .*--out not visible at .*docs/generation.md"):
        dg.generate(dg.load_bundle(tabular_bundle), out, N, shard_size=SHARD, engine="ray")
    assert not (tmp_path / "new").exists()  # nothing written, no folder left behind


def test_unreachable_address_and_address_without_ray_engine_are_refused(tabular_bundle, tmp_path):
    from domaingen.cli import main

    port = _free_port()  # nothing listens there
    started = time.monotonic()
    assert main(["generate", str(tabular_bundle), "-n", "10", "--out", str(tmp_path / "a"), "--engine", "ray", "--address", f"127.0.0.1:{port}"]) == 2
    assert time.monotonic() - started < 30
    assert main(["generate", str(tabular_bundle), "-n", "10", "--out", str(tmp_path / "b"), "--address", "auto"]) == 2
    assert main(["generate", str(tabular_bundle), "-n", "10", "--out", str(tmp_path / "c"), "--engine", "ray", "--address", "nonsense"]) == 2
    assert not any((tmp_path / name).exists() for name in "abc")


def test_unreachable_address_message(tabular_bundle, tmp_path, capsys):
    from domaingen.cli import main

    port = _free_port()
    main(["generate", str(tabular_bundle), "-n", "10", "--out", str(tmp_path / "a"), "--engine", "ray", "--address", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert f"--address 127.0.0.1:{port}: no Ray cluster answers there" in err and "ray start --head" in err
    assert "Traceback" not in err
