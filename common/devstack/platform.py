"""The platform as real processes: three databases, topics, runconsumers per service, the Client API.

Used by the end-to-end and fault-injection tests, which start and kill these
processes the way an operator (or a crash) would, and by the benchmark (:mod:`.bench`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from common.deployment import NAMES, SERVICES
from common.devstack import stack
from common.devstack.ports import free_port

if TYPE_CHECKING:
    import requests

ZERO_TIMINGS = {
    "PALMETTO_KITCHEN_ACCEPT_SECONDS": "0",
    "PALMETTO_KITCHEN_PREPARE_SECONDS": "0",
    "PALMETTO_COURIER_TRAVEL_SECONDS": "0",
}


@dataclass
class Platform:
    env: dict[str, str]
    prefix: str
    bootstrap: str
    api: str
    logs: Path
    db_urls: dict[str, str]
    consumers: dict[str, subprocess.Popen] = field(default_factory=dict)
    # Port each service's runconsumers serves Prometheus metrics on (free ports: test runs share the machine).
    metrics_ports: dict[str, int] = field(default_factory=dict)
    # On a secured broker: each principal's environment (its own Kafka credentials), by service name and "operator".
    principals: dict[str, dict[str, str]] = field(default_factory=dict)
    web: subprocess.Popen | None = None
    port: int = 0
    _admin: requests.Session | None = None

    # -- processes ------------------------------------------------------------------------------

    def start_consumers(self, service: str) -> subprocess.Popen:
        output = open(self.logs / f"{service}-consumers.log", "a")
        self.consumers[service] = stack.spawn_consumers(service, self.env_for(service), output)
        return self.consumers[service]

    def stop_consumers(self, *services: str) -> dict[str, int]:
        """SIGTERM (clean stop) the given services' runconsumers (default: all); return exit codes."""
        chosen = {s: p for s, p in self.consumers.items() if not services or s in services}
        codes = stack.stop_processes(list(chosen.values()))
        return {name: codes[p.pid] for name, p in chosen.items()}

    def kill_consumers(self, service: str) -> None:
        """SIGKILL: no chance to finish, commit or close."""
        process = self.consumers[service]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def start_web(self) -> None:
        self.web = stack.spawn_web("client", self.port, self.env_for("client"), open(self.logs / "client-web.log", "a"))
        stack.wait_http(f"{self.api}/healthz", timeout=60)

    def env_for(self, principal: str) -> dict[str, str]:
        """The environment ``principal`` (a service, or "operator") runs with: its own credentials if secured."""
        return self.principals.get(principal, self.env)

    def stop_all(self) -> None:
        stack.stop_processes([p for p in [self.web, *self.consumers.values()] if p is not None])

    def log(self, service: str) -> str:
        return (self.logs / f"{service}-consumers.log").read_text()

    # -- HTTP -----------------------------------------------------------------------------------

    def top_up(self, username: str, amount: str, reason: str = "gift card") -> None:
        """Credit a customer's Palmetto card the way staff do: the top-up form in the Client App's admin."""
        import requests

        if self._admin is None:
            password = f"pw-{uuid.uuid4().hex}"
            name = f"cashier-{uuid.uuid4().hex[:8]}"
            stack.manage("client", "createsuperuser", "--noinput", env=self.env | {
                "DJANGO_SUPERUSER_USERNAME": name, "DJANGO_SUPERUSER_PASSWORD": password,
                "DJANGO_SUPERUSER_EMAIL": f"{name}@palmetto.invalid"})
            admin = requests.Session()
            admin.get(f"{self.api}/admin/login/", timeout=10).raise_for_status()
            login = admin.post(f"{self.api}/admin/login/?next=/admin/", timeout=10, data={
                "username": name, "password": password, "csrfmiddlewaretoken": admin.cookies["csrftoken"]})
            assert login.url.endswith("/admin/"), f"admin login failed: {login.status_code}"
            self._admin = admin
        url = f"{self.api}/admin/payments/wallet/top-up/"
        self._admin.get(url, timeout=10).raise_for_status()
        response = self._admin.post(url, timeout=10, allow_redirects=False, headers={"Referer": url}, data={
            "customer": username, "amount": amount, "reason": reason,
            "csrfmiddlewaretoken": self._admin.cookies["csrftoken"]})
        assert response.status_code == 302, f"top-up of {username} failed: {response.status_code} {response.text[:500]}"

    def session(self, username: str | None = None, *, staff: bool = False):
        """An HTTP session (``requests``, a test dependency) authenticated as a new customer (or staff member)."""
        import requests

        username = username or f"{'staff' if staff else 'customer'}-{uuid.uuid4().hex[:8]}"
        password = f"pw-{uuid.uuid4().hex}"
        if staff:
            stack.manage("client", "createsuperuser", "--noinput", env=self.env | {
                "DJANGO_SUPERUSER_USERNAME": username, "DJANGO_SUPERUSER_PASSWORD": password,
                "DJANGO_SUPERUSER_EMAIL": f"{username}@palmetto.invalid"})
            token = requests.post(
                f"{self.api}/api/auth/token/", json={"username": username, "password": password}, timeout=10
            )
        else:
            token = requests.post(
                f"{self.api}/api/auth/register/", json={"username": username, "password": password}, timeout=10
            )
        token.raise_for_status()
        http = requests.Session()
        http.headers["Authorization"] = f"Token {token.json()['token']}"
        http.username = username  # type: ignore[attr-defined]
        return http


@contextmanager
def running_platform(
    bootstrap: str,
    database_factory: Callable[[str], str],
    logs: Path,
    env_overrides: dict[str, str] | None = None,
    replication_factor: int = 1,
    kafka_admin_env: dict[str, str] | None = None,
) -> Iterator[Platform]:
    """Create topics and databases, migrate, start the Client API and the three runconsumers; stop all after.

    ``kafka_admin_env``: a secured broker's super-user credentials (``KafkaBroker.client_environment``);
    then every service and the operator get their own principal, ACLs and all (``manage.py kafkasecurity``).
    """
    prefix = f"p{uuid.uuid4().hex[:8]}."
    env = (
        dict(os.environ)
        | ZERO_TIMINGS
        | {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "PALMETTO_TOPIC_PREFIX": prefix,
            "PYTHONUNBUFFERED": "1",
            # The tests place many orders as one customer and register many from one address;
            # production keeps the default limits (tests/client_app/test_access.py proves them).
            "PALMETTO_ORDER_RATE": "100000/minute",
            "PALMETTO_AUTH_RATE": "100000/minute",
            "PALMETTO_AUTH_FAILURE_RATE": "100000/hour",
        }
        | (kafka_admin_env or {})
        | (env_overrides or {})
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    metrics_ports = {spec.name: free_port() for spec in SERVICES}
    env |= {spec.metrics_port_env: str(metrics_ports[spec.name]) for spec in SERVICES}
    db_urls = {spec.name: database_factory(f"{prefix.rstrip('.')}_{spec.name}") for spec in SERVICES}
    for spec in SERVICES:
        env[spec.database_env] = db_urls[spec.name]
    try:
        stack.manage("client", "createtopics", f"--replication-factor={replication_factor}", env=env)
        for service in NAMES:
            stack.manage(service, "migrate", "--noinput", env=env)
        principals = stack.secure_principals(env) if kafka_admin_env else {}
    except subprocess.CalledProcessError as exc:
        raise AssertionError(f"{exc.cmd} failed:\n{exc.stdout}\n{exc.stderr}") from exc
    port = free_port()
    platform = Platform(
        env=env,
        prefix=prefix,
        bootstrap=bootstrap,
        api=f"http://127.0.0.1:{port}",
        logs=logs,
        db_urls=db_urls,
        port=port,
        metrics_ports=metrics_ports,
        principals=principals,
    )
    try:
        platform.start_web()
        for service in NAMES:
            platform.start_consumers(service)
        yield platform
    finally:
        platform.stop_all()


def order_request(i: int, menu: list[dict]) -> dict:
    import random

    rng = random.Random(i)
    lines = rng.sample(menu, k=rng.randint(1, 3))
    return {
        "customer": {"name": f"Customer {i}", "phone": f"+1 843 555 {i % 10000:04d}"},
        "deliveryAddress": {"street": f"{i} King Street", "city": "Charleston", "postalCode": "29401"},
        "items": [{"itemId": m["itemId"], "quantity": rng.randint(1, 3)} for m in lines],
    }
