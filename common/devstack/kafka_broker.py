"""A real Apache Kafka broker (KRaft, no ZooKeeper) started from Maven Central jars, without Docker.

For when ``KAFKA_BOOTSTRAP_SERVERS`` is not set and no Docker engine is there
(tests, local runs). Two pieces:

* :func:`ensure_kafka_jars` fetches ``org.apache.kafka:kafka_2.13`` and a
  logging binding with Maven, once, into a cache shared by every run.
* :class:`KafkaBroker` formats storage and runs ``kafka.Kafka`` as combined
  broker+controller nodes on free loopback ports: one node by default, three
  for replication tests. It can stop, kill and restart nodes for fault tests.

Facts this relies on, from Kafka's own scripts and docs: a plain classpath of the
jars is all ``kafka-run-class.sh`` does; the slf4j/reload4j binding is not a
transitive dependency; storage is formatted once with ``kafka.tools.StorageTool``
and a URL-safe base64 cluster id of 16 random bytes; readiness is an admin
client's answer, not a TCP connect.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import itertools
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from common.config import KafkaSecurity
from common.devstack import OrphanGuard, ProvisioningError, tail
from common.devstack.ports import LOOPBACK, free_ports
from common.kafka.settings import security_settings

# Newest 3.9.x on Maven Central. 4.x also runs on Java 17 but logs through
# log4j2, which needs a different binding and configuration.
KAFKA_VERSION = "3.9.2"
# kafka_2.13 3.9 is built against slf4j-api 1.7.36 and reload4j 1.2.25. The
# binding is not a transitive dependency: without it the broker logs nothing.
LOGGING_JARS = ("org.slf4j:slf4j-reload4j:1.7.36", "ch.qos.reload4j:reload4j:1.2.25")
# Pinned so the fetch does not depend on whatever plugin version Maven resolves.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"

_log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where downloaded artifacts are kept between runs: ``$PALMETTO_CACHE_DIR`` or ``~/.cache/palmetto``."""
    return Path(os.environ.get("PALMETTO_CACHE_DIR") or "~/.cache/palmetto").expanduser()


def _require(program: str, why: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise ProvisioningError(f"{program!r} was not found on PATH; it is needed {why}.")
    return path


def _pom(version: str) -> str:
    coordinates = [f"org.apache.kafka:kafka_2.13:{version}", *LOGGING_JARS]
    dependencies = "".join(
        f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in (c.split(":") for c in coordinates)
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>palmetto.infra</groupId><artifactId>kafka-broker-jars</artifactId>"
        f"<version>1</version><packaging>pom</packaging><dependencies>{dependencies}</dependencies></project>"
    )


def ensure_kafka_jars(version: str = KAFKA_VERSION) -> Path:
    """A folder holding every jar the Kafka ``version`` broker needs, ready for ``java -cp "<folder>/*"``.

    The first call fetches them with Maven (from Maven Central, through the
    user's ``~/.m2``) into ``<cache_dir()>/kafka-<version>/libs``; later calls
    return that folder at once. The folder only ever appears complete: jars are
    copied into a scratch folder that is renamed into place, so an interrupted
    fetch is never taken for a cache hit. A file lock makes concurrent callers
    (e.g. parallel test processes) wait for one fetch instead of racing.

    Raises :class:`ProvisioningError` if java or mvn is missing or Maven fails.
    """
    libs = cache_dir() / f"kafka-{version}" / "libs"
    if libs.is_dir():
        return libs
    _require("java", "to run Maven and the Kafka broker")
    mvn = _require("mvn", f"once, to fetch the Kafka {version} jars from Maven Central into {libs}")
    libs.parent.mkdir(parents=True, exist_ok=True)
    with open(libs.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if libs.is_dir():  # another process filled it while we waited
            return libs
        for stale in libs.parent.glob("fetch-*"):  # left by a fetch that died; we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        with tempfile.TemporaryDirectory(dir=libs.parent, prefix="fetch-") as scratch:
            pom, jars = Path(scratch) / "pom.xml", Path(scratch) / "libs"
            pom.write_text(_pom(version))
            command = [
                mvn, "-q", "-B", "-f", str(pom), f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                "-DincludeScope=runtime", f"-DoutputDirectory={jars}",
            ]  # fmt: skip
            _log.info("Fetching Kafka %s jars with Maven into %s", version, libs)
            try:
                result = subprocess.run(
                    command,
                    cwd=scratch,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    timeout=900,
                    check=False,
                )
                output, failed = result.stdout.decode(errors="replace"), result.returncode != 0
            except subprocess.TimeoutExpired as exc:
                output, failed = (exc.output or b"").decode(errors="replace") + "\n(timed out after 900 s)", True
            expected = [f"kafka_2.13-{version}.jar"]
            expected += [f"{artifact}-{v}.jar" for _, artifact, v in (c.split(":") for c in LOGGING_JARS)]
            if not failed and not all((jars / name).is_file() for name in expected):
                output, failed = f"{output}\nmissing from the result: {expected}", True
            if failed:
                plain = re.sub(r"\x1b\[[0-9;]*m", "", output)  # Maven colours some lines even in batch mode
                last = "\n".join(plain.strip().splitlines()[-30:])
                raise ProvisioningError(
                    f"Maven could not fetch the Kafka {version} jars (command: {' '.join(command)}).\n"
                    f"Last lines of its output:\n{last}"
                )
            os.rename(jars, libs)  # atomic on one filesystem: the cache appears complete or not at all
    return libs


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (what ``kafka-storage random-uuid`` prints).

    Like Kafka's own ``Uuid.randomUuid()``, it never starts with "-", which a
    command line would take for an option (``format -t -abc...`` fails).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _probe_groups(partitions: int) -> list[str]:
    """Group ids that together map to every one of ``partitions`` ``__consumer_offsets`` partitions.

    Kafka puts a group on partition ``abs(groupId.hashCode()) % partitions``
    (Java's String.hashCode, and abs(MIN_VALUE) taken as 0).
    """
    found: dict[int, str] = {}
    for number in itertools.count():
        if len(found) == partitions:
            break
        group = f"palmetto-infra-probe-{number}"
        code = 0
        for char in group:  # ASCII only, so one UTF-16 unit per character
            code = (31 * code + ord(char)) & 0xFFFFFFFF
        code = code - (1 << 32) if code >= 1 << 31 else code
        found.setdefault(0 if code == -(1 << 31) else abs(code) % partitions, group)
    return list(found.values())


# Root at WARN keeps the log small; the lifecycle loggers stay at INFO so the
# log shows when each node started and stopped (and how far a failed start got).
_LOG4J = """\
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={log}
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.Kafka$=INFO
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
log4j.logger.kafka.server.ControllerServer=INFO
log4j.logger.kafka.server.SharedServer=INFO
"""


@dataclass
class _Node:
    """One combined broker+controller process and the files it owns (all under ``home``)."""

    node_id: int
    port: int
    controller_port: int
    home: Path  # <work_dir>/node-<id>, set once the work dir exists
    process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def logs(self) -> list[Path]:
        # console.log catches what log4j cannot: JVM errors, a missing class.
        return [self.home / "server.log", self.home / "console.log"]


class KafkaBroker:
    """A local Kafka cluster of ``nodes`` combined broker+controller nodes (default 1), on free loopback ports.

    Ports, node ids and the cluster id are chosen at construction, so
    :attr:`bootstrap_servers` is known before :meth:`start` and never changes:
    clients reconnect on their own after :meth:`kill` + :meth:`restart`. Each
    node keeps its log4j output in ``<work_dir>/node-<id>/server.log``.

    Use it as a context manager (start on enter, stop on exit). Whatever is
    still running at interpreter exit is stopped too, and if this process is
    killed outright the nodes are SIGKILLed by an :class:`OrphanGuard`. A work
    dir created here (``work_dir=None``) is deleted by :meth:`stop`; a given one
    is kept. Not thread-safe: drive one instance from one thread at a time.
    """

    def __init__(
        self,
        work_dir: Path | str | None = None,
        *,
        nodes: int = 1,
        heap: str = "512m",
        jvm_options: Sequence[str] = (),
        config: Mapping[str, object] | None = None,
        version: str = KAFKA_VERSION,
        start_timeout: float = 90.0,
        stop_timeout: float = 30.0,
        secured: bool = False,
    ) -> None:
        """``config`` entries override the generated ``server.properties``; ``jvm_options`` are added to ``java``.

        ``secured``: clients must log in with SASL/SCRAM-SHA-512 (listener ``SASL_PLAINTEXT``) and the
        standard authorizer denies whatever no ACL allows. The super user :attr:`admin_username` (password
        :attr:`admin_password`, its SCRAM credential written when storage is formatted) may do anything,
        e.g. create the other users and the ACLs (``manage.py kafkasecurity``).
        """
        if nodes < 1:
            raise ValueError("nodes must be at least 1")
        self.cluster_id = new_cluster_id()
        self._given_dir = Path(work_dir).resolve() if work_dir is not None else None
        self._work_dir: Path | None = None
        self._heap, self._jvm_options, self._config = heap, list(jvm_options), dict(config or {})
        self._version, self._start_timeout, self._stop_timeout = version, start_timeout, stop_timeout
        ports = free_ports(2 * nodes)
        self._nodes = {i: _Node(i, ports[2 * i - 2], ports[2 * i - 1], home=Path()) for i in range(1, nodes + 1)}
        self._guard: OrphanGuard | None = None
        self._formatted = False
        self.secured = secured
        self.admin_username = "palmetto-admin"
        self.admin_password = secrets.token_urlsafe(18)
        self._owner_pid = os.getpid()

    # -- public API ---------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """``"127.0.0.1:<port>[,...]"``, one entry per node."""
        return ",".join(f"{LOOPBACK}:{node.port}" for node in self._nodes.values())

    @property
    def client_settings(self) -> dict[str, str]:
        """librdkafka security settings of the super user (nothing for an unsecured broker)."""
        if not self.secured:
            return {}
        return security_settings(
            KafkaSecurity(protocol="SASL_PLAINTEXT", username=self.admin_username, password=self.admin_password)
        )

    @property
    def client_environment(self) -> dict[str, str]:
        """The same as environment variables for a Palmetto process (``common.config``)."""
        if not self.secured:
            return {}
        return {
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": self.admin_username,
            "KAFKA_SASL_PASSWORD": self.admin_password,
        }

    @property
    def node_ids(self) -> list[int]:
        return list(self._nodes)

    @property
    def work_dir(self) -> Path | None:
        """Where configs, logs and data live; None until the first :meth:`start`."""
        return self._work_dir

    @property
    def pids(self) -> list[int]:
        """The JVM pid of every running node (for resource accounting)."""
        return [node.process.pid for node in self._nodes.values() if node.running and node.process is not None]

    def start(self) -> str:
        """Start every node that is not running, wait until it is usable, and return :attr:`bootstrap_servers`.

        Usable means: each started node answers requests itself, and every
        consumer group has a loaded coordinator (see :meth:`_wait_group_coordinator`).
        Raises :class:`ProvisioningError`, with the tail of the broker logs, if a
        node dies or is not ready within ``start_timeout`` seconds; the nodes
        started by this call are killed first.
        """
        return self._start(list(self._nodes.values()))

    def stop(self, node_id: int | None = None) -> None:
        """Stop one node, or all of them: SIGTERM (clean shutdown), SIGKILL after ``stop_timeout`` seconds.

        Stopping all nodes also ends the orphan guard and deletes the work dir if
        this instance created it, so a later :meth:`start` begins with no data.
        Safe to call repeatedly and on nodes that are already dead.
        """
        self._halt(self._targets(node_id), graceful=True)
        if node_id is None:
            self._release()

    def kill(self, node_id: int | None = None) -> None:
        """SIGKILL one node, or all of them, at once (a crash, for fault-injection tests). Data is kept."""
        self._halt(self._targets(node_id), graceful=False)

    def restart(self, node_id: int | None = None) -> str:
        """Stop (if running) and start again one node, or all, with the same ports, cluster id and data.

        Returns :attr:`bootstrap_servers` once the cluster is usable again (as for :meth:`start`).
        """
        targets = self._targets(node_id)
        self._halt(targets, graceful=True)
        return self._start(targets)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------

    def _stop_at_exit(self) -> None:
        if os.getpid() == self._owner_pid:  # not in a forked child that happens to exit normally
            self.stop()

    def _targets(self, node_id: int | None) -> list[_Node]:
        if node_id is None:
            return list(self._nodes.values())
        if node_id not in self._nodes:
            raise ValueError(f"no node {node_id}; nodes are {self.node_ids}")
        return [self._nodes[node_id]]

    def _start(self, targets: list[_Node]) -> str:
        libs = ensure_kafka_jars(self._version)
        java = _require("java", "to run the Kafka broker")
        self._prepare(java, libs)
        launched = [node for node in targets if not node.running]
        for node in launched:
            self._launch(java, libs, node)
        try:
            deadline = time.monotonic() + self._start_timeout
            for node in launched:
                self._wait_ready(node, deadline)
            if launched:
                self._wait_group_coordinator(deadline)
        except BaseException:
            self._halt(launched, graceful=False)
            raise
        return self.bootstrap_servers

    def _prepare(self, java: str, libs: Path) -> None:
        """Create the work dir, the orphan guard and the formatted storage, once."""
        if self._work_dir is None:
            if self._given_dir is not None:
                self._work_dir = self._given_dir
                self._work_dir.mkdir(parents=True, exist_ok=True)
            else:
                self._work_dir = Path(tempfile.mkdtemp(prefix="palmetto-kafka-"))
            secret = self._work_dir / "admin-password"
            if self.secured:
                # A given work dir keeps its admin password: its SCRAM credential is in the formatted metadata.
                if secret.is_file():
                    self.admin_password = secret.read_text().strip()
                else:
                    secret.write_text(self.admin_password)
                    secret.chmod(0o600)
            for node in self._nodes.values():
                node.home = self._work_dir / f"node-{node.node_id}"
                # A given work dir may hold an earlier run's data: keep its
                # cluster id, or formatting (and starting) would refuse it.
                meta = node.home / "data" / "meta.properties"
                if meta.is_file():
                    for line in meta.read_text().splitlines():
                        if line.startswith("cluster.id="):
                            self.cluster_id = line.partition("=")[2].strip()
        if self._guard is None:
            self._guard = OrphanGuard(cleanup_dir=None if self._given_dir else self._work_dir)
            atexit.register(self._stop_at_exit)
        if self._formatted:
            return
        formatters = []
        for node in self._nodes.values():
            node.home.mkdir(parents=True, exist_ok=True)
            (node.home / "log4j.properties").write_text(_LOG4J.format(log=node.home / "server.log"))
            properties = "".join(f"{key}={value}\n" for key, value in self._properties(node).items())
            (node.home / "server.properties").write_text(properties)
            # Every node is formatted with the same cluster id; --ignore-formatted
            # makes this a no-op for a given work dir that already holds data.
            command = [
                java, "-Xmx256m", "-XX:TieredStopAtLevel=1", *self._log4j_option(node), "-cp", f"{libs}/*",
                "kafka.tools.StorageTool", "format", "-t", self.cluster_id,
                "-c", str(node.home / "server.properties"), "--ignore-formatted",
            ]  # fmt: skip
            if self.secured:
                command += [
                    "--add-scram",
                    f"SCRAM-SHA-512=[name={self.admin_username},password={self.admin_password}]",
                ]
            formatters.append(
                subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            )
        for formatter in formatters:  # run side by side: each is a JVM start
            output, _ = formatter.communicate()
            if formatter.returncode != 0:
                raise ProvisioningError(f"Formatting Kafka storage failed:\n{output.decode(errors='replace')}")
        self._formatted = True

    def _properties(self, node: _Node) -> dict[str, object]:
        """server.properties for ``node``; see the DESIGN appendix for why each value."""
        size = len(self._nodes)
        voters = ",".join(f"{n.node_id}@{LOOPBACK}:{n.controller_port}" for n in self._nodes.values())
        properties: dict[str, object] = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{LOOPBACK}:{node.port},CONTROLLER://{LOOPBACK}:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{node.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": node.home / "data",
            # Topics are created explicitly, always with 3 partitions (DESIGN "Topics").
            "auto.create.topics.enable": "false",
            "num.partitions": 3,
            "default.replication.factor": size,
            # Internal topics live on every node; 3 partitions instead of 50,
            # which take seconds to create on the first consumer-group commit.
            "offsets.topic.replication.factor": size,
            "offsets.topic.num.partitions": 3,
            "transaction.state.log.replication.factor": size,
            "transaction.state.log.min.isr": min(size, 2),
            "transaction.state.log.num.partitions": 3,
            # Tests consume right away; the 3 s default only helps large groups settle.
            "group.initial.rebalance.delay.ms": 0,
            # A node restarted after kill() cannot re-register until the
            # controller expires its old session: 4 s instead of 9 s halves
            # restart time, and a killed node of a cluster is fenced (its
            # partitions get new leaders) sooner. Still 4 missed heartbeats.
            "broker.session.timeout.ms": 4000,
            "broker.heartbeat.interval.ms": 1000,
            # The active controller appends a no-op record to the metadata log every 500 ms by default
            # so brokers can tell it is alive; every 5 s is enough for a broker at rest to wake less.
            "metadata.max.idle.interval.ms": 5000,
            # Fewer threads than the defaults (sized for servers); this runs on 2 cores.
            "num.network.threads": 2,
            "num.io.threads": 4,
            # Nothing about log.flush.*: by default Kafka never fsyncs data logs
            # itself (it relies on the page cache and replication), which is
            # already as fast as it gets and survives a SIGKILL of the broker.
        }
        if self.secured:
            properties |= self._secured_properties(node)
        properties.update(self._config)
        return properties

    def _secured_properties(self, node: _Node) -> dict[str, object]:
        """SASL/SCRAM-SHA-512 for clients and between brokers, and the standard KRaft authorizer.

        The controller listener stays PLAINTEXT on loopback (SCRAM credentials live in the metadata the
        controllers serve, so controllers cannot log in with them); its connections arrive as
        ``User:ANONYMOUS``, which therefore is a super user -- on that listener only, since every
        client-facing listener requires SASL and never yields ANONYMOUS.
        """
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{self.admin_username}" password="{self.admin_password}";'
        )
        return {
            "listeners": f"SASL_PLAINTEXT://{LOOPBACK}:{node.port},CONTROLLER://{LOOPBACK}:{node.controller_port}",
            "advertised.listeners": f"SASL_PLAINTEXT://{LOOPBACK}:{node.port}",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": jaas,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{self.admin_username};User:ANONYMOUS",
            "allow.everyone.if.no.acl.found": "false",
        }

    def _log4j_option(self, node: _Node) -> list[str]:
        return [f"-Dlog4j.configuration=file:{node.home / 'log4j.properties'}"]

    def _launch(self, java: str, libs: Path, node: _Node) -> None:
        command = [
            java, f"-Xms{self._heap}", f"-Xmx{self._heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true", *self._log4j_option(node),
            *self._jvm_options, "-cp", f"{libs}/*", "kafka.Kafka", str(node.home / "server.properties"),
        ]  # fmt: skip
        with open(node.home / "console.log", "ab") as console:
            # Own session (so its pid is its process group): a Ctrl-C aimed at
            # the test run does not hit the broker, and signals reach only it.
            node.process = subprocess.Popen(
                command, cwd=node.home, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        assert self._guard is not None
        self._guard.watch(node.process.pid)

    def _wait_ready(self, node: _Node, deadline: float) -> None:
        """Return once ``node`` itself answers a metadata request.

        A TCP connect is not enough: the socket is bound long before requests
        are served. In KRaft a broker serves requests only after the controller
        has unfenced it, so an answer from this node means it is ready.
        """
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        # Only this node as bootstrap, so the answer comes from it. librdkafka
        # would log every refused connection while the JVM boots; silence it.
        admin = AdminClient({"bootstrap.servers": f"{LOOPBACK}:{node.port}", "log_level": 0} | self.client_settings)
        while True:
            assert node.process is not None
            if node.process.poll() is not None:
                raise ProvisioningError(
                    f"Kafka node {node.node_id} exited with status {node.process.returncode} while starting.\n"
                    + tail(node.logs)
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProvisioningError(
                    f"Kafka node {node.node_id} ({LOOPBACK}:{node.port}) was not ready within "
                    f"{self._start_timeout:.0f} s.\n" + tail(node.logs)
                )
            try:
                metadata = admin.list_topics(timeout=min(2.0, remaining))
            except KafkaException:
                time.sleep(0.1)
                continue
            if node.node_id in metadata.brokers:
                return
            time.sleep(0.1)

    def _wait_group_coordinator(self, deadline: float) -> None:
        """Return once every ``__consumer_offsets`` partition has a loaded group coordinator.

        A fresh cluster creates that topic when a client first looks for a
        coordinator, and a restarted one reloads it; until then OffsetFetch
        answers NOT_COORDINATOR. librdkafka (2.16 at least; confluentinc/
        librdkafka#5586) never retries that for a consumer that used assign():
        its partitions are never fetched. Reading one group's committed offsets
        per partition here settles it before any consumer starts. (Through a
        Consumer: AdminClient.list_consumer_group_offsets crashes librdkafka
        2.16.1 on a NOT_COORDINATOR answer.)
        """
        from confluent_kafka import Consumer, KafkaException, TopicPartition

        partitions = int(str(self._properties(next(iter(self._nodes.values())))["offsets.topic.num.partitions"]))
        for group in _probe_groups(partitions):
            consumer = Consumer(
                {"bootstrap.servers": self.bootstrap_servers, "group.id": group, "log_level": 0} | self.client_settings
            )
            try:
                while True:
                    try:
                        answer = consumer.committed([TopicPartition("palmetto-infra-probe", 0)], timeout=5)
                        if answer[0].error is None:
                            break
                        raise KafkaException(answer[0].error)
                    except KafkaException as exc:
                        if time.monotonic() > deadline:
                            logs = [path for node in self._nodes.values() for path in node.logs]
                            raise ProvisioningError(
                                f"Kafka at {self.bootstrap_servers} has no group coordinator within "
                                f"{self._start_timeout:.0f} s: {exc}\n" + tail(logs)
                            ) from exc
                        time.sleep(0.1)
            finally:
                consumer.close()

    def _halt(self, targets: list[_Node], *, graceful: bool) -> None:
        running = [node for node in targets if node.process is not None]
        for node in running:
            assert node.process is not None
            # Signal all at once: nodes of one cluster shut down side by side.
            # Only while poll() says it runs: a reaped pid may belong to someone else.
            if node.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.process.pid, signal.SIGTERM if graceful else signal.SIGKILL)
        deadline = time.monotonic() + self._stop_timeout
        for node in running:
            assert node.process is not None and self._guard is not None
            try:
                node.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _log.warning("Kafka node %s ignored SIGTERM for %.0f s; killing it", node.node_id, self._stop_timeout)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.process.pid, signal.SIGKILL)
                node.process.wait()
            self._guard.forget(node.process.pid)
            node.process = None

    def _release(self) -> None:
        """After a full stop: end the guard and delete a work dir we created."""
        if self._guard is not None:
            self._guard.close()
            self._guard = None
            atexit.unregister(self._stop_at_exit)
        if self._given_dir is None and self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None
            self._formatted = False
