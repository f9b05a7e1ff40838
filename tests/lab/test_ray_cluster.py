"""A multi-node Ray sweep on one machine: a head and two worker "nodes", each its own ``ray start``
process tree on the loopback address (own port, temp dir and CPU count), a sweep driven through the
CLI with ``--backend ray --address 127.0.0.1:PORT``, and one worker node SIGKILLed (every process of
its tree, by id) while it trains a run. Its run must be retried on the other node, the store must
lose nothing and hold each run once, and every run must equal the local backend's, bit for bit.

Bounded: every wait has a deadline, every subprocess a timeout; the fixture's finalizer kills the
process trees this test started (by pid), whatever happened. Linux only (process trees from /proc).
Slow (about 1-3 minutes on a loaded 2-core machine): three Ray nodes start and 4 runs train twice."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from proc_tree import command, descendants, kill_tree
from test_runner import CORPUS

from conftest import run_cli
from scalinglab.stores.run_store import RunStore

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process trees from /proc")]
ray = pytest.importorskip("ray")

RAY = str(Path(sys.executable).with_name("ray"))
SRC = str(Path(__file__).resolve().parents[2] / "src")
START_SECONDS, SWEEP_SECONDS = 120, 420
# 4 runs of 640 steps (10 evaluations each), a few seconds each on one CPU
SWEEP = ["sweep", "--design", "grid", "--params", "3.2e3,6e3", "--tokens", "81920,102400", "--seq-len", "16",
         "--batch-size", "8", "--corpus", CORPUS, "--json"]
VARYING = ["started_at", "finished_at", "wall_seconds"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A head (no CPUs: it runs no task) and worker nodes "a" and "b" (1 CPU each) on 127.0.0.1."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="slray-", dir="/tmp"))  # short: Ray's unix sockets live here
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]),
                    "RAY_USAGE_STATS_ENABLED": "0",  # a token of this cluster's own (not ~/.ray's)
                    "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        self.env.pop("RAY_ADDRESS", None)
        self.nodes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *extra: str) -> None:
        args = [RAY, "start", "--block", "--node-ip-address", "127.0.0.1", "--temp-dir", str(self.root / name),
                "--dashboard-agent-listen-port", str(_free_port()), "--object-store-memory", str(100 * 2**20),
                "--include-log-monitor", "false", "--disable-usage-stats", *extra]
        log = (self.root / f"{name}.log").open("w")
        self.nodes[name] = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def up(self) -> None:
        self.start("head", "--head", "--port", str(self.port), "--num-cpus", "0", "--include-dashboard", "false",
                   "--dashboard-port", str(_free_port()), "--ray-client-server-port", str(_free_port()))
        self._until(lambda: self._listening(), "the head's port to open")
        for name in ("a", "b"):
            self.start(name, "--address", self.address, "--num-cpus", "1")
        self._until(lambda: "0.0/2.0 CPU" in self._status(), "both worker nodes to join")

    def raylet(self, name: str) -> int | None:
        return next((p for p in descendants(self.nodes[name].pid) if "raylet/raylet" in command(p)), None)

    def busy(self, name: str) -> bool:
        """Whether node ``name`` is running a sweep task now (a worker titled ``ray::_task``)."""
        raylet = self.raylet(name)
        return raylet is not None and any(command(p).startswith("ray::_task") for p in descendants(raylet))

    def kill(self, name: str) -> list[int]:
        return kill_tree(self.nodes[name].pid)

    def down(self) -> None:
        for proc in self.nodes.values():
            kill_tree(proc.pid)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        return "".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in self.root.glob("*.log"))

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def _status(self) -> str:
        done = subprocess.run([RAY, "status", "--address", self.address], env=self.env, capture_output=True,
                              text=True, timeout=60, check=False)
        return done.stdout

    def _until(self, ready, what: str, seconds: float = START_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            dead = [n for n, p in self.nodes.items() if p.poll() is not None]
            assert not dead, f"ray node(s) {dead} exited while waiting for {what}:\n{self.logs()}"
            if ready():
                return
            time.sleep(1)
        raise AssertionError(f"timed out after {seconds} s waiting for {what}:\n{self.logs()}")


@pytest.fixture
def cluster():
    c = Cluster()
    try:  # the finalizer below runs even when starting fails half-way
        c.up()
        yield c
    finally:
        c.down()


def _progress(db: Path) -> tuple[int, int]:
    """(runs finished, evaluations stored of running runs), read without writing."""
    if not db.exists():
        return 0, 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        finished = con.execute("SELECT COUNT(*) FROM runs WHERE status = 'finished'").fetchone()[0]
        evals = con.execute("SELECT COUNT(*) FROM metrics JOIN runs ON runs.id = metrics.run_id "
                            "WHERE runs.status = 'running'").fetchone()[0]
        return finished, evals
    except sqlite3.OperationalError:  # tables not there yet
        return 0, 0
    finally:
        con.close()


def _frames(db: Path):
    with RunStore(db, readonly=True) as store:
        return store.runs_frame().drop(columns=VARYING), store.metrics_frame(), store.integrity_ok()


def test_a_killed_worker_node_loses_nothing(cluster: Cluster, tmp_path: Path, monkeypatch, capsys) -> None:
    started = time.monotonic()
    ray_db, local_db = tmp_path / "ray.db", tmp_path / "local.db"
    driver = subprocess.Popen([sys.executable, "-m", "scalinglab.cli", *SWEEP, "--store", str(ray_db), "--backend",
                               "ray", "--address", cluster.address, "--max-retries", "2"], env=cluster.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline, killed = time.monotonic() + SWEEP_SECONDS, None
        while time.monotonic() < deadline and driver.poll() is None:
            finished, evals = _progress(ray_db)
            if finished < 4 and evals > 0 and cluster.busy("b"):  # node b is mid-run: kill all of it
                killed = (finished, cluster.kill("b"))
                break
            time.sleep(0.2)
        assert killed is not None, f"node b never trained a run:\n{driver.communicate(timeout=60)}"
        out, err = driver.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        kill_tree(driver.pid)  # a no-op once it has exited
    assert driver.returncode == 0, err[-3000:] + cluster.logs()
    assert "retrying (1 of 2)" in err, err[-3000:]  # node b's run was submitted again ...
    assert cluster.nodes["b"].poll() is not None and cluster.nodes["a"].poll() is None  # ... and ran on node a
    ray_rows = json.loads(out)
    assert [r["status"] for r in ray_rows] == ["finished"] * 4

    at = SWEEP.index("--json")
    code, local_out, local_err = run_cli([*SWEEP[:at], "--workers", "1", "--json", "--store", local_db], monkeypatch,
                                         capsys)
    assert code == 0, local_err
    assert ray_rows == json.loads(local_out)  # ids, params, tokens, FLOPs and losses, bit for bit
    runs, metrics, ok = _frames(ray_db)
    local_runs, local_metrics, _ = _frames(local_db)
    assert ok and runs.equals(local_runs)  # statuses, configs, devices, losses: nothing lost or changed
    assert metrics.equals(local_metrics) and len(metrics) == 4 * 10  # each evaluation once, as trained locally
    print(f"multi-node sweep with a node killed: {time.monotonic() - started:.0f} s "
          f"(node b killed after {killed[0]} finished runs)", file=sys.stderr)
