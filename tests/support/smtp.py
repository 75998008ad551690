"""A real SMTP server for the tests (aiosmtpd), recording every message; it can be stopped and restarted
on the same port, as a mail server goes down and comes back."""

from __future__ import annotations

import email
import threading
from email.message import Message

from aiosmtpd.controller import Controller


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


class MailServer:
    """``start()``/``stop()`` as often as wanted; ``messages`` keeps everything accepted across restarts."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self.recorder = _Recorder()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.recorder, hostname=self.host, port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[Message]:
        with self.recorder.lock:
            return list(self.recorder.messages)

    def __enter__(self) -> MailServer:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
