"""Fixtures for remote mode: a control plane on loopback and a backend pointed at it."""

from __future__ import annotations

import socket
from typing import Any, Callable, Iterator

import httpx
import pytest

from oc_cli.remote.backend import RemoteControlPlane
from tests.support.cp_server import ControlPlaneServer


@pytest.fixture
def cp_server() -> Iterator[ControlPlaneServer]:
    """A dev-mode control plane (every caller may read and write)."""
    with ControlPlaneServer() as server:
        yield server


@pytest.fixture
def make_cp_server() -> Iterator[Callable[..., ControlPlaneServer]]:
    """Build servers with other settings (token mode, short grants); all stopped afterwards."""
    servers: list[ControlPlaneServer] = []

    def make(**settings: Any) -> ControlPlaneServer:
        server = ControlPlaneServer(**settings)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def api(cp_server: ControlPlaneServer) -> Iterator[httpx.Client]:
    """A raw HTTP client on ``<server>/api/v1``, for checking the server itself."""
    with httpx.Client(base_url=cp_server.api_url, timeout=5) as client:
        yield client


@pytest.fixture
def remote(cp_server: ControlPlaneServer) -> Iterator[RemoteControlPlane]:
    """The backend under test, without retry pauses."""
    with RemoteControlPlane(cp_server.url, "any-token", timeout=5, backoff=0) as backend:
        yield backend


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens (the port was bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
