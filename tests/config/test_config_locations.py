"""A refused catalog file names where it is wrong: the file, the YAML path and its line
(`ConfigError.file/path/line/location`, `toolwire.config.locate`), for each kind of mistake a
reload may meet; and the watched files and content digest `load_config` reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolwire.config import ConfigError, build_catalog, load_config, locate


def refusal(path: Path, text: str) -> ConfigError:
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        build_catalog(load_config(path))
    return locate(caught.value)


@pytest.mark.parametrize(
    ("text", "where", "line"),
    [
        ("builtins:\n  include: [echo]\ntimeouts:\n  echo: -1\n", "timeouts/echo", 4),
        ("prices:\n  echo: 0.0000001\n", "prices/echo", 2),
        ("prices:\n  echo: 1\n  nosuch: 2\n", "prices/nosuch", 3),
        (
            "upstreams:\n  crm:\n    auth: {type: bearer, secret: s}\n",
            "upstreams/crm",
            2,
        ),
        (
            "upstreams:\n  u: {base_url: 'http://127.0.0.1:1'}\ntools:\n  t:\n"
            "    description: d\n    operations:\n      get:\n        upstream: nope\n"
            "        description: d\n        input_schema: {type: object}\n        path: /x\n",
            "tools/t/operations/get",
            7,
        ),
    ],
)
def test_a_refusal_names_the_file_the_yaml_path_and_the_line(
    tmp_path: Path, text: str, where: str, line: int
) -> None:
    path = tmp_path / "catalog.yaml"
    error = refusal(path, text)
    assert (error.file, error.path, error.line) == (str(path), where, line)
    assert error.location == f"{path}:{line} (at {where})"
    assert error.to_dict()["location"] == error.location


def test_a_yaml_syntax_error_has_its_line_and_no_path(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    error = refusal(path, "builtins:\n  include: [echo\nprices: {}\n")
    assert error.file == str(path) and error.path is None and error.line == 3
    assert error.location == f"{path}:3"


def test_a_path_merged_from_an_include_keeps_its_path_without_a_line(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("timeouts:\n  echo: -1\n")
    path = tmp_path / "catalog.yaml"
    error = refusal(path, "include: [base.yaml]\nprices: {echo: 1}\n")
    assert (error.path, error.line) == ("timeouts/echo", None)


def test_load_config_lists_the_files_read_and_digests_their_merged_content(
    tmp_path: Path,
) -> None:
    (tmp_path / "base.yaml").write_text("prices: {echo: 1}\n")
    path = tmp_path / "catalog.yaml"
    path.write_text("include: [base.yaml]\nbuiltins: {include: [echo]}\n")
    config = load_config(path)
    assert config.files == (path, tmp_path / "base.yaml")
    path.write_text("builtins: {include: [echo]}\ninclude: [base.yaml]\n")  # same content
    assert load_config(path).digest == config.digest
    (tmp_path / "base.yaml").write_text("prices: {echo: 2}\n")
    assert load_config(path).digest != config.digest
