"""Free TCP ports on the loopback interface, for servers started by tests."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct TCP ports on ``host`` that were free a moment ago.

    All sockets stay bound until every port is chosen, so the kernel cannot hand
    out the same port twice. The ports are released on return: another process
    could take one before the caller binds it, a small race every "port 0" helper
    has and which is acceptable for tests.
    """
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port(host: str = LOOPBACK) -> int:
    """One TCP port on ``host`` that was free a moment ago (see :func:`free_ports`)."""
    return free_ports(1, host)[0]
