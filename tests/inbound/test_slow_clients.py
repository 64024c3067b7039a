"""Slow and misbehaving clients against a real `toolwire serve`, over raw sockets (issue 8,
items 12 and 13): headers and bodies trickled past their deadlines are cut off, connections
beyond the cap are refused, and none of it floods the log or leaves a traceback.

Deadlines are configured small (half a second) so the tests wait on the server closing the
socket, never on a sleep; the only clock is each socket's receive timeout, a bound, not a wait.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest

from toolwire.testing import RunningGateway, start_gateway

CAP = 8
BOUND_S = 10.0
"""How long a test waits for the server to act before failing (far above every deadline)."""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    gw = start_gateway(
        tmp_path_factory.mktemp("slow-clients"),
        env={
            "TOOLWIRE_HEADER_TIMEOUT_S": "0.5",
            "TOOLWIRE_BODY_TIMEOUT_S": "0.5",
            "TOOLWIRE_KEEP_ALIVE_S": "30",
            "TOOLWIRE_MAX_CONNECTIONS": str(CAP),
        },
    )
    try:
        yield gw
    finally:
        gw.stop()


def connect(gw: RunningGateway) -> socket.socket:
    host, port = gw.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=BOUND_S)
    sock.settimeout(BOUND_S)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by BOUND_S)."""
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def wait_for_log(gw: RunningGateway, text: str) -> str:
    deadline = time.monotonic() + BOUND_S
    while text not in (logs := gw.logs()):
        assert time.monotonic() < deadline, f"{text!r} never logged:\n{logs[-2000:]}"
        time.sleep(0.02)
    return logs


def trickle(sock: socket.socket, data: bytes) -> tuple[int, bytes]:
    """Send `data` one byte at a time, after each waiting up to 50 ms for the server to answer
    or hang up: (bytes sent before it did, what it sent)."""
    sock.settimeout(0.05)
    for sent in range(len(data)):
        try:
            sock.sendall(data[sent : sent + 1])
            answer = sock.recv(65536)
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return sent, b""
        sock.settimeout(BOUND_S)
        return sent + 1, answer + (read_until_closed(sock) if answer else b"")
    return len(data), b""


def healthy(gw: RunningGateway) -> bool:
    with connect(gw) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        return read_until_closed(sock).startswith(b"HTTP/1.1 200")


def test_headers_sent_a_byte_at_a_time_are_cut_off_with_408(gateway: RunningGateway) -> None:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(connect(gateway)) for _ in range(CAP - 2)]
        for sock in socks:
            sock.sendall(b"G")  # ... and never the rest
        answers = [read_until_closed(sock) for sock in socks]
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:3]
    assert healthy(gateway)


def test_headers_trickled_a_byte_per_50ms_are_cut_off_by_a_total_deadline(
    gateway: RunningGateway,
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-pad: " + b"p" * 400 + b"\r\n\r\n"
    with connect(gateway) as sock:
        sent, answer = trickle(sock, request)
    assert sent < len(request)
    assert answer.startswith(b"HTTP/1.1 408")


def test_a_body_trickled_a_byte_per_50ms_is_cut_off_by_a_total_deadline(
    gateway: RunningGateway,
) -> None:
    _, key = gateway.create_account(credits=1)
    body = b'{"tool": "echo", "input": {"message": "' + b"m" * 400 + b'"}}'
    head = (
        b"POST /api/v1/execute HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        + f"authorization: Bearer {key}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
    )
    with connect(gateway) as sock:
        sock.sendall(head)
        sent, answer = trickle(sock, body)
    assert sent < len(body)
    assert answer == b""


def test_a_connection_that_sends_nothing_is_cut_off(gateway: RunningGateway) -> None:
    with connect(gateway) as sock:
        assert read_until_closed(sock).startswith(b"HTTP/1.1 408")


def test_a_kept_alive_connection_still_has_a_header_deadline_per_request(
    gateway: RunningGateway,
) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        first = b""
        while not first.endswith(b"}"):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /hea")  # the next request stalls mid-line
        assert read_until_closed(sock).startswith(b"HTTP/1.1 408")


def test_a_body_trickled_past_its_deadline_is_cut_off_without_a_traceback(
    gateway: RunningGateway,
) -> None:
    _, key = gateway.create_account(credits=1)
    with connect(gateway) as sock:
        sock.sendall(
            b"POST /api/v1/execute HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + f"authorization: Bearer {key}\r\n".encode()
            + b"content-length: 100\r\n\r\n{"
        )
        assert read_until_closed(sock) == b""
    logs = wait_for_log(gateway, "request body took over 0.5s")
    assert "Traceback" not in logs
    assert healthy(gateway)


def test_clients_that_vanish_mid_body_leave_one_line_and_no_traceback(
    gateway: RunningGateway,
) -> None:
    _, key = gateway.create_account(credits=1)
    for _ in range(30):
        with connect(gateway) as sock:
            sock.sendall(
                b"POST /api/v1/execute HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                + f"authorization: Bearer {key}\r\n".encode()
                + b"content-length: 1000\r\n\r\n"
                + b'{"tool": "echo", "input": {"message": "'
            )
    logs = wait_for_log(gateway, "client went away during its request")
    assert healthy(gateway)
    logs = gateway.logs()
    assert "Traceback" not in logs
    assert logs.count("client went away during its request") <= 2


def test_malformed_connections_are_answered_400_and_logged_once_per_interval(
    gateway: RunningGateway,
) -> None:
    for _ in range(100):
        with connect(gateway) as sock:
            sock.sendall(b"\x16\x03\x01 this is not HTTP\r\n\r\n")
            assert read_until_closed(sock).startswith(b"HTTP/1.1 400")
    logs = wait_for_log(gateway, "Invalid HTTP request received")
    assert logs.count("Invalid HTTP request received") <= 2
    assert "Traceback" not in logs


def test_connections_beyond_the_cap_are_refused_with_503(gateway: RunningGateway) -> None:
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(connect(gateway)) for _ in range(CAP)]
        for sock in held:  # a full request each: the server has surely accepted them
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        with connect(gateway) as extra:
            assert read_until_closed(extra).startswith(b"HTTP/1.1 503")
    assert any(healthy(gateway) for _ in range(50))  # the held ones closed: room again
