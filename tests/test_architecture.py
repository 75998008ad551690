"""The layers, enforced: who may import what, and every handled event arrives on a consumed topic.

Imports are read from the source (``ast``), so a rule holds for code that is never run in a test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from common import deployment
from common.declaration import Service
from common.events import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
APPS = tuple(spec.project for spec in deployment.SERVICES)
KAFKA_PLUMBING = ("confluent_kafka", "common.kafka", "common.outbox", "common.workers", "common.declaration")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved to absolute names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _sources(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def _offenders(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    offenders = {}
    for path in paths:
        bad = sorted(m for m in _imports(path) if any(m == f or m.startswith(f"{f}.") for f in forbidden))
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    return offenders


def test_the_import_reader_sees_relative_and_absolute_imports(tmp_path):
    sample = ROOT / "palmetto_app" / "kitchen" / "declaration.py"
    imports = _imports(sample)
    assert "palmetto_app.kitchen.services" in imports  # from . import services
    assert "common.declaration.Service" in imports


def test_apps_never_import_confluent_kafka():
    assert _offenders(_sources(*APPS), ("confluent_kafka",)) == {}


def test_the_runtime_never_imports_development_provisioning():
    runtime = [p for p in _sources("common", *APPS) if "devstack" not in p.relative_to(ROOT).parts]
    assert _offenders(runtime + [ROOT / "manage.py"], ("common.devstack",)) == {}


@pytest.mark.parametrize("module", ["events", "topics", "lifecycle", "deployment", "errors", "config"])
def test_the_contract_never_imports_the_kafka_plumbing(module):
    assert _offenders([ROOT / "common" / f"{module}.py"], KAFKA_PLUMBING) == {}


def test_service_functions_never_see_an_envelope():
    services = [p for p in _sources(*APPS) if "services" in p.relative_to(ROOT).parts or p.name == "services.py"]
    assert services, "no services modules found"
    assert _offenders(services, ("common.events.Envelope", "common.declaration", "common.kafka")) == {}


@pytest.mark.parametrize("spec", deployment.SERVICES, ids=lambda s: s.name)
def test_every_event_a_service_handles_is_carried_by_a_topic_it_consumes(spec):
    from django.utils.module_loading import import_string

    service: Service = import_string(spec.declaration)
    assert service.spec is spec
    for subscription in service.subscriptions:
        assert spec.name in subscription.topic.consumers, f"{spec.name} is not a consumer of {subscription.topic.name}"
        for event_class in subscription.handlers:
            assert event_class in REGISTRY.values(), event_class
            assert event_class.topic == subscription.topic, (
                f"{spec.name} handles {event_class.__name__} on {subscription.topic.name}, "
                f"but it is published on {event_class.topic.name}"
            )
