"""The ``ray`` generation engine: shards as Ray tasks, in-process or on a running cluster.

Without an address, ``ray.init()`` starts Ray inside this process (one machine). With
``--address auto`` or ``--address HOST:PORT`` (``use_address``) the run connects to a
cluster started with ``ray start --head``. Shards are written by the workers, so the
output folder (and the bundle) must be on storage every node mounts at the same path:
``check_shared_paths`` refuses a run where a node does not see them. A task whose worker
dies is retried (``MAX_RETRIES``; shards are deterministic per (seed, shard), so a retry
writes the same bytes); a shard that still fails ends the run with an error after the
shards already running have finished and been recorded, so running the same command
again resumes (``generation.write_shards``). See docs/generation.md.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import os
import secrets
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import DomaingenError, UsageError
from .files import TEMP_NAME

__all__ = ["MAX_RETRIES", "PROBE_TIMEOUT_S", "use_address", "run_shards", "check_shared_paths"]

MAX_RETRIES = 3  # attempts after the first when a worker process or node dies
PROBE_TIMEOUT_S = 300.0  # a node that cannot start a worker this long is reported, not waited for
_FORWARDED_ENV = ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL", "DOMAINGEN_DEBUG")  # so workers decode as the driver would
_ADDRESS: contextvars.ContextVar[str | None] = contextvars.ContextVar("domaingen_ray_address", default=None)


@contextlib.contextmanager
def use_address(address: str | None) -> Iterator[None]:
    """Within the block, the ``ray`` engine connects to the cluster at ``address``
    (``auto`` or ``HOST:PORT``) instead of starting Ray in-process."""
    token = _ADDRESS.set(address)
    try:
        yield
    finally:
        _ADDRESS.reset(token)


def run_shards(run_shard: Callable[..., dict[str, Any]], bundle_path: str, opts: dict[str, Any], todo: list[int], sizes: list[int],
               seed: int, batch_size: int, fmt: str, out_dir: str, workers: int) -> Iterator[dict[str, Any]]:
    """Run the shards ``todo`` as Ray tasks, each calling ``run_shard(bundle_path, opts, k,
    count, seed, batch_size, fmt, out_dir)`` (the generation engine's worker entry, passed
    in so that this module does not import it back); yield each one's manifest entry as it
    completes.

    At most ``workers`` shards run at once when ``workers > 1``, else two per CPU of the
    cluster are queued. After a failure no new shard starts; those running finish (and are
    yielded, so the manifest records them) before the error is raised."""
    ray = _import_ray()
    address = _ADDRESS.get()
    owned = _connect(ray, address, workers)
    try:
        if address is not None or not owned:  # Ray started here, in-process, shares this machine's files
            check_shared_paths(ray, out_dir, bundle_path)
        task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)(_shard_task)
        limit = workers if workers > 1 else max(1, 2 * int(ray.cluster_resources().get("CPU", 1)))
        yield from _schedule(ray, task, (run_shard, bundle_path, opts, seed, batch_size, fmt, out_dir), todo, sizes, limit)
    finally:
        if owned:
            ray.shutdown()


def _shard_task(run_shard: Callable[..., dict[str, Any]], bundle_path: str, opts: dict[str, Any], k: int, count: int, seed: int,
                batch_size: int, fmt: str, out_dir: str) -> dict[str, Any]:
    """The Ray task: shard ``k`` by ``run_shard`` (which loads the bundle once per worker
    process), with the thread pools sized to the one CPU the task holds (set before Keras
    is imported: importing ``run_shard``'s module does not import it)."""
    from .cores import share_cores

    share_cores(1)
    return run_shard(bundle_path, opts, k, count, seed, batch_size, fmt, out_dir)


def _schedule(ray: Any, task: Any, common: tuple, todo: list[int], sizes: list[int], limit: int) -> Iterator[dict[str, Any]]:
    """Keep ``limit`` shard tasks in flight; yield entries as they complete; raise the first
    failure once the tasks already running have ended."""
    run_shard, bundle_path, opts, seed, batch_size, fmt, out_dir = common
    queue = collections.deque(todo)
    running: dict[Any, int] = {}
    failures: list[tuple[int, BaseException]] = []
    finished = 0
    try:
        while queue or running:
            while queue and not failures and len(running) < limit:
                k = queue.popleft()
                running[task.remote(run_shard, bundle_path, opts, k, sizes[k], seed, batch_size, fmt, out_dir)] = k
            if not running:
                break
            [ready], _ = ray.wait(list(running), num_returns=1)
            k = running.pop(ready)
            try:
                entry = ray.get(ready)
            except Exception as exc:  # a task error, or a worker / node lost after every retry
                failures.append((k, exc))
                continue
            finished += 1
            yield entry
    finally:
        if running:  # interrupted (Ctrl-C, the consumer failed): stop what still runs before the lock is released
            for ref in running:
                ray.cancel(ref, force=True)
            ray.wait(list(running), num_returns=len(running), timeout=30)
    if failures:
        raise _failure(ray, failures, finished, len(todo), out_dir)


def _failure(ray: Any, failures: list[tuple[int, BaseException]], finished: int, total: int, out_dir: str) -> BaseException:
    """The error that ends a run with failed shards: the shard's own error when the task
    raised one (a condition, a bundle problem), else a message on the lost worker."""
    k, exc = failures[0]
    cause = exc.cause if isinstance(exc, ray.exceptions.RayTaskError) else None
    if cause is not None:  # the shard's own error (DomaingenError: its message names the fix), not Ray's wrapper
        return cause
    others = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    attempts = f"{MAX_RETRIES + 1} attempt{'s' if MAX_RETRIES else ''}"
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DomaingenError(
        f"engine ray: shard {k}{others} failed after {attempts} ({type(exc).__name__}: {reason}); "
        f"{finished} of the {total} shards of this run finished and are recorded in {Path(out_dir) / 'manifest.json'}: "
        "run the same command again to generate the rest"
    )


# ------------------------------------------------------------------------------------------
# connecting


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError("engine 'ray' needs the ray package: pip install 'domaingen[ray]' (or use --workers N for local processes)") from None
    return ray


def _connect(ray: Any, address: str | None, workers: int) -> bool:
    """Connect to ``address`` (or start Ray in-process without one) unless this process is
    already connected; return whether this call made the connection (and must close it)."""
    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "logging_level": "ERROR"}
    if address is None:
        ray.init(num_cpus=workers if workers > 1 else None, include_dashboard=False, **quiet)
        return True
    if address != "auto":
        _check_reachable(address)
    env = {name: os.environ[name] for name in _FORWARDED_ENV if name in os.environ}
    try:
        ray.init(address=address, runtime_env={"env_vars": env} if env else None, **quiet)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        if _auth_refused(exc, ray.exceptions.AuthenticationError):
            raise UsageError(
                f"--address {address}: the Ray cluster there uses token authentication and refused this connection; "
                "export RAY_AUTH_MODE=token before running domaingen (Ray reads the cluster's token from ~/.ray/auth_token, "
                "RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN), or use --address auto on the head node"
            ) from None
        raise UsageError(
            f"--address {address}: could not connect to a Ray cluster ({type(exc).__name__}: {str(exc).strip()[:300]}); "
            "start one with `ray start --head` and pass the address it prints, or --address auto on its head node"
        ) from None
    return True


def _auth_refused(exc: BaseException | None, kind: type) -> bool:
    """Whether ``exc`` or an exception it was raised from is Ray's ``kind``
    (``AuthenticationError``), or carries its text (Ray re-raises it as a message)."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, kind) or "InvalidAuthToken" in str(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _check_reachable(address: str) -> None:
    """Refuse ``HOST:PORT`` with a message when nothing listens there (``ray.init`` would
    retry for minutes instead)."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UsageError(f"--address {address!r}: give HOST:PORT (the address `ray start --head` prints) or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise UsageError(
            f"--address {address}: no Ray cluster answers there ({exc.strerror or exc}); start one with "
            f"`ray start --head --port {port}` on that host, or pass the address it printed"
        ) from None


# ------------------------------------------------------------------------------------------
# shared storage


def check_shared_paths(ray: Any, out_dir: str, bundle_path: str) -> None:
    """Refuse the run unless every node with CPUs sees ``out_dir`` (a file with a random
    token written here is read back by a task on each node) and ``bundle_path``.

    Workers write the shards themselves, so a folder on a node's own disk would scatter
    the output over the nodes, or lose it."""
    prefix, suffix = TEMP_NAME.affixes(".domaingen-probe")  # a leftover is cleared like any temporary
    fd, probe = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=out_dir)
    token = secrets.token_hex(16)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(token)
        blind = unseen_nodes(ray, probe, token, bundle_path)
    finally:
        Path(probe).unlink(missing_ok=True)
    if blind:
        listing = "; ".join(f"{node} ({', '.join(what)})" for node, what in blind.items())
        raise UsageError(
            f"engine ray: the workers cannot use the shared paths: {listing}. Shards are written by the workers, so "
            f"--out {out_dir} and the bundle must be on storage every node mounts at the same path (NFS, a shared "
            "volume): see docs/generation.md"
        )


def unseen_nodes(ray: Any, probe: str, token: str, bundle_path: str) -> dict[str, list[str]]:
    """For each alive node with CPUs that does not see ``probe`` holding ``token`` or does
    not see ``bundle_path``: its address and what it misses."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
    look = ray.remote(num_cpus=0, max_retries=MAX_RETRIES)(_look)
    refs = {
        n["NodeManagerAddress"] + f" [{n['NodeID'][:8]}]": look.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote(probe, bundle_path)
        for n in nodes
    }
    ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=PROBE_TIMEOUT_S)
    blind: dict[str, list[str]] = {}
    for name, ref in refs.items():
        try:
            seen = ray.get(ref) if ref in ready else None
        except ray.exceptions.RayError:  # the node died, or could not start a worker
            seen = None
        missing = []
        if seen is None:
            missing.append(f"no answer from a worker there within {PROBE_TIMEOUT_S:.0f} s")
        else:
            if seen["probe"] != token:
                missing.append(f"--out not visible at {Path(probe).parent}")
            if not seen["bundle"]:
                missing.append(f"bundle not found at {bundle_path}")
        if missing:
            blind[name] = missing
    return blind


def _look(probe: str, bundle_path: str) -> dict[str, Any]:
    """On a node: the probe file's content (``None`` if absent) and whether the bundle exists."""
    try:
        content: str | None = Path(probe).read_text(encoding="ascii")
    except OSError:
        content = None
    return {"probe": content, "bundle": Path(bundle_path).exists()}
