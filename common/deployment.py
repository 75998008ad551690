"""The services, as one table: everything that names a service derives from a row here.

Configuration (database variables, web ports), the event contract (which ``source`` names are
legal), the topic table, the lifecycle (who announces what), the local stack, ``manage.py``,
the compose file (checked by a test) and the tests all read these rows instead of spelling a
service's name again. Adding a fourth service is one Django project and one row.

Pure data: importable without Django, so ``manage.py`` and the provisioning code can use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the platform.

    ``name`` is its identity on the wire and in operations: the ``source`` of the events it
    publishes, its consumer group (``<prefix>palmetto-<name>``), its log tag and its database
    and port variables.
    """

    name: str
    title: str
    project: str  # the Django project package: <project>/settings.py, <project>/wsgi.py
    declaration: str  # dotted path of its common.declaration.Service
    web_port: int  # local stack default; PALMETTO_<NAME>_PORT overrides it

    @property
    def settings_module(self) -> str:
        return f"{self.project}.settings"

    @property
    def wsgi(self) -> str:
        return f"{self.project}.wsgi"

    @property
    def database_env(self) -> str:
        """The environment variable holding this service's database URL."""
        return f"{self.name.upper()}_DATABASE_URL"

    @property
    def port_env(self) -> str:
        return f"PALMETTO_{self.name.upper()}_PORT"

    @property
    def metrics_port_env(self) -> str:
        """The environment variable holding the port ``runconsumers`` serves its Prometheus metrics on."""
        return f"PALMETTO_{self.name.upper()}_METRICS_PORT"

    @property
    def metrics_port(self) -> int:
        """Default metrics port of ``runconsumers``: the web port plus 100 (8100, 8101, ...)."""
        return self.web_port + 100


CLIENT = ServiceSpec(
    name="client", title="Client App", project="client_app",
    declaration="client_app.orders.declaration.SERVICE", web_port=8000,
)
PALMETTO = ServiceSpec(
    name="palmetto", title="Palmetto App", project="palmetto_app",
    declaration="palmetto_app.kitchen.declaration.SERVICE", web_port=8001,
)
COURIER = ServiceSpec(
    name="courier", title="Courier App", project="courier_app",
    declaration="courier_app.delivery.declaration.SERVICE", web_port=8002,
)

SERVICES: tuple[ServiceSpec, ...] = (CLIENT, PALMETTO, COURIER)
NAMES: tuple[str, ...] = tuple(s.name for s in SERVICES)


def by_name(name: str) -> ServiceSpec:
    """The row of service ``name``; ``KeyError`` naming the known services otherwise."""
    for spec in SERVICES:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown service {name!r}; the services are {', '.join(NAMES)}")
