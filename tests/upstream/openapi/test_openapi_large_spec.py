"""A real large public spec imports without error: GitHub's REST API description (811 paths,
13 MB; fixtures/README.md names its source and licence). Nothing here is timed: the start time
and memory are measured by `python -m bench.openapi_start`."""

from __future__ import annotations

import lzma
from pathlib import Path

import orjson
import pytest

from toolwire.config import build_catalog, parse_config
from toolwire.inbound import formats
from toolwire.upstream.openapi import Curation, load_document, plan

GITHUB = Path(__file__).parent.parent / "fixtures" / "github-api.json.xz"


@pytest.fixture(scope="module")
def github_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("github") / "api.github.com.json"
    path.write_bytes(lzma.decompress(GITHUB.read_bytes()))
    return path


def test_the_github_spec_imports_and_the_catalog_serves_what_the_plan_exposes(
    github_spec: Path,
) -> None:
    document = load_document(str(github_spec))
    planned = plan(document, Curation())
    exposed = [p for p in planned if p.exposed]
    assert len(planned) > 1000 and len(exposed) > 600
    assert len({p.name for p in exposed}) == len(exposed)  # no name collapsed
    hidden = {p.reason.split(" (")[0] for p in planned if not p.exposed}
    assert all(r.startswith(("deprecated", "POST", "PUT", "PATCH", "DELETE")) for r in hidden)
    config = parse_config(
        {"builtins": {"include": []}, "openapi": {"github": {"spec": str(github_spec)}}}
    )
    catalog = build_catalog(config)
    assert sorted(op.name for op in catalog) == sorted(p.name for p in exposed)
    for fmt in formats.FORMATS:
        orjson.dumps(formats.render(catalog, list(catalog), fmt))  # every tool, every format
