/** The official MCP TypeScript SDK's client pointed at toolwire's /mcp with `mcpEndpoint()`:
 *  the same catalog, the same calls, the same billing as the REST door. */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Toolwire } from "../src/index.js";
import { ECHO_PRICE, type Gateway, useGateway } from "./support/gateway.js";
import { skipUnless, venvMissing } from "./support/paths.js";

describe("the MCP TypeScript SDK client on /mcp", { skip: skipUnless(venvMissing()) }, () => {
  let gateway: Gateway;
  let tw: Toolwire;
  let mcp: Client;
  before(async () => {
    gateway = await useGateway();
    const { key } = await gateway.createAccount(10);
    tw = new Toolwire({ baseUrl: gateway.url, apiKey: key });
    const endpoint = tw.mcpEndpoint();
    mcp = new Client({ name: "toolwire-ts-test", version: "0.0.0" });
    await mcp.connect(
      new StreamableHTTPClientTransport(endpoint.url, { requestInit: endpoint.requestInit }),
    );
  });
  after(async () => {
    await mcp?.close();
    await gateway?.stop();
  });

  test("mcpEndpoint is the gateway's /mcp with the key", () => {
    const endpoint = tw.mcpEndpoint();

    assert.equal(endpoint.url.href, `${gateway.url}/mcp`);
    assert.match(endpoint.requestInit.headers.Authorization ?? "", /^Bearer tw_/);
  });

  test("lists the tools the REST door lists in MCP format", async () => {
    const { tools } = await mcp.listTools();

    assert.deepEqual(
      tools.map((t) => t.name).sort(),
      (await tw.tools({ format: "mcp" })).map((t) => t.name).sort(),
    );
  });

  test("calls a tool and is billed like any other door", async () => {
    const before = (await tw.me()).balance;

    const calc = await mcp.callTool({ name: "calc.evaluate", arguments: { expression: "6 * 7" } });
    const echo = await mcp.callTool({ name: "echo", arguments: { message: "hi" } });

    assert.equal(calc.isError ?? false, false);
    assert.deepEqual(
      calc.structuredContent,
      (await tw.execute("calc.evaluate", { expression: "6 * 7" })).data,
    );
    assert.equal(echo.isError ?? false, false);
    assert.equal((await tw.me()).balance, before - ECHO_PRICE);
  });

  test("a refused call is an MCP tool error carrying the gateway's code", async () => {
    const refused = await mcp.callTool({ name: "calc.evaluate", arguments: { expression: 5 } });

    assert.equal(refused.isError, true);
    assert.match(JSON.stringify(refused), /INVALID_ARGUMENTS/);
  });
});
