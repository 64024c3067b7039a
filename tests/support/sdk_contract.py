"""The gateway's contract as JSON, for SDKs written in other languages (the TypeScript SDK's tests
and type generator read it), so they reuse the server's tables instead of restating them.

    python -m tests.support.sdk_contract errors    every error code: class, parent, REST status,
                                                   and the Python SDK's status -> code fallback
    python -m tests.support.sdk_contract openapi   the /openapi.json document

Output is JSON on stdout, keys sorted, so a regenerated file diffs cleanly.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from toolwire.client._errors import CODE_FOR_STATUS
from toolwire.core.errors import ALL_ERRORS, ToolwireError
from toolwire.inbound.openapi_doc import openapi_document
from toolwire.inbound.rest import HTTP_STATUS

OPENAPI_SERVER = "http://127.0.0.1:8787"
"""The server URL written into the exported document (the gateway's default address)."""


def errors() -> dict[str, Any]:
    """`{"errors": [{code, class, parent, status}], "code_for_status": {status: code}}`."""
    rows = []
    for cls in ALL_ERRORS:
        parent = cls.__mro__[1]
        rows.append(
            {
                "code": cls.code,
                "class": cls.__name__,
                "parent": parent.__name__ if parent is not ToolwireError else None,
                "status": HTTP_STATUS[cls.code],
            }
        )
    return {
        "errors": rows,
        "code_for_status": {str(status): code for status, code in CODE_FOR_STATUS.items()},
    }


def openapi() -> dict[str, Any]:
    return openapi_document(OPENAPI_SERVER)


EXPORTS = {"errors": errors, "openapi": openapi}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in EXPORTS:
        print(
            f"usage: python -m tests.support.sdk_contract {{{'|'.join(EXPORTS)}}}", file=sys.stderr
        )
        return 2
    json.dump(EXPORTS[argv[0]](), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
