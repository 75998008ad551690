"""The service table is the one place that names a service: configuration, the stack and the compose
file agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from common import config, deployment
from common.declaration import Service

ROOT = Path(__file__).resolve().parent.parent


def test_names_are_unique_and_projects_exist():
    assert len(set(deployment.NAMES)) == len(deployment.SERVICES)
    for spec in deployment.SERVICES:
        assert (ROOT / spec.project / "settings.py").exists() and (ROOT / spec.project / "wsgi.py").exists()
        assert deployment.by_name(spec.name) is spec


def test_configuration_reads_each_services_database_and_port_from_its_row():
    env = {spec.database_env: f"postgresql://u@h/{spec.name}" for spec in deployment.SERVICES}
    env |= {spec.port_env: str(9000 + i) for i, spec in enumerate(deployment.SERVICES)}
    loaded = config.load(env)
    for i, spec in enumerate(deployment.SERVICES):
        assert loaded.database_url(spec.name) == f"postgresql://u@h/{spec.name}"
        assert loaded.web_ports[spec.name] == 9000 + i
    assert dict(config.load({}).web_ports) == {spec.name: spec.web_port for spec in deployment.SERVICES}


def test_each_row_names_its_own_declaration():
    from django.utils.module_loading import import_string

    for spec in deployment.SERVICES:
        service = import_string(spec.declaration)
        assert isinstance(service, Service) and service.spec is spec and service.publisher.service is spec


def test_the_compose_file_runs_every_service_from_its_row():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    environment = compose["x-app"]["environment"]
    for spec in deployment.SERVICES:
        assert spec.database_env in environment, spec.name
        assert spec.wsgi in services[f"{spec.name}-web"]["command"], spec.name
        assert f"--settings={spec.settings_module}" in services[f"{spec.name}-workers"]["command"], spec.name
    migrated = re.search(r"for s in ([a-z ]+);", services["setup"]["command"]).group(1).split()
    assert migrated == list(deployment.NAMES)
    app_services = {name for name in services if name.endswith(("-web", "-workers"))}
    assert app_services == {f"{s.name}-{role}" for s in deployment.SERVICES for role in ("web", "workers")}
