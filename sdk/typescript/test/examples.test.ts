/** Every example under examples/ runs against the test gateway (models scripted), so the
 *  README's examples cannot rot. A new example needs a case here (the first test checks). */

import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { MockLanguageModelV3 } from "ai/test";
import OpenAI from "openai";
import { Toolwire } from "toolwire"; // the built package, as the examples import it
import * as adminExample from "../examples/admin.js";
import * as aiSdkExample from "../examples/ai-sdk-tools.js";
import * as anthropicExample from "../examples/anthropic-tool-use.js";
import * as mcpExample from "../examples/mcp-client.js";
import * as openaiExample from "../examples/openai-tool-loop.js";
import * as quickstart from "../examples/quickstart.js";
import { type Gateway, useGateway } from "./support/gateway.js";
import { ANSWER, completion, fakeOpenAI, toolCalls } from "./support/models.js";
import { SDK_ROOT, skipUnless, venvMissing } from "./support/paths.js";

const CASES = [
  "admin",
  "ai-sdk-tools",
  "anthropic-tool-use",
  "mcp-client",
  "openai-tool-loop",
  "quickstart",
];

describe("the examples", { skip: skipUnless(venvMissing()) }, () => {
  let gateway: Gateway;
  let tw: Toolwire;
  before(async () => {
    gateway = await useGateway();
    const { key } = await gateway.createAccount(100);
    tw = new Toolwire({ baseUrl: gateway.url, apiKey: key });
  });
  after(() => gateway?.stop());

  test("every example has a case here", () => {
    const files = readdirSync(join(SDK_ROOT, "examples")).filter((f) => f.endsWith(".ts"));
    assert.deepEqual(files.map((f) => f.replace(/\.ts$/, "")).sort(), CASES);
  });

  test("quickstart", async () => {
    const lines = await quickstart.main(tw);
    assert.match(lines[0] ?? "", /^calc\.evaluate -> .*14/);
    assert.match(lines.at(-1) ?? "", /^TOOL_NOT_FOUND \(HTTP 404, request \S+\)$/);
  });

  test("admin", async () => {
    const lines = await adminExample.main(
      new Toolwire({ baseUrl: gateway.url, apiKey: gateway.adminKey }),
    );
    assert.match(lines[0] ?? "", /balance 15$/);
    assert.match(lines[1] ?? "", /scopes calc\.\*$/);
  });

  test("openai-tool-loop", async () => {
    const call = {
      id: "c",
      type: "function" as const,
      function: { name: "calc__evaluate", arguments: '{"expression":"6 * 7"}' },
    };
    const model = await fakeOpenAI([
      completion({ role: "assistant", content: null, refusal: null, tool_calls: [call] }),
      completion({ role: "assistant", content: "42", refusal: null }),
    ]);
    try {
      const openai = new OpenAI({ apiKey: "sk-test", baseURL: `${model.url}/v1`, maxRetries: 0 });
      assert.equal(await openaiExample.main(tw, openai), "42 (after 2 model turns)");
    } finally {
      await model.close();
    }
  });

  test("ai-sdk-tools", async () => {
    const model = new MockLanguageModelV3({
      doGenerate: [toolCalls(["c1", "calc__evaluate", { expression: "6 * 7" }]), ANSWER],
    });
    assert.equal(await aiSdkExample.main(tw, model), "It is 42. (after 2 steps)");
  });

  test("mcp-client", async () => {
    const lines = await mcpExample.main(tw);
    assert.match(lines[0] ?? "", /^\d+ tools over MCP$/);
    assert.match(lines[1] ?? "", /42/);
  });

  test("anthropic-tool-use", async () => {
    const next = JSON.parse(await anthropicExample.main(tw));
    assert.equal(next.content[0].type, "tool_result");
    assert.equal(next.content[0].tool_use_id, "toolu_01");
  });
});
