"""The platform as real processes: three databases, topics, runconsumers for each service, the Client API."""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
import requests

from common import stack
from common.config import DATABASE_URL_ENV, SERVICES
from common.infra.ports import free_port


@dataclass
class Platform:
    env: dict[str, str]
    prefix: str
    bootstrap: str
    api: str
    logs: Path
    consumers: dict[str, subprocess.Popen] = field(default_factory=dict)
    web: subprocess.Popen | None = None

    def session(self, username: str | None = None, *, staff: bool = False) -> requests.Session:
        """An HTTP session authenticated as a new customer (or a new staff member)."""
        username = username or f"{'staff' if staff else 'customer'}-{uuid.uuid4().hex[:8]}"
        password = f"pw-{uuid.uuid4().hex}"
        if staff:
            stack.manage("client", "createsuperuser", "--noinput", env=self.env | {
                "DJANGO_SUPERUSER_USERNAME": username, "DJANGO_SUPERUSER_PASSWORD": password,
                "DJANGO_SUPERUSER_EMAIL": f"{username}@palmetto.invalid"})
            token = requests.post(f"{self.api}/api/auth/token/", json={"username": username, "password": password}, timeout=10)
        else:
            token = requests.post(f"{self.api}/api/auth/register/", json={"username": username, "password": password}, timeout=10)
        token.raise_for_status()
        http = requests.Session()
        http.headers["Authorization"] = f"Token {token.json()['token']}"
        return http

    def log(self, service: str) -> str:
        return (self.logs / f"{service}-consumers.log").read_text()

    def start_consumers(self, service: str) -> subprocess.Popen:
        output = open(self.logs / f"{service}-consumers.log", "a")
        self.consumers[service] = stack.spawn_consumers(service, self.env, output)
        return self.consumers[service]

    def stop_consumers(self) -> dict[str, int]:
        codes = stack.stop_processes(list(self.consumers.values()))
        return {name: codes[p.pid] for name, p in self.consumers.items()}


@pytest.fixture
def platform(request, kafka_bootstrap, database_factory, tmp_path) -> Iterator[Platform]:
    """A freshly migrated platform with its own topics; consumers and the API running.

    Stage timings are zero; parametrize indirectly with a dict to override environment variables.
    """
    prefix = f"e2e{uuid.uuid4().hex[:8]}."
    env = dict(os.environ) | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "PALMETTO_TOPIC_PREFIX": prefix,
        "PALMETTO_KITCHEN_ACCEPT_SECONDS": "0",
        "PALMETTO_KITCHEN_PREPARE_SECONDS": "0",
        "PALMETTO_COURIER_TRAVEL_SECONDS": "0",
        "PYTHONUNBUFFERED": "1",
        # The tests place many orders as one customer; production keeps the default limit.
        "PALMETTO_ORDER_RATE": "100000/minute",
    }
    env.update(getattr(request, "param", {}))
    for service in SERVICES:
        env[DATABASE_URL_ENV[service]] = database_factory(f"{prefix.rstrip('.')}_{service}")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    try:
        stack.manage("client", "createtopics", env=env)
        for service in SERVICES:
            stack.manage(service, "migrate", "--noinput", env=env)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"{exc.cmd} failed:\n{exc.stdout}\n{exc.stderr}", pytrace=False)
    port = free_port()
    platform = Platform(env=env, prefix=prefix, bootstrap=kafka_bootstrap, api=f"http://127.0.0.1:{port}", logs=tmp_path)
    platform.web = stack.spawn_web("client", port, env, open(tmp_path / "client-web.log", "w"))
    for service in SERVICES:
        platform.start_consumers(service)
    try:
        stack.wait_http(f"{platform.api}/api/menu/", timeout=60)
        yield platform
    finally:
        stack.stop_processes([p for p in [platform.web, *platform.consumers.values()] if p is not None])
