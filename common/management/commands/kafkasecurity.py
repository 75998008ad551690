"""Create the platform's Kafka users (SCRAM-SHA-512) and their ACLs on a cluster.

Why it exists: anyone who can reach an unsecured broker can write ``orders``
and have the kitchen cook an order no customer placed. On a cluster with
SASL/SCRAM and an authorizer, each service logs in as its own principal and
may do only what ``common/kafka/acl.py`` grants it (the README's policy table).
This command puts that policy on the cluster: it sets the password of every
principal whose ``PALMETTO_KAFKA_<NAME>_PASSWORD`` is set and creates every ACL.
Run it as a super user (``KAFKA_SASL_USERNAME``); running it again changes
nothing (passwords are upserted, existing ACLs stay as they are).

    manage.py kafkasecurity --settings=client_app.settings
    manage.py kafkasecurity --settings=client_app.settings --print   # the ACLs, nothing changed
"""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common.kafka.acl import PRINCIPALS, acl_bindings, principal_name
from common.kafka.admin import admin_client
from common.management.kafka import bootstrap_servers

SCRAM_ITERATIONS = 8192


class Command(BaseCommand):
    help = "Create the Palmetto SCRAM users and ACLs on the Kafka cluster (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--print", action="store_true", help="Only print the ACLs this would create.")
        parser.add_argument("--timeout", type=float, default=30.0, help="Seconds to wait for each request.")

    def handle(self, *args, **options) -> None:
        config = settings.PALMETTO_CONFIG
        prefix = config.topic_prefix
        bindings = acl_bindings(prefix)
        if options["print"]:
            for binding in bindings:
                self.stdout.write(str(binding))
            return
        bootstrap = bootstrap_servers()
        admin = admin_client(bootstrap)
        passwords = config.kafka_principal_passwords
        upserts = [
            UserScramCredentialUpsertion(
                principal_name(prefix, principal),
                ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
                passwords[principal].encode(),
            )
            for principal in PRINCIPALS
            if principal in passwords
        ]
        try:
            if upserts:
                for user, future in admin.alter_user_scram_credentials(
                    upserts, request_timeout=options["timeout"]
                ).items():
                    future.result()
                    self.stdout.write(f"user     {user} (SCRAM-SHA-512)")
            for future in admin.create_acls(bindings, request_timeout=options["timeout"]).values():
                future.result()
            self.stdout.write(f"acls     {len(bindings)} ACL bindings for {len(PRINCIPALS)} principals")
        except KafkaException as exc:
            raise CommandError(f"Kafka at {bootstrap} refused or did not answer: {exc}") from exc
        missing = [p for p in PRINCIPALS if p not in passwords]
        if missing:
            self.stdout.write(
                "no password set for " + ", ".join(principal_name(prefix, p) for p in missing) + "; users not changed"
            )
