/** Model tool calls through toolwire: the OpenAI tool-call loop driven through the real `openai`
 *  client against a scripted OpenAI-compatible server on 127.0.0.1, and Anthropic tool_use
 *  blocks. */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { runOpenAIToolLoop, Toolwire, UnauthenticatedError } from "../src/index.js";
import { type Gateway, useGateway } from "./support/gateway.js";
import { completion, fakeOpenAI } from "./support/models.js";
import { skipUnless, venvMissing } from "./support/paths.js";

const TOOL_CALLS = completion({
  role: "assistant",
  content: null,
  refusal: null,
  tool_calls: [
    {
      id: "call_calc",
      type: "function",
      function: { name: "calc__evaluate", arguments: '{"expression": "6 * 7"}' },
    },
    {
      id: "call_echo",
      type: "function",
      function: { name: "echo", arguments: '{"message":"hi"}' },
    },
    { id: "call_nope", type: "function", function: { name: "no_such_tool", arguments: "{}" } },
  ],
});
const FINAL = completion({ role: "assistant", content: "6 * 7 is 42.", refusal: null });

describe("model tool calls through toolwire", { skip: skipUnless(venvMissing()) }, () => {
  let gateway: Gateway;
  let tw: Toolwire;
  before(async () => {
    gateway = await useGateway();
    const { key } = await gateway.createAccount(100);
    tw = new Toolwire({ baseUrl: gateway.url, apiKey: key });
  });
  after(() => gateway?.stop());

  test("the OpenAI loop offers the catalog, runs the tool calls and returns the answer", async () => {
    const model = await fakeOpenAI([TOOL_CALLS, FINAL]);
    try {
      const openai = new OpenAI({ apiKey: "sk-test", baseURL: `${model.url}/v1`, maxRetries: 0 });

      const result = await runOpenAIToolLoop(tw, openai, {
        model: "scripted",
        messages: [{ role: "user", content: "What is 6 * 7?" }],
      });

      assert.equal(result.message.content, "6 * 7 is 42.");
      assert.equal(result.turns, 2);
      const [first, second] = model.requests.map((r) => JSON.parse(r.body));
      assert.equal(model.requests[0]?.url, "/v1/chat/completions");
      assert.deepEqual(first.tools, await tw.tools({ format: "openai" }));
      const toolMessages = second.messages.filter((m: { role: string }) => m.role === "tool");
      assert.deepEqual(
        toolMessages.map((m: { tool_call_id: string }) => m.tool_call_id),
        ["call_calc", "call_echo", "call_nope"],
      );
      assert.equal(JSON.parse(toolMessages[0].content).result, 42);
      assert.equal(JSON.parse(toolMessages[1].content).echo, "hi");
      assert.equal(JSON.parse(toolMessages[2].content).error.code, "TOOL_NOT_FOUND");
      assert.deepEqual(
        result.messages.map((m) => m.role),
        ["user", "assistant", "tool", "tool", "tool", "assistant"],
      );
    } finally {
      await model.close();
    }
  });

  test("runOpenAIToolCalls takes the openai client's own message, or its tool_calls", async () => {
    const model = await fakeOpenAI([TOOL_CALLS]);
    try {
      const openai = new OpenAI({ apiKey: "sk-test", baseURL: `${model.url}/v1`, maxRetries: 0 });
      const answer = await openai.chat.completions.create({
        model: "scripted",
        messages: [{ role: "user", content: "go" }],
        tools: await tw.tools({ format: "openai" }),
      });
      const message = answer.choices[0]?.message;
      assert.ok(message?.tool_calls);

      const fromMessage = await tw.runOpenAIToolCalls(message);
      const fromCalls = await tw.runOpenAIToolCalls(
        message.tool_calls.filter((call) => call.type === "function"),
      );

      assert.deepEqual(
        fromMessage.map((m) => [m.role, m.tool_call_id]),
        [
          ["tool", "call_calc"],
          ["tool", "call_echo"],
          ["tool", "call_nope"],
        ],
      );
      assert.deepEqual(
        fromCalls.map((m) => m.tool_call_id),
        fromMessage.map((m) => m.tool_call_id),
      );
      assert.deepEqual(await tw.runOpenAIToolCalls({ tool_calls: null }), []);
    } finally {
      await model.close();
    }
  });

  test("the loop stops after maxTurns even if the model keeps calling tools", async () => {
    const model = await fakeOpenAI([TOOL_CALLS]);
    try {
      const openai = new OpenAI({ apiKey: "sk-test", baseURL: `${model.url}/v1`, maxRetries: 0 });
      const result = await runOpenAIToolLoop(tw, openai, {
        model: "scripted",
        messages: [{ role: "user", content: "loop" }],
        maxTurns: 2,
      });

      assert.equal(result.turns, 2);
      assert.equal(model.requests.length, 2);
      assert.ok(result.message.tool_calls?.length);
    } finally {
      await model.close();
    }
  });

  test("Anthropic tool_use blocks become tool_result blocks, errors inline", async () => {
    const content = [
      { type: "text", text: "Let me compute that." },
      { type: "tool_use", id: "tu_1", name: "calc__evaluate", input: { expression: "2 + 3" } },
      { type: "tool_use", id: "tu_2", name: "no_such_tool", input: {} },
      { type: "tool_use", id: "tu_3", name: "calc__evaluate", input: { expression: 5 } },
      { type: "tool_use", id: "tu_4", name: "echo", input: "not an object" },
    ];

    const results = await tw.runAnthropicToolUses({ content });

    assert.deepEqual(
      results.map((r) => [r.type, r.tool_use_id, r.is_error ?? false]),
      [
        ["tool_result", "tu_1", false],
        ["tool_result", "tu_2", true],
        ["tool_result", "tu_3", true],
        ["tool_result", "tu_4", true],
      ],
    );
    assert.equal(JSON.parse(results[0]?.content ?? "").result, 5);
    assert.deepEqual(
      results.slice(1).map((r) => JSON.parse(r.content).error.code),
      ["TOOL_NOT_FOUND", "INVALID_ARGUMENTS", "INVALID_ARGUMENTS"],
    );
    assert.deepEqual(await tw.runAnthropicToolUses(content.slice(0, 2)), results.slice(0, 1));
  });

  test("tool calls with a bad key throw instead of answering the model", async () => {
    const bad = new Toolwire({ baseUrl: gateway.url, apiKey: "tw_nope" });
    const use = { type: "tool_use", id: "tu", name: "echo", input: { message: "x" } };

    await assert.rejects(bad.runAnthropicToolUses([use]), UnauthenticatedError);
    await assert.rejects(
      bad.runOpenAIToolCalls(TOOL_CALLS.choices[0]?.message ?? []),
      UnauthenticatedError,
    );
  });
});
