"""Run real Apache Cassandra 5.0 nodes on this machine, from the jars Maven resolved.

Usage::

    python -m devtools.cassandra.node start  [--nodes 1|3] [--dir var/cassandra]
                                             [--address 127.0.0.1]
    python -m devtools.cassandra.node status [--nodes 1|3] [--dir var/cassandra]
    python -m devtools.cassandra.node stop   [--nodes 1|3] [--dir var/cassandra]

Node ``i`` (1-based) listens on the ``i``-th address counted from ``--address`` (127.0.0.1,
127.0.0.2, ...) with the standard ports, keeps everything under ``DIR/node<i>/`` (``conf``,
``data``, ``logs``, ``cassandra.pid``) and runs detached from the launcher. The jars come from
``make cassandra-install`` (``var/cassandra/lib``). Tests drive the same code through
:class:`LocalCluster`.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from devtools.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO_ROOT / "var" / "cassandra"
DEFAULT_LIB = DEFAULT_DIR / "lib"
JAVA_HOME = Path(os.environ.get("DIGITS_JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64"))
CLUSTER_NAME = "digits"
DATACENTER = "datacenter1"
CQL_PORT = 9042
STORAGE_PORT = 7000
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
MAIN_CLASS = "org.apache.cassandra.service.CassandraDaemon"
# Cassandra's built-in first superuser (public knowledge, local nodes only).
DEFAULT_SUPERUSER = ("cassandra", "cassandra")

# Cassandra reaches into JDK internals; on JDK 17 it dies at start without these openings.
_JDK17_MODULE_FLAGS = [
    "-Djdk.attach.allowAttachSelf=true",
    *(
        f"--add-exports={target}=ALL-UNNAMED"
        for target in (
            "java.base/jdk.internal.misc",
            "java.base/java.lang.ref",
            "java.management.rmi/com.sun.jmx.remote.internal.rmi",
            "java.rmi/sun.rmi.registry",
            "java.rmi/sun.rmi.server",
            "java.sql/java.sql",
            "jdk.unsupported/sun.misc",
            "jdk.compiler/com.sun.tools.javac.file",
            "jdk.attach/sun.tools.attach",
        )
    ),
    *(
        f"--add-opens={target}=ALL-UNNAMED"
        for target in (
            "java.base/java.io",
            "java.base/java.lang",
            "java.base/java.lang.module",
            "java.base/java.lang.reflect",
            "java.base/java.util",
            "java.base/jdk.internal.loader",
            "java.base/jdk.internal.math",
            "java.base/jdk.internal.module",
            "java.base/jdk.internal.ref",
            "java.base/jdk.internal.reflect",
            "java.base/jdk.internal.util.jar",
            "java.base/sun.nio.ch",
            "jdk.compiler/com.sun.tools.javac",
            "jdk.management/com.sun.management.internal",
        )
    ),
]


class NodeError(RuntimeError):
    """A node could not be started, reached or stopped."""


@dataclass(frozen=True)
class Node:
    """One node of a local cluster: where it listens and where it keeps its files."""

    index: int
    address: str
    home: Path
    seeds: tuple[str, ...]
    token: int
    heap_mb: int = 512
    auth: bool = False

    @property
    def conf_dir(self) -> Path:
        """Generated cassandra.yaml and logback.xml."""
        return self.home / "conf"

    @property
    def data_dir(self) -> Path:
        """Data, commit log, hints and caches."""
        return self.home / "data"

    @property
    def log_dir(self) -> Path:
        """system.log and the JVM's own output."""
        return self.home / "logs"

    @property
    def log_file(self) -> Path:
        """The node's main log."""
        return self.log_dir / "system.log"

    @property
    def pid_file(self) -> Path:
        """Process id of the running JVM."""
        return self.home / "cassandra.pid"


def balanced_tokens(count: int) -> list[int]:
    """Murmur3 tokens that split the ring evenly between ``count`` single-token nodes."""
    step = 2**64 // count
    return [i * step - 2**63 for i in range(count)]


def cassandra_yaml(node: Node) -> str:
    """The node's cassandra.yaml (5.0 option names; unknown keys are rejected by the loader)."""
    data = node.data_dir
    seeds = ",".join(f"{seed}:{STORAGE_PORT}" for seed in node.seeds)
    config = {
        "cluster_name": CLUSTER_NAME,
        "num_tokens": 1,
        "initial_token": str(node.token),
        "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner",
        "endpoint_snitch": "SimpleSnitch",
        "listen_address": node.address,
        "rpc_address": node.address,
        "storage_port": STORAGE_PORT,
        "native_transport_port": CQL_PORT,
        "start_native_transport": True,
        "auto_bootstrap": False,
        "data_file_directories": [str(data / "data")],
        "commitlog_directory": str(data / "commitlog"),
        "saved_caches_directory": str(data / "saved_caches"),
        "hints_directory": str(data / "hints"),
        "cdc_raw_directory": str(data / "cdc_raw"),
        "commitlog_sync": "periodic",
        "commitlog_sync_period": "10000ms",
        "commitlog_segment_size": "32MiB",
        "auto_snapshot": False,
        "disk_access_mode": "standard",
        "memtable_heap_space": "64MiB",
        "memtable_offheap_space": "64MiB",
        "key_cache_size": "8MiB",
        "concurrent_reads": 8,
        "concurrent_writes": 16,
        # With auth, Cassandra creates the well-known superuser cassandra/cassandra at first
        # start: fine for a local node, whose users then create their own roles.
        "authenticator": "PasswordAuthenticator" if node.auth else "AllowAllAuthenticator",
        "authorizer": "CassandraAuthorizer" if node.auth else "AllowAllAuthorizer",
        "seed_provider": [
            {
                "class_name": "org.apache.cassandra.locator.SimpleSeedProvider",
                "parameters": [{"seeds": seeds}],
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def logback_xml() -> str:
    """Logging to ``${cassandra.logdir}/system.log``, rolled, nothing on stdout."""
    return """<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>${cassandra.logdir}/system.log</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.FixedWindowRollingPolicy">
      <fileNamePattern>${cassandra.logdir}/system.log.%i.zip</fileNamePattern>
      <minIndex>1</minIndex>
      <maxIndex>5</maxIndex>
    </rollingPolicy>
    <triggeringPolicy class="ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy">
      <maxFileSize>20MB</maxFileSize>
    </triggeringPolicy>
    <encoder>
      <pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="FILE"/>
  </root>
</configuration>
"""


def jvm_command(node: Node, lib_dir: Path) -> list[str]:
    """The full ``java`` command line that runs ``node``."""
    jamm = sorted(lib_dir.glob("jamm-*.jar"))
    if not jamm:
        raise NodeError(f"no Cassandra jars in {lib_dir}: run `make cassandra-install` first")
    return [
        str(JAVA_HOME / "bin" / "java"),
        f"-Xms{node.heap_mb}M",
        f"-Xmx{node.heap_mb}M",
        "-XX:+UseG1GC",
        "-XX:+ExitOnOutOfMemoryError",
        "-Xss256k",
        f"-javaagent:{jamm[0]}",
        *_JDK17_MODULE_FLAGS,
        "-Dio.netty.tryReflectionSetAccessible=true",
        f"-Dcassandra.config=file://{node.conf_dir / 'cassandra.yaml'}",
        f"-Dcassandra.storagedir={node.data_dir}",
        f"-Dcassandra.logdir={node.log_dir}",
        f"-Dcassandra.triggers_dir={node.conf_dir / 'triggers'}",
        f"-Dlogback.configurationFile={node.conf_dir / 'logback.xml'}",
        "-Dcassandra-foreground=yes",
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        "-Dcassandra.superuser_setup_delay_ms=0",
        "-cp",
        f"{lib_dir}/*",
        MAIN_CLASS,
    ]


def read_pid(node: Node) -> int | None:
    """The pid of the node's JVM if it is running, else None (stale pid files are ignored)."""
    try:
        pid = int(node.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _is_our_jvm(pid, node) else None


def _is_our_jvm(pid: int, node: Node) -> bool:
    """True when ``pid`` is alive and is the Cassandra JVM of ``node`` (guards pid reuse)."""
    _reap(pid)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z" and MAIN_CLASS in cmdline and str(node.conf_dir) in cmdline


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our own finished child (no zombies)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def cql_port_open(address: str, port: int = CQL_PORT, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on the node's CQL port."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def cql_answers(address: str, port: int = CQL_PORT, auth: bool = False) -> bool:
    """True when the node answers a CQL query (not just an open port).

    With ``auth`` the query logs in as the default superuser, so a node counts as ready only
    once that role exists.
    """
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import WhiteListRoundRobinPolicy

    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([address]))
    cluster = Cluster(
        [address],
        port=port,
        protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=5,
        auth_provider=PlainTextAuthProvider(*DEFAULT_SUPERUSER) if auth else None,
    )
    try:
        session = cluster.connect()
        session.execute("SELECT release_version FROM system.local", timeout=5)
        return True
    except Exception:  # any failure only means "not yet"
        return False
    finally:
        cluster.shutdown()


def log_tail(node: Node, lines: int = 30) -> str:
    """The last lines of the node's log (or its JVM output), for error messages."""
    for path in (node.log_file, node.log_dir / "jvm.out"):
        if path.exists() and path.stat().st_size:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log yet)"


def _print(message: str) -> None:
    print(f"[cassandra] {message}", flush=True)


class LocalCluster:
    """One or more local nodes sharing a base directory; the API tests and the CLI use.

    Args:
        base_dir: Each node keeps its files in ``base_dir/node<i>``.
        nodes: Number of nodes (1 for development, 3 for fault tests).
        first_address: Address of node 1; node ``i`` gets the ``i-1``-th next address.
        lib_dir: Directory with the Cassandra jars.
        heap_mb: JVM heap per node.
        auth: Require passwords (PasswordAuthenticator, superuser cassandra/cassandra).
    """

    def __init__(
        self,
        base_dir: Path = DEFAULT_DIR,
        nodes: int = 1,
        first_address: str = "127.0.0.1",
        lib_dir: Path = DEFAULT_LIB,
        heap_mb: int = 512,
        auth: bool = False,
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster has at least one node")
        first = ipaddress.IPv4Address(first_address)
        addresses = tuple(str(first + i) for i in range(nodes))
        tokens = balanced_tokens(nodes)
        self.base_dir = Path(base_dir).resolve()
        self.lib_dir = Path(lib_dir).resolve()
        self.nodes = [
            Node(
                i + 1,
                addresses[i],
                self.base_dir / f"node{i + 1}",
                addresses,
                tokens[i],
                heap_mb,
                auth,
            )
            for i in range(nodes)
        ]
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def contact_points(self) -> list[str]:
        """Addresses a client connects to."""
        return [node.address for node in self.nodes]

    def store_url(self, keyspace: str) -> str:
        """The ``DIGITS_STORE_URL`` that points the service at this cluster."""
        return f"cassandra://{','.join(self.contact_points)}:{CQL_PORT}/{keyspace}"

    def node(self, index: int) -> Node:
        """Node ``index`` (1-based)."""
        return self.nodes[index - 1]

    def start(self, timeout: float = START_TIMEOUT_S) -> float:
        """Start every node that is not running and wait until all answer CQL.

        Returns:
            Seconds from launch until the last node answered.
        """
        began = time.monotonic()
        for node in self.nodes:
            self._launch(node)
        for node in self.nodes:
            self._wait_ready(node, began, timeout)
        elapsed = time.monotonic() - began
        _print(f"{len(self.nodes)} node(s) ready in {elapsed:.1f} s")
        return elapsed

    def start_node(self, index: int, timeout: float = START_TIMEOUT_S) -> float:
        """Start one node (again) and wait until it answers CQL; returns the seconds it took."""
        node = self.node(index)
        began = time.monotonic()
        self._launch(node)
        self._wait_ready(node, began, timeout)
        return time.monotonic() - began

    def stop(self) -> None:
        """Stop every node (SIGTERM to all at once, then SIGKILL after a grace period)."""
        stoppers = [
            threading.Thread(target=self.stop_node, args=(node.index,)) for node in self.nodes
        ]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()

    def stop_node(self, index: int, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop one node gracefully: SIGTERM, SIGKILL if it is still alive after ``timeout``."""
        node = self.node(index)
        pid = read_pid(node)
        if pid is None:
            _print(f"node{node.index} ({node.address}) is not running")
            return
        _print(f"stopping node{node.index} ({node.address}, pid {pid})")
        os.kill(pid, signal.SIGTERM)
        if not self._wait_exit(node, pid, timeout):
            _print(f"node{node.index} ignored SIGTERM for {timeout:.0f} s: SIGKILL")
            os.kill(pid, signal.SIGKILL)
            self._wait_exit(node, pid, 10.0)
        node.pid_file.unlink(missing_ok=True)

    def kill_node(self, index: int) -> None:
        """Kill one node at once (SIGKILL), as a crash would."""
        node = self.node(index)
        pid = read_pid(node)
        if pid is None:
            return
        _print(f"killing node{node.index} ({node.address}, pid {pid})")
        os.kill(pid, signal.SIGKILL)
        self._wait_exit(node, pid, 10.0)
        node.pid_file.unlink(missing_ok=True)

    def status(self) -> list[dict[str, object]]:
        """One row per node: address, pid, whether CQL answers, data and log paths."""
        rows: list[dict[str, object]] = []
        for node in self.nodes:
            pid = read_pid(node)
            rows.append(
                {
                    "node": node.index,
                    "address": f"{node.address}:{CQL_PORT}",
                    "pid": pid,
                    "cql": pid is not None and cql_port_open(node.address),
                    "data": str(node.data_dir),
                    "log": str(node.log_file),
                }
            )
        return rows

    def _launch(self, node: Node) -> None:
        if read_pid(node) is not None:
            _print(f"node{node.index} ({node.address}) is already running")
            return
        if cql_port_open(node.address):
            raise NodeError(f"{node.address}:{CQL_PORT} is taken by another process")
        for directory in (node.conf_dir / "triggers", node.data_dir, node.log_dir):
            directory.mkdir(parents=True, exist_ok=True)
        (node.conf_dir / "cassandra.yaml").write_text(cassandra_yaml(node))
        (node.conf_dir / "logback.xml").write_text(logback_xml())
        command = jvm_command(node, self.lib_dir)
        with open(node.log_dir / "jvm.out", "ab") as out:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=node.home,
                start_new_session=True,  # survives the launcher; Ctrl-C does not reach it
            )
        self._processes[node.index] = process
        node.pid_file.write_text(f"{process.pid}\n")
        _print(f"node{node.index}: JVM pid {process.pid} on {node.address}, log {node.log_file}")

    def _wait_ready(self, node: Node, began: float, timeout: float) -> None:
        def answers() -> bool:
            if not self._alive(node):
                raise NodeError(f"node{node.index} exited during start-up:\n{log_tail(node)}")
            return cql_port_open(node.address) and cql_answers(node.address, auth=node.auth)

        def progress(_seconds: float) -> None:
            waited = time.monotonic() - began
            _print(f"waiting for node{node.index} ({node.address}) ... {waited:.0f} s")

        left = timeout - (time.monotonic() - began)
        try:
            wait_until(answers, left, f"node{node.index} answering CQL", 0.5, progress, 5.0)
        except TimeoutError as exc:
            raise NodeError(f"{exc}:\n{log_tail(node)}") from None
        elapsed = time.monotonic() - began
        _print(f"node{node.index} ({node.address}) answers CQL after {elapsed:.1f} s")

    def _alive(self, node: Node) -> bool:
        # A JVM launched by this object is checked through its handle: right after exec its
        # /proc cmdline is briefly empty, which read_pid would take for a dead process.
        process = self._processes.get(node.index)
        if process is not None:
            return process.poll() is None
        return read_pid(node) is not None

    @staticmethod
    def _wait_exit(node: Node, pid: int, timeout: float) -> bool:
        gone = lambda: not _is_our_jvm(pid, node)  # noqa: E731
        try:
            wait_until(gone, timeout, f"node{node.index} (pid {pid}) to exit", every=0.2)
        except TimeoutError:
            return False
        return True


def configured_address(base_dir: Path) -> str | None:
    """Listen address of node 1 in an existing cluster directory, if it was ever started."""
    try:
        text = (Path(base_dir) / "node1" / "conf" / "cassandra.yaml").read_text()
    except FileNotFoundError:
        return None
    address = (yaml.safe_load(text) or {}).get("listen_address")
    return None if address is None else str(address)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.cassandra.node", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--nodes", type=int, choices=[1, 3], default=1, help="cluster size")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="base directory of the nodes")
    parser.add_argument("--lib", type=Path, default=DEFAULT_LIB, help="directory of the jars")
    parser.add_argument(
        "--address", help="listen address of node 1 (default: as last started, else 127.0.0.1)"
    )
    parser.add_argument("--heap-mb", type=int, default=512, help="JVM heap per node")
    parser.add_argument(
        "--auth", action="store_true", help="require passwords (superuser cassandra/cassandra)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    args = _parse_args(argv)
    address = args.address or configured_address(args.dir) or "127.0.0.1"
    cluster = LocalCluster(args.dir, args.nodes, address, args.lib, args.heap_mb, args.auth)
    try:
        if args.command == "start":
            elapsed = cluster.start()
            for row in cluster.status():
                _print(
                    f"node{row['node']} CQL {row['address']}  data {row['data']}  log {row['log']}"
                )
            _print(f"startup time {elapsed:.1f} s; store URL {cluster.store_url('digits')}")
        elif args.command == "stop":
            cluster.stop()
        else:
            rows = cluster.status()
            for row in rows:
                state = "up" if row["cql"] else ("starting" if row["pid"] else "down")
                _print(
                    f"node{row['node']} {row['address']} {state} pid={row['pid']} log {row['log']}"
                )
            return 0 if all(row["cql"] for row in rows) else 3
    except NodeError as error:
        _print(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
