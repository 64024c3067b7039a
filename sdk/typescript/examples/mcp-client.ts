// The official MCP TypeScript SDK's client on toolwire's /mcp endpoint.
//   TOOLWIRE_API_KEY=tw_... node build/examples/mcp-client.js
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Toolwire } from "toolwire";

export async function main(tw = new Toolwire()): Promise<string[]> {
  const { url, requestInit } = tw.mcpEndpoint();
  const client = new Client({ name: "toolwire-example", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit }));
  try {
    const { tools } = await client.listTools();
    const result = await client.callTool({
      name: "calc.evaluate",
      arguments: { expression: "6 * 7" },
    });
    return [
      `${tools.length} tools over MCP`,
      `calc.evaluate -> ${JSON.stringify(result.structuredContent)}`,
    ];
  } finally {
    await client.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const line of await main()) console.log(line);
}
