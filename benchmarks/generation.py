"""Generation benchmark: records per second end to end versus workers, memory per worker,
and the fixed cost of a shard.

Two bundles are trained quickly first (not measured): a VAE of scikit-learn's breast-cancer
table (``--epochs``, default 2) and a small class-conditional conv VAE of its 8x8 digits.
Then every (domain, engine) row runs ``domaingen generate`` as a user does, in a fresh
process, from the bundle to the manifest:

- engines: ``local`` (1 worker, in the command's process), ``processes`` with 2 worker
  processes, and ``ray`` with 2 workers on a local cluster started for the benchmark with
  ``ray start --head --num-cpus 2`` (``--address HOST:PORT``; stopped at the end);
- records/s: records / wall seconds of the whole command (interpreter start, imports and
  bundle loading included), and the ratio to the local engine's;
- peak RSS per worker: each process that generates shards (the command itself for
  ``local``, its spawned workers for ``processes``, the Ray workers that ran a shard task
  for ``ray``) has its ``VmHWM`` (peak resident set size) sampled every 0.2 s from
  ``/proc``; the table shows the largest. Every row runs at ``N`` and at ``N / 10``: the
  peak must stay flat (bounded by the shard: ``--tabular-shard`` / ``--images-shard``
  records held at once), not grow with ``N``;
- overhead per shard: the seconds of a 1-record ``write_shards`` run (a whole shard:
  model call, decode, write, checksum, manifest), median of 5 after a warm-up, in one
  process with the bundle loaded.

Do not run it at full size on a shared machine. Linux only (``/proc``).

    python benchmarks/generation.py                                   # 10,000,000 rows, 100,000 images
    python benchmarks/generation.py --rows 200000 --images 2000       # a quick check
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ENGINES = (("local", 1), ("processes", 2), ("ray", 2))
RAY_TASK = b"ray::_shard_task"  # a Ray worker's title while it runs domaingen.ray_engine._shard_task


def main() -> None:
    args = _parse()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("RAY_AUTH_MODE", "token")  # a `ray start` cluster asks a driver given its address for its token
    work = Path(tempfile.mkdtemp(prefix="dg-genbench-", dir=args.work_dir))
    try:
        bundles = _train_bundles(work, args.epochs)
        domains = [("tabular", bundles["tabular"], args.rows, args.tabular_shard, args.tabular_batch),
                   ("images", bundles["images"], args.images, args.images_shard, args.images_batch)]  # fmt: skip
        overhead = {name: shard_overhead(path) for name, path, *_ in domains}
        with local_cluster(2) as address:
            rows = []
            for name, path, n, shard, batch in domains:
                for count in sorted({max(1, n // 10), n}):
                    for engine, workers in ENGINES:
                        out = work / f"{name}-{engine}-{count}"
                        row = run_generate(path, out, count, shard, batch, engine, workers, address if engine == "ray" else None)
                        rows.append({"domain": name, "engine": engine, "workers": workers, "n": count, **row})
                        shutil.rmtree(out, ignore_errors=True)
                        print(_line(rows[-1]), flush=True)
        print()
        print_table(rows, overhead)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=10_000_000, help="tabular rows (the largest N; N/10 runs too)")
    p.add_argument("--images", type=int, default=100_000, help="images (the largest M; M/10 runs too)")
    p.add_argument("--tabular-shard", type=int, default=100_000, help="rows per shard")
    p.add_argument("--tabular-batch", type=int, default=20_000, help="rows per model call")
    p.add_argument("--images-shard", type=int, default=1_000, help="images per shard")
    p.add_argument("--images-batch", type=int, default=500, help="images per model call")
    p.add_argument("--epochs", type=int, default=2, help="training epochs of the two bundles (speed only: quality is not measured)")
    p.add_argument("--work-dir", default=None, help="where the bundles and outputs go (default: the system's temporary folder)")
    return p.parse_args()


# ------------------------------------------------------------------------------------------
# bundles and the per-shard cost


def _train_bundles(work: Path, epochs: int) -> dict[str, Path]:
    """A tabular and an images bundle, trained for ``epochs`` (seconds)."""
    import domaingen as dg

    recipes = {
        "tabular": {"data": {"plugin": "tabular", "source": "sklearn:breast_cancer"},
                    "model": {"family": "vae", "options": {"latent_dim": 16, "hidden": [64, 64]}},
                    "train": {"epochs": epochs, "batch_size": 256}, "generate": {"format": "csv"}},
        "images": {"data": {"plugin": "images", "source": "sklearn:digits", "options": {"channels": 1}},
                   "model": {"family": "vae", "options": {"latent_dim": 8, "conv_filters": [16, 32]}},
                   "train": {"epochs": epochs, "batch_size": 128}},
    }  # fmt: skip
    paths = {}
    for name, body in recipes.items():
        recipe = dg.recipe_from_dict({"schema_version": 1, "name": f"genbench-{name}", "seed": 0, **body, "evaluate": {"enabled": False}})
        started = time.perf_counter()
        dg.train(recipe, work / f"bundle-{name}")
        print(f"trained the {name} bundle in {time.perf_counter() - started:.1f} s", flush=True)
        paths[name] = work / f"bundle-{name}"
    return paths


def shard_overhead(bundle_path: Path, repeats: int = 5) -> float:
    """Median seconds of a 1-record ``write_shards`` run, after one warm-up run."""
    import domaingen as dg
    from domaingen.generation import write_shards

    bundle = dg.load_bundle(bundle_path)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats + 1):
            started = time.perf_counter()
            write_shards(bundle, Path(tmp) / str(i), 1)
            times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


# ------------------------------------------------------------------------------------------
# one measured command


def run_generate(bundle: Path, out: Path, n: int, shard: int, batch: int, engine: str, workers: int, address: str | None) -> dict:
    """Run ``domaingen generate`` in a fresh process; its seconds, records/s and the peak
    RSS of each process that generated shards."""
    command = [sys.executable, "-m", "domaingen.cli", "--quiet", "generate", str(bundle), "-n", str(n), "--out", str(out),
               "--shard-size", str(shard), "--batch-size", str(batch), "--engine", engine, "--workers", str(workers)]  # fmt: skip
    if address:
        command += ["--address", address]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = PeakSampler(_generating_processes(engine, proc.pid))
    sampler.start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    if proc.returncode != 0:
        return {"error": err.strip().splitlines()[-1] if err.strip() else f"exit code {proc.returncode}", "seconds": seconds}
    peaks = sampler.peaks
    return {"seconds": seconds, "per_s": n / seconds, "peak_mib": max(peaks.values()) / 1024 if peaks else float("nan"), "procs": len(peaks)}


def _generating_processes(engine: str, root: int):
    """A function listing the pids that generate shards for ``engine`` (``root``: the command)."""
    if engine == "local":
        return lambda: [root]
    if engine == "processes":
        return lambda: [pid for pid in _descendants(root) if b"multiprocessing.spawn" in _cmdline(pid)]
    return lambda: [pid for pid in _all_pids() if _cmdline(pid).startswith(RAY_TASK)]


class PeakSampler(threading.Thread):
    """Samples ``VmHWM`` (peak RSS, KiB) of the processes ``pids()`` lists, every 0.2 s; a
    process seen once is followed until it exits (a Ray worker between two tasks is idle)."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.peaks, self.stop = pids, {}, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in set(self.pids()) | set(self.peaks):
                hwm = _vm_hwm(pid)
                if hwm is not None:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), hwm)
            self.stop.wait(0.2)


def _vm_hwm(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _descendants(root: int) -> list[int]:
    """The processes below ``root`` (children, their children...)."""
    parents = {}
    for pid in _all_pids():
        try:
            parents[pid] = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            pass
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


# ------------------------------------------------------------------------------------------
# a local Ray cluster, as a user starts one


class local_cluster:
    """``ray start --head --num-cpus N`` in a session of its own; on exit its processes are
    stopped (``ray stop`` would stop every Ray cluster of this user on the machine)."""

    def __init__(self, cpus: int):
        self.cpus = cpus

    def __enter__(self) -> str:
        self.temp = tempfile.mkdtemp(prefix="dg-ray-", dir="/tmp")  # short: Ray's socket paths are limited
        token = Path(self.temp) / "auth_token"  # the cluster's token, for `ray start` and the drivers (not ~/.ray)
        token.write_text(secrets.token_hex(32), encoding="utf-8")
        token.chmod(0o600)
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(token)
        port, client_port, agent_port = _free_ports(3)
        command = [shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray", "start", "--head", "--num-cpus", str(self.cpus),
                   "--port", str(port), "--disable-usage-stats", "--temp-dir", self.temp, "--include-dashboard", "false",
                   "--ray-client-server-port", str(client_port), "--dashboard-agent-listen-port", str(agent_port)]  # fmt: skip
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        self.proc = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output, _ = self.proc.communicate(timeout=300)
        if self.proc.returncode != 0:
            self.__exit__()
            raise SystemExit(f"ray start failed:\n{output}")
        return f"127.0.0.1:{port}"

    def __exit__(self, *exc) -> None:
        session = self.proc.pid
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in _session(session):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 10
            while _session(session) and time.monotonic() < deadline:
                time.sleep(0.2)
        shutil.rmtree(self.temp, ignore_errors=True)


def _session(session: int) -> list[int]:
    pids = []
    for pid in _all_pids():
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
            if os.getsid(pid) == session and state != "Z":
                pids.append(pid)
        except (OSError, IndexError):
            pass
    return pids


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


# ------------------------------------------------------------------------------------------
# output


def _line(row: dict) -> str:
    if "error" in row:
        return f"{row['domain']:<8} {row['engine']:<10} n={row['n']:,}: ERROR {row['error']}"
    return f"{row['domain']:<8} {row['engine']:<10} n={row['n']:<11,} {row['seconds']:8.1f} s {row['per_s']:12,.0f} records/s  peak {row['peak_mib']:7.0f} MiB"


def print_table(rows: list[dict], overhead: dict[str, float]) -> None:
    """The results, with each row's records/s over the local engine's at the same N."""
    local = {(r["domain"], r["n"]): r.get("per_s") for r in rows if r["engine"] == "local"}
    print("| domain | engine | workers | N | seconds | records/s | x local (1 worker) | peak RSS per worker MiB | worker processes |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        if "error" in r:
            print(f"| {r['domain']} | {r['engine']} | {r['workers']} | {r['n']:,} | error: {r['error']} | | | | |")
            continue
        base = local.get((r["domain"], r["n"]))
        ratio = f"{r['per_s'] / base:.2f}" if base else "-"
        print(f"| {r['domain']} | {r['engine']} | {r['workers']} | {r['n']:,} | {r['seconds']:.1f} | {r['per_s']:,.0f} | {ratio} | {r['peak_mib']:.0f} | {r['procs']} |")
    print()
    for name, seconds in overhead.items():
        print(f"overhead per shard ({name}, a 1-record write_shards run, warm): {seconds * 1000:.1f} ms")
    print("peak RSS per worker: the largest VmHWM among the processes that generated shards; compare N and N/10 rows (flat = bounded by the shard)")


if __name__ == "__main__":
    main()
