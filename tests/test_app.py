"""The app's own answers outside any door: a 405 names every method the path serves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from toolwire.app import create_app
from toolwire.settings import Settings


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data: Path = tmp_path_factory.mktemp("app")
    with TestClient(create_app(Settings(data_dir=data))) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/v1/execute", "POST"),
        ("GET", "/api/v1/execute", "POST"),
        ("PUT", "/admin/v1/accounts", "GET, HEAD, POST"),  # two routes share the path
        ("POST", "/admin/v1/accounts/acc_1", "GET, HEAD, PATCH"),
        ("POST", "/admin/v1/keys/k_1/budget", "GET, HEAD, PUT"),
        ("GET", "/api/v1/me/byok/openai", "DELETE, PUT"),
        ("POST", "/healthz", "GET, HEAD"),
        ("DELETE", "/openapi.json", "GET, HEAD"),
    ],
)
def test_a_405_carries_allow_with_every_method_of_the_path(
    http: TestClient, method: str, path: str, allow: str
) -> None:
    response = http.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"]["code"] == "INVALID_REQUEST"
