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


OIDC = {
    "TOOLWIRE_CONSOLE_OIDC_ISSUER": "https://login.example.com",
    "TOOLWIRE_CONSOLE_OIDC_CLIENT_ID": "console",
    "TOOLWIRE_CONSOLE_OIDC_OPERATORS": "email:ops@example.com,sub:42",
}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"TOOLWIRE_CONSOLE_OIDC_CLIENT_ID": ""}, "TOOLWIRE_CONSOLE_OIDC_CLIENT_ID"),
        ({"TOOLWIRE_CONSOLE_OIDC_OPERATORS": ""}, "TOOLWIRE_CONSOLE_OIDC_OPERATORS"),
        ({"TOOLWIRE_CONSOLE_OIDC_OPERATORS": "ops@example.com"}, "not sub:SUBJECT"),
        ({"TOOLWIRE_CONSOLE_OIDC_OPERATORS": "sub:"}, "not sub:SUBJECT"),
        ({"TOOLWIRE_CONSOLE_OIDC_SCOPES": "email"}, "must include openid"),
    ],
)
def test_console_oidc_settings_that_cannot_work_are_refused_at_load(
    change: dict[str, str], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        Settings.from_env({**OIDC, **change})


def test_no_secret_setting_is_in_the_settings_repr() -> None:
    secrets = {
        "TOOLWIRE_CONSOLE_OIDC_CLIENT_SECRET": "s3cret-oidc",
        "TOOLWIRE_SECRET_KEY": "s3cret-key",
        "TOOLWIRE_ADMIN_KEY": "s3cret-admin",
        "TOOLWIRE_MCP_ANONYMOUS_KEY": "s3cret-anon",
        "TOOLWIRE_METRICS_TOKEN": "s3cret-scrape",
        "TOOLWIRE_DATABASE_URL": "postgresql://u:s3cret-db@h/db",
        "TOOLWIRE_STATE_URL": "redis://:s3cret-redis@h:6379/0",
    }
    settings = Settings.from_env({**OIDC, **secrets})
    assert settings.console_oidc_client_secret == "s3cret-oidc"
    assert "s3cret" not in repr(settings)
