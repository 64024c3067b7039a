"""Settings refuse absurd values at load, naming the variable."""

from __future__ import annotations

import pytest

from toolwire.settings import Settings


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TOOLWIRE_AUDIT_RETENTION_DAYS", "-1"),
        ("TOOLWIRE_AUDIT_RETENTION_DAYS", "nan"),
        ("TOOLWIRE_AUDIT_PRUNE_BATCH", "0"),
        ("TOOLWIRE_METRICS_PORT", "70000"),
    ],
)
def test_absurd_observability_settings_are_refused_at_load(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})
