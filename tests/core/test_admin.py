"""`Admin`'s rules, the ones every admin door shares: the admin check and the amount limits.

The doors' own tests (tests/inbound, tests/cli/test_cli_admin.py, tests/client/test_client_admin.py)
send the same out-of-limit amounts through HTTP, the terminal and the SDK."""

from __future__ import annotations

from decimal import Decimal

import pytest

from toolwire.core.admin import MAX_CREDITS, MAX_NAME, Admin, parse_amount, parse_name
from toolwire.core.errors import Forbidden, InvalidRequest
from toolwire.core.model import MICRO, Principal
from toolwire.core.scopes import ScopeSet

OVER_THE_LIMIT = [
    MAX_CREDITS + 1,
    str(MAX_CREDITS + 1),
    f"{MAX_CREDITS}.000001",
    float(MAX_CREDITS) * 10,
    str(2**63 // MICRO + 1),  # the CLI once allowed up to the 64-bit limit
    "1e400",
]
NOT_AN_AMOUNT = [True, None, [], {}, "lots", "nan", "inf", "-inf", "", "0x10"]


@pytest.mark.parametrize("value", [0, "0", 1, 0.25, "0.000001", " 2 ", MAX_CREDITS, "1e3"])
def test_amounts_within_the_limits_become_exact_micro_credits(value: object) -> None:
    text = value.strip() if isinstance(value, str) else value
    assert parse_amount(value, "amount") == int(Decimal(str(text)) * MICRO)


@pytest.mark.parametrize("value", OVER_THE_LIMIT + NOT_AN_AMOUNT + ["0.0000001", -1, "-0.5"])
def test_amounts_outside_the_limits_are_invalid_requests_naming_the_field(value: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_amount(value, "hour")
    assert "'hour'" in caught.value.message


def test_positive_refuses_zero_and_optional_takes_null() -> None:
    with pytest.raises(InvalidRequest, match="positive"):
        parse_amount("0", "amount", positive=True)
    assert Admin.parse_optional_amount(None, "day") is None
    assert Admin.parse_optional_amount("1.5", "day") == 1_500_000


def test_only_an_admin_principal_passes_the_admin_check() -> None:
    admin = Principal("admin", "acc_a", ScopeSet(["*"]), is_admin=True)
    user = Principal("key_1", "acc_a", ScopeSet(["*"]))
    assert Admin.require_admin(admin) is admin
    with pytest.raises(Forbidden):
        Admin.require_admin(user)


@pytest.mark.parametrize("value", ["team a", " ünïcødé ✓ 🎉 ", "x" * MAX_NAME])
def test_printable_names_are_taken_stripped(value: str) -> None:
    assert parse_name(value) == value.strip()


@pytest.mark.parametrize(
    "value",
    ["", "   ", "x" * (MAX_NAME + 1), "nul\x00inside", "tab\tinside", "line\nbreak", "\ud800", 7],
)
def test_names_that_are_empty_long_or_not_printable_are_refused(value: object) -> None:
    """Control characters and lone surrogates are refused, not stored: PostgreSQL's text cannot
    hold NUL, no UTF-8 encoder takes a lone surrogate, and neither belongs in a name."""
    with pytest.raises(InvalidRequest) as caught:
        parse_name(value, "name")
    assert "'name'" in caught.value.message
