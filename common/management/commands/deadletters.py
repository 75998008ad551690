"""Look at dead letters and send chosen ones back where they came from.

Why it exists: a consumer parks a message it can never process in
``<topic>.DLT`` and moves on (see ``common/errors.py``), so someone has to see
what was parked, why, and from where -- and, once the cause is fixed (a bug
deployed away, a missing order created), put the message back. Replaying is
safe to repeat: consumers skip an ``event_id`` they already applied, and a
message that is still invalid simply lands in the dead-letter topic again.

    python manage.py deadletters list [--topic orders|notifications] [--limit N]
    python manage.py deadletters show orders.DLT 1:42
    python manage.py deadletters replay orders 1:42 1:43

Topics are named without the prefix, with or without ``.DLT``; ``1:42`` is
partition 1, offset 42 of the dead-letter topic, as ``list`` prints it.
Reading commits nothing and joins no consumer group.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.kafka.deadletters import (
    NoSuchMessage,
    NotReplayable,
    ReplayFailed,
    fetch_dead_letters,
    list_dead_letters,
    replay_dead_letters,
)
from common.management.kafka import add_timeout_argument, bootstrap_servers, kafka_errors
from common.topics import DLT_SUFFIX, TOPICS, Topic

ACTIONS = ("list", "show", "replay")
POSITION_RE = re.compile(r"^(\d+):(\d+)$")


def parse_topic(name: str) -> Topic:
    """``orders``, ``orders.DLT`` -> the ``orders`` topic; CommandError for anything else."""
    logical = name.removesuffix(DLT_SUFFIX)
    for topic in TOPICS:
        if topic.name == logical:
            return topic
    choices = ", ".join(t.name for t in TOPICS)
    raise CommandError(f"unknown topic {name!r}: choose from {choices} (with or without {DLT_SUFFIX})")


def parse_position(raw: str) -> tuple[int, int]:
    match = POSITION_RE.match(raw)
    if match is None:
        raise CommandError(f"{raw!r} is not a position: give partition:offset, e.g. 1:42")
    return int(match[1]), int(match[2])


def as_text(raw: bytes | None) -> str:
    """Bytes as text when they are UTF-8, else as hex; Kafka's null as ``(null)``."""
    if raw is None:
        return "(null)"
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"(hex) {raw.hex()}"


def one_line(text: str | None) -> str:
    return " ".join((text or "?").split())


class Command(BaseCommand):
    help = (
        "Dead letters (messages consumers could never process): "
        "list [--topic orders|notifications] [--limit N]; show TOPIC PARTITION:OFFSET; "
        "replay TOPIC PARTITION:OFFSET [PARTITION:OFFSET ...]."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # One positional action rather than argparse sub-commands: a sub-command's parser would take over
        # the rest of the line and refuse Django's own options (--settings=...) written after it.
        parser.add_argument("action", choices=ACTIONS, help="list | show TOPIC POSITION | replay TOPIC POSITION...")
        parser.add_argument("target", nargs="*", metavar="TOPIC POSITION",
                            help="A topic (orders, orders.DLT, ...), then partition:offset in its dead-letter topic.")
        parser.add_argument("--topic", choices=[t.name for t in TOPICS], help="list: only this topic's dead letters.")
        parser.add_argument("--limit", type=int, help="list: at most this many per dead-letter topic (the oldest).")
        add_timeout_argument(parser)

    def handle(self, *args, **options) -> None:
        bootstrap = bootstrap_servers()
        action, target, timeout = options["action"], options["target"], options["timeout"]
        if action != "list" and (options["topic"] or options["limit"] is not None):
            raise CommandError("--topic and --limit go with list; show and replay take TOPIC POSITION")
        try:
            with kafka_errors(bootstrap):
                if action == "list":
                    self.list_letters(bootstrap, target, options["topic"], options["limit"], timeout)
                elif action == "show":
                    self.show_letter(bootstrap, target, timeout)
                else:
                    self.replay_letters(bootstrap, target, timeout)
        except (NoSuchMessage, NotReplayable, ReplayFailed) as exc:
            raise CommandError(str(exc)) from exc

    def list_letters(self, bootstrap: str, target: list[str], only: str | None, limit: int | None,
                     timeout: float) -> None:
        if target:
            raise CommandError(f"list takes no TOPIC POSITION (got {' '.join(target)}); use --topic")
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1")
        prefix = settings.PALMETTO_CONFIG.topic_prefix
        for topic in [parse_topic(only)] if only else TOPICS:
            page = list_dead_letters(bootstrap, topic.dlt_name(prefix), limit=limit, timeout=timeout)
            shown = f", showing the oldest {len(page.letters)}" if len(page.letters) < page.total else ""
            self.stdout.write(f"{page.topic}: {page.total} dead letter{'s' if page.total != 1 else ''}{shown}")
            for letter in page.letters:
                self.stdout.write(
                    f"  {letter.position}  from {letter.origin}  group {letter.group or '?'}"
                    f"  failed_at {letter.failed_at or '?'}  key {one_line(as_text(letter.key))}"
                    f"  error: {one_line(letter.error)}"
                )
            if not page.complete:
                self.stdout.write(self.style.WARNING("  (ran out of time reading it: the list is incomplete)"))

    def show_letter(self, bootstrap: str, target: list[str], timeout: float) -> None:
        if len(target) != 2:
            raise CommandError("usage: deadletters show TOPIC PARTITION:OFFSET, e.g. show orders.DLT 1:42")
        topic, position = parse_topic(target[0]), parse_position(target[1])
        dlt = topic.dlt_name(settings.PALMETTO_CONFIG.topic_prefix)
        [letter] = fetch_dead_letters(bootstrap, dlt, [position], timeout=timeout)
        written = letter.written_at.isoformat() if letter.written_at else "?"
        self.stdout.write(f"dead letter  {dlt} {letter.position} (written {written})")
        self.stdout.write(f"origin       {letter.origin}")
        self.stdout.write(f"group        {letter.group or '?'}")
        self.stdout.write(f"failed_at    {letter.failed_at or '?'}")
        self.stdout.write(f"error        {letter.error or '?'}")
        self.stdout.write(f"key          {as_text(letter.key)}")
        self.stdout.write("headers")
        for name, raw in letter.headers:
            self.stdout.write(f"  {name}: {as_text(raw)}")
        self.stdout.write(f"value ({0 if letter.value is None else len(letter.value)} bytes)")
        self.stdout.write(as_text(letter.value))

    def replay_letters(self, bootstrap: str, target: list[str], timeout: float) -> None:
        if len(target) < 2:
            raise CommandError("usage: deadletters replay TOPIC PARTITION:OFFSET [...], e.g. replay orders 1:42")
        topic, positions = parse_topic(target[0]), [parse_position(raw) for raw in target[1:]]
        prefix = settings.PALMETTO_CONFIG.topic_prefix
        dlt = topic.dlt_name(prefix)
        letters = fetch_dead_letters(bootstrap, dlt, positions, timeout=timeout)
        for replayed in replay_dead_letters(bootstrap, letters, expected_topic=topic.full_name(prefix)):
            letter = replayed.letter
            self.stdout.write(
                f"replayed {dlt} {letter.position} -> {replayed.topic} (key {one_line(as_text(letter.key))}, "
                f"{len(letter.original_headers)} headers; dead-lettered from {letter.origin}: "
                f"{one_line(letter.error)})"
            )
        self.stdout.write(f"{len(letters)} replayed; consumers skip any they already applied")
