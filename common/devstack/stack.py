"""Run the whole platform on one machine: ``python -m common.devstack``.

Provisions what is not configured (a Kafka broker from Maven Central jars, a
PostgreSQL cluster -- both kept under ``var/stack/`` between runs), creates the
topics, migrates the three databases, creates an admin account, then runs the
three web servers (gunicorn) and the three services' ``runconsumers``. Ctrl-C
stops everything cleanly. The helpers that spawn service processes are also
used by the end-to-end tests, so the tests run the platform the way users do.
"""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO

from common import config as palmetto_config
from common.config import BASE_DIR
from common.deployment import CLIENT, NAMES, SERVICES, by_name

PYTHON = sys.executable
MANAGE = str(BASE_DIR / "manage.py")
# PALMETTO_WORKER_NICE when the runconsumers share this one machine with the Client API (unless the
# environment says otherwise): under load the pipeline yields to customers' requests (common.priority).
COLOCATED_WORKER_NICE = "3"


def manage(service: str, *args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one management command for ``service``; raises ``CalledProcessError`` with its output on failure."""
    return subprocess.run(
        [PYTHON, MANAGE, *args, f"--settings={by_name(service).settings_module}"],
        env=dict(env), cwd=BASE_DIR, check=True, capture_output=True, text=True,
    )


def spawn_consumers(
    service: str, env: Mapping[str, str], output: IO | int | None = None, *extra: str
) -> subprocess.Popen:
    """Start ``manage.py runconsumers`` for ``service`` in its own session (signals reach it only from us)."""
    return subprocess.Popen(
        [PYTHON, MANAGE, "runconsumers", f"--settings={by_name(service).settings_module}", *extra],
        env=dict(env),
        cwd=BASE_DIR,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
    )


def spawn_web(service: str, port: int, env: Mapping[str, str], output: IO | int | None = None) -> subprocess.Popen:
    """Start gunicorn serving ``service`` on 127.0.0.1:``port``."""
    return subprocess.Popen(
        [
            PYTHON,
            "-m",
            "gunicorn",
            by_name(service).wsgi,
            # Hooks that aggregate the workers' Prometheus metrics (multiprocess mode).
            "--config",
            "python:common.gunicorn_hooks",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--graceful-timeout",
            "10",
            # Several gunicorns run side by side here; the shared default control socket would clash.
            "--no-control-socket",
        ],
        env=dict(env),
        cwd=BASE_DIR,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
    )


def stop_processes(processes: list[subprocess.Popen], timeout: float = 30) -> dict[int, int]:
    """SIGTERM every process, wait up to ``timeout`` s, SIGKILL stragglers; return pid -> exit code."""
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    codes: dict[int, int] = {}
    for p in processes:
        try:
            codes[p.pid] = p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            codes[p.pid] = p.wait()
    return codes


def wait_http(url: str, timeout: float = 60) -> None:
    """Wait until ``url`` answers anything over HTTP."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout}s") from None
            time.sleep(0.3)


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        # As gunicorn binds: connections of a previous run lingering in TIME_WAIT do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def secure_principals(admin_env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Give every Kafka principal (each service, the operator) a fresh password and create the ACLs.

    Runs ``manage.py kafkasecurity`` with ``admin_env`` (a super user's credentials, the topic
    prefix); returns each principal's environment: ``admin_env`` with its own credentials instead.
    """
    from common.config import PRINCIPAL_PASSWORD_ENV
    from common.kafka.acl import PRINCIPALS, principal_name

    passwords = {principal: secrets.token_urlsafe(18) for principal in PRINCIPALS}
    manage(CLIENT.name, "kafkasecurity", env=dict(admin_env) | {
        PRINCIPAL_PASSWORD_ENV[principal]: password for principal, password in passwords.items()
    })  # fmt: skip
    prefix = admin_env.get("PALMETTO_TOPIC_PREFIX", "")
    return {
        principal: dict(admin_env)
        | {"KAFKA_SASL_USERNAME": principal_name(prefix, principal), "KAFKA_SASL_PASSWORD": password}
        for principal, password in passwords.items()
    }


@dataclass
class Running:
    name: str
    process: subprocess.Popen


def _provision(stack: ExitStack, env: dict[str, str], config: palmetto_config.Config) -> None:
    state = BASE_DIR / "var" / "stack"
    if not config.kafka_bootstrap_servers:
        from common.devstack.kafka_broker import KafkaBroker

        print("Starting a local Kafka broker (jars from Maven Central, cached after the first run)...", flush=True)
        if config.stack_secure:
            # Its own data: a secured broker's listeners and users do not fit the PLAINTEXT one's.
            broker = KafkaBroker(state / "kafka-secure", secured=True)
        else:
            broker = KafkaBroker(state / "kafka")
        env["KAFKA_BOOTSTRAP_SERVERS"] = broker.start()
        env.update(broker.client_environment)
        stack.callback(broker.stop)
    missing = [s for s in SERVICES if not config.database_url(s.name)]
    if missing:
        from common.devstack.postgres import PostgresCluster

        print("Starting a local PostgreSQL cluster...", flush=True)
        cluster = PostgresCluster(state / "postgres")
        cluster.start()
        stack.callback(cluster.stop)
        for service in missing:
            cluster.create_database(f"palmetto_{service.name}")
            env[service.database_env] = cluster.url(f"palmetto_{service.name}")


def _prepare_databases(env: dict[str, str], config: palmetto_config.Config) -> None:
    print("Creating topics...", flush=True)
    print(manage(CLIENT.name, "createtopics", env=env).stdout, end="")
    admin_env = env | {
        "DJANGO_SUPERUSER_USERNAME": config.admin_username,
        "DJANGO_SUPERUSER_PASSWORD": config.admin_password,
        "DJANGO_SUPERUSER_EMAIL": f"{config.admin_username}@palmetto.invalid",
    }
    for service in NAMES:
        print(f"Migrating the {service} database...", flush=True)
        manage(service, "migrate", "--noinput", env=env)
        manage(service, "collectstatic", "--noinput", env=env)
        try:
            manage(service, "createsuperuser", "--noinput", env=admin_env)
        except subprocess.CalledProcessError as exc:
            if "already taken" not in exc.stderr:
                raise


def ensure_secret_key(env: dict[str, str]) -> None:
    """Give the stack's services a secret key when none is configured: generated once, kept in var/stack.

    The services run with DEBUG off, as in production, so they refuse the built-in development key.
    """
    if env.get("DJANGO_SECRET_KEY"):
        return
    path = BASE_DIR / "var" / "stack" / "secret_key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    env["DJANGO_SECRET_KEY"] = path.read_text().strip()


# What an operator's own ``manage.py`` needs to reach the stack's broker and databases.
OPERATOR_ENV = (
    "DJANGO_SECRET_KEY", "KAFKA_BOOTSTRAP_SERVERS", "PALMETTO_TOPIC_PREFIX", *(s.database_env for s in SERVICES),
    "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
)  # fmt: skip
ENV_FILE = BASE_DIR / "var" / "stack" / "env"


def _write_env_file(stack: ExitStack, env: Mapping[str, str]) -> None:
    """``var/stack/env`` for ``source``: the broker may get new ports each run, so it is written per run
    and removed when the stack stops."""
    ENV_FILE.parent.mkdir(parents=True, exist_ok=True)
    ENV_FILE.touch(mode=0o600)  # it may hold the operator's Kafka password
    ENV_FILE.write_text("".join(f"export {name}={shlex.quote(env[name])}\n" for name in OPERATOR_ENV if env.get(name)))
    stack.callback(ENV_FILE.unlink, missing_ok=True)


CREDENTIALS_FILE = BASE_DIR / "var" / "stack" / "kafka-users"


def _write_credentials_file(stack: ExitStack, principals: Mapping[str, Mapping[str, str]]) -> None:
    """Secured stack: ``var/stack/kafka-users`` lists each principal's SCRAM user and password, one per line,
    so an operator can try the ACLs by hand (e.g. kcat as the courier); removed when the stack stops."""
    if not principals:
        return
    CREDENTIALS_FILE.touch(mode=0o600)
    CREDENTIALS_FILE.write_text("".join(
        f"{name} {env['KAFKA_SASL_USERNAME']} {env['KAFKA_SASL_PASSWORD']}\n" for name, env in principals.items()
    ))  # fmt: skip
    stack.callback(CREDENTIALS_FILE.unlink, missing_ok=True)


def main() -> int:
    config = palmetto_config.load()
    wanted = [*config.web_ports.values(), *(p for p in config.metrics_ports.values() if p)]
    busy = [p for p in wanted if not port_is_free(p)]
    if busy:
        print(f"Ports {busy} are in use; set PALMETTO_<SERVICE>_PORT and PALMETTO_<SERVICE>_METRICS_PORT "
              "to other ports.", file=sys.stderr)
        return 2
    env = dict(os.environ) | {"PALMETTO_SERVE_STATIC": "1", "PYTHONUNBUFFERED": "1"}
    env.setdefault("PALMETTO_WORKER_NICE", COLOCATED_WORKER_NICE)
    stopping = {"flag": False}

    def on_signal(signum, _frame) -> None:
        stopping["flag"] = True

    # Until the services run, Ctrl-C raises KeyboardInterrupt and the ExitStack stops what was started.
    with ExitStack() as stack:
        try:
            ensure_secret_key(env)
            _provision(stack, env, config)
            _prepare_databases(env, config)
            if config.stack_secure:
                print("Creating Kafka users and ACLs (one principal per service)...", flush=True)
                principals = secure_principals(env)
            else:
                principals = {}
            _write_env_file(stack, principals.get("operator", env))
            _write_credentials_file(stack, principals)
        except subprocess.CalledProcessError as exc:
            print(f"Setup failed: {' '.join(exc.cmd)}\n{exc.stdout}{exc.stderr}", file=sys.stderr)
            return 1
        except Exception as exc:  # ProvisioningError and friends: say what is missing, no traceback
            print(f"Setup failed: {exc}", file=sys.stderr)
            return 1
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        running: list[Running] = []
        for service in NAMES:
            service_env = principals.get(service, env)
            running.append(Running(f"{service} web", spawn_web(service, config.web_ports[service], service_env)))
            running.append(Running(f"{service} runconsumers", spawn_consumers(service, service_env)))
        stack.callback(lambda: stop_processes([r.process for r in running]))
        for service in NAMES:
            wait_http(f"http://127.0.0.1:{config.web_ports[service]}/admin/login/")
        client = f"http://127.0.0.1:{config.web_ports[CLIENT.name]}"
        print(
            "\nPalmetto is running.\n"
            f"  Client App API     {client}/api/orders/   (menu: {client}/api/menu/)\n"
            f"  Swagger UI         {client}/api/docs/\n"
            f"  OpenAPI schema     {client}/api/schema/\n"
            + "".join(
                f"  {s.title + ' admin':<19}http://127.0.0.1:{config.web_ports[s.name]}/admin/\n" for s in SERVICES
            )
            + f"  Tracking page      {client}/track/<orderId>/   (log in at {client}/accounts/login/)\n"
            + "".join(
                f"  {'Metrics, ' + s.name:<19}http://127.0.0.1:{config.web_ports[s.name]}/metrics (web), "
                f"http://127.0.0.1:{config.metrics_ports[s.name]}/metrics (runconsumers)\n"
                for s in SERVICES
            )
            + "  Customer emails    printed by the client runconsumers (set EMAIL_HOST to send them)\n"
            + f"  Admin login        {config.admin_username} / {config.admin_password}\n"
            f"  Kafka              {env['KAFKA_BOOTSTRAP_SERVERS']}"
            f"{' (SASL/SCRAM, one principal per service)' if principals else ''}\n"
            f"  Operator commands  source {ENV_FILE.relative_to(BASE_DIR)}, then "
            ".venv/bin/python manage.py consumerlag --settings=client_app.settings\n"
            "Press Ctrl-C to stop everything.\n",
            flush=True,
        )
        while not stopping["flag"]:
            dead = [r for r in running if r.process.poll() is not None]
            if dead:
                print(f"{dead[0].name} exited with {dead[0].process.returncode}; stopping everything.", file=sys.stderr)
                return 1
            time.sleep(0.5)
        print("Stopping...", flush=True)
    print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
