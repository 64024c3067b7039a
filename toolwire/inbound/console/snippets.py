"""The first-start snippets (curl, an MCP client's config, the Python SDK) for one gateway URL and
key: what `toolwire serve` prints on first start and the console shows with copy buttons.

One source for both, so the terminal and the browser never teach two different calls. The key
given is put in as is: the console passes a placeholder except on the one page that shows a new
key, once.
"""

from __future__ import annotations

import json

PLACEHOLDER = "YOUR_API_KEY"


def snippets(url: str, key: str = PLACEHOLDER) -> dict[str, str]:
    """{"curl": ..., "mcp": ..., "python": ...} for the gateway at `url` (no trailing slash)."""
    curl = (
        f"curl -s {url}/api/v1/execute -H 'Authorization: Bearer {key}' \\\n"
        f"     -H 'Content-Type: application/json' \\\n"
        '     -d \'{"tool": "echo", "input": {"message": "hello"}}\''
    )
    mcp_config = json.dumps(
        {
            "mcpServers": {
                "toolwire": {"url": f"{url}/mcp", "headers": {"Authorization": f"Bearer {key}"}}
            }
        },
        indent=2,
    )
    sdk = (
        "from toolwire.client import Client\n"
        f"client = Client({url!r}, api_key={key!r})\n"
        'print(client.execute("echo", {"message": "hello"}).data)'
    )
    return {"curl": curl, "mcp": mcp_config, "python": sdk}
