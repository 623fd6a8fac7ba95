"""The prediction stage on a started Ray cluster: a head and a worker node, each started by its own `ray start`
on the loopback, sharing a store folder; a worker killed mid-run is started again and the evidence is the
single-process run's."""

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from safety_harness.run.prediction_cache import PredictionCache
from tests.conftest import PROJECT_ROOT, deterministic_sections, read_evidence, suite_command, suite_environment

#: the nodes' address: on the loopback, but not 127.0.0.1, which `ray start` replaces with this machine's
#: network address (ray._private.services.resolve_ip_for_localhost)
NODE_IP = "127.0.0.2"
#: the clean images and 15 weather conditions on the stop signs: a few dozen shards
SELECTION = ("-k", "SR-STOP-RECALL or SR-WEATHER-STOP-RECALL")


@dataclass
class RayCluster:
    """A head and a worker node, each the `ray start --block` process leading its own session: every process
    of a node (its raylet, its workers) is in that session, and only they are."""

    address: str
    #: what a driver needs in its environment to join: the cluster's own token (a token in ~/.ray, which other
    #: Ray instances on the machine write, would otherwise turn authentication on for the head alone)
    environment: dict
    head: subprocess.Popen
    worker: subprocess.Popen

    def processes(self, node: subprocess.Popen) -> dict[int, str]:
        return session_processes({node.pid})


def session_processes(sessions: set[int]) -> dict[int, str]:
    """The live processes (zombies left out) of the sessions led by ``sessions``: pid to command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ended = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
            if not ended and os.getsid(int(entry.name)) in sessions:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # it ended meanwhile
            continue
    return found


def free_port() -> int:
    """A port free on every interface: Ray's servers listen on all of them (the probe does not listen)."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def start_node(temp_dir: Path, environment: dict, name: str, *options) -> subprocess.Popen:
    """`ray start --block` with one CPU on NODE_IP, its own ports (none of Ray's fixed defaults, which another
    Ray on this machine may hold) and ``temp_dir``; returns once the node runs."""
    ports = [f"--{option}={free_port()}" for option in (
        "node-manager-port", "object-manager-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
        "runtime-env-agent-port", "metrics-export-port")]
    log = temp_dir / f"{name}.log"
    with log.open("w") as output:
        node = subprocess.Popen(
            [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", f"--node-ip-address={NODE_IP}",
             "--num-cpus=1", f"--temp-dir={temp_dir}", "--object-store-memory=100000000", "--disable-usage-stats",
             *ports, *options],
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **environment})
    deadline = time.monotonic() + 120
    while "Ray runtime started" not in log.read_text():
        if node.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the Ray {name} node did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return node


@pytest.fixture
def ray_cluster():
    """A started Ray cluster of two nodes on NODE_IP; stopped afterwards, failed test or not, and no process of
    it left (only its own processes are stopped: `ray stop` would end every Ray on the machine)."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (requirements-ray.txt; `make test` installs it)")
    if not sys.platform.startswith("linux"):
        pytest.skip("a Ray cluster of several nodes on one machine needs Linux (its processes are found in /proc)")
    temp_dir = Path(tempfile.mkdtemp(prefix="ray-"))  # short: Ray's socket paths must fit in 107 characters
    environment = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
                   "RAY_USAGE_STATS_ENABLED": "0"}  # no usage report leaves the machine
    nodes = []
    try:
        gcs_port = free_port()
        nodes.append(start_node(temp_dir, environment, "head", "--head", f"--port={gcs_port}",
                                "--include-dashboard=false", f"--ray-client-server-port={free_port()}"))
        nodes.append(start_node(temp_dir, environment, "worker", f"--address={NODE_IP}:{gcs_port}"))
        yield RayCluster(f"{NODE_IP}:{gcs_port}", environment, *nodes)
    finally:
        left = stop(nodes)
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not left, f"processes of the Ray cluster still ran after it was stopped, killed: {left}"


def stop(nodes: list[subprocess.Popen]) -> dict[int, str]:
    """Stop each node (SIGTERM: `ray start --block` then ends its processes), kill whatever of theirs still runs
    after 30 s, and return what had to be killed."""
    for node in reversed(nodes):
        node.terminate()
    for node in nodes:
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait(timeout=30)
    left = session_processes({node.pid for node in nodes})
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + 30
    while session_processes({node.pid for node in nodes}) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_a_started_cluster_with_a_worker_killed_mid_run_gives_the_single_process_evidence(
        ray_cluster, run_safety_suite, tmp_path):
    single = run_safety_suite(*SELECTION, name="single-process")
    store = tmp_path / "store"  # the folder both nodes reach: on one machine, any folder
    command = suite_command(tmp_path, *SELECTION, "--no-cache", f"--ray-address={ray_cluster.address}",
                            "--ray-workers=2", f"--ray-store={store}")
    with (tmp_path / "output.log").open("w") as output:
        run = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=output, stderr=subprocess.STDOUT,
                               env=suite_environment(**ray_cluster.environment))
    try:
        killed, stored_then = kill_the_worker_nodes_model_holder_once_it_has_stored(ray_cluster, run, store)
        returncode = run.wait(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    output = (tmp_path / "output.log").read_text()
    assert returncode == single.returncode == 0, output
    entries = sorted(store.rglob("*.npz"))
    assert len(entries) > stored_then, f"the run stored nothing after {killed} was killed"
    # every entry whole: it names its key (its file name) and matches its digest
    assert all(PredictionCache(store).load(entry.stem, "shard") is not None for entry in entries)
    distributed = read_evidence(tmp_path / "evidence.json")
    ingest_stages = {stage: outcome for stage, outcome in distributed["predictions_from"].items()
                     if stage.startswith("ingest ")}
    assert len(ingest_stages) == 16
    assert set(ingest_stages.values()) == {f"computed on Ray at {ray_cluster.address}, 2 worker(s)"}
    assert ({**deterministic_sections(distributed), "predictions_from": None}
            == {**deterministic_sections(single.evidence), "predictions_from": None})


def kill_the_worker_nodes_model_holder_once_it_has_stored(cluster: RayCluster, run: subprocess.Popen,
                                                         store: Path) -> tuple[str, int]:
    """SIGKILL the worker node's shard predictor (a Ray actor's process) while it predicts a shard, once the
    store holds one; return its command line and how many shards were stored then."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and run.poll() is None:
        holders = {pid: line for pid, line in cluster.processes(cluster.worker).items()
                   if line.startswith("ray::ShardPredictor.predict")}  # Ray's title while it runs a shard
        stored = len(list(store.rglob("*.npz"))) if store.exists() else 0
        if holders and stored:
            pid, line = next(iter(holders.items()))
            os.kill(pid, signal.SIGKILL)
            return line.strip(), stored
        time.sleep(0.1)
    raise AssertionError("the worker node's shard predictor never started while the run was storing shards")
