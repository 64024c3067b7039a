"""The names federated resources and prompts cross the gateway under: reversible."""

from __future__ import annotations

import pytest

from toolwire.core.federated import prompt_name, resource_uri, split_prompt, split_resource


@pytest.mark.parametrize(
    "uri",
    [
        "demo://resource/static/document/a.md",
        "file:///tmp/x y/z",
        "https://example.com/a?b=c#d",
        "demo://resource/dynamic/text/{resourceId}",
        "toolwire://nested/demo://x",
    ],
)
def test_a_resource_uri_reverses_byte_for_byte(uri: str) -> None:
    assert split_resource(resource_uri("my_server-1", uri)) == ("my_server-1", uri)


def test_a_prompt_name_reverses_even_with_dots_in_it() -> None:
    assert split_prompt(prompt_name("local", "a.b.c")) == ("local", "a.b.c")


@pytest.mark.parametrize("uri", ["demo://x", "toolwire://", "toolwire://local", "toolwire:///x"])
def test_what_is_not_a_federated_resource_is_none(uri: str) -> None:
    assert split_resource(uri) is None


@pytest.mark.parametrize("name", ["plain", ".x", "local."])
def test_what_is_not_a_federated_prompt_is_none(name: str) -> None:
    assert split_prompt(name) is None
