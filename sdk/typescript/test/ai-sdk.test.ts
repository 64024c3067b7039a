/** toolwire's catalog as a Vercel AI SDK tool set: `generateText` with the AI SDK's own scripted
 *  model (`MockLanguageModelV3`) calls toolwire's tools, and their results reach the model. */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { generateText, jsonSchema, stepCountIs } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { aiSdkTools, InvalidArgumentsError, Toolwire } from "../src/index.js";
import { type Gateway, useGateway } from "./support/gateway.js";
import { ANSWER, toolCalls } from "./support/models.js";
import { skipUnless, venvMissing } from "./support/paths.js";

describe("the Vercel AI SDK tool set", { skip: skipUnless(venvMissing()) }, () => {
  let gateway: Gateway;
  let tw: Toolwire;
  before(async () => {
    gateway = await useGateway();
    const { key } = await gateway.createAccount(100);
    tw = new Toolwire({ baseUrl: gateway.url, apiKey: key });
  });
  after(() => gateway?.stop());

  test("has one tool per operation, named as providers accept, with its schema", async () => {
    const tools = await aiSdkTools(tw, { jsonSchema });
    const calc = tools.calc__evaluate;

    assert.deepEqual(
      Object.keys(tools).sort(),
      (await tw.tools({ format: "openai" })).map((t) => t.function.name).sort(),
    );
    assert.ok(calc);
    const openai = (await tw.tools({ format: "openai" })).find(
      (t) => t.function.name === "calc__evaluate",
    );
    assert.deepEqual(calc.inputSchema.jsonSchema, openai?.function.parameters);
    assert.match(calc.description, /\S/);
  });

  test("generateText runs the model's tool calls on the gateway and feeds back the results", async () => {
    const model = new MockLanguageModelV3({
      doGenerate: [
        toolCalls(
          ["c1", "calc__evaluate", { expression: "6 * 7" }],
          ["c2", "echo", { message: "hi" }],
        ),
        ANSWER,
      ],
    });

    const result = await generateText({
      model,
      tools: await aiSdkTools(tw, { jsonSchema, tools: { q: "" } }),
      prompt: "What is 6 * 7?",
      stopWhen: stepCountIs(3),
    });

    assert.equal(result.text, "It is 42.");
    const [first] = result.steps;
    assert.deepEqual(
      first?.toolResults.map((r) => [r.toolName, r.output]),
      [
        ["calc__evaluate", (await tw.execute("calc.evaluate", { expression: "6 * 7" })).data],
        ["echo", (await tw.execute("echo", { message: "hi" })).data],
      ],
    );
    const secondPrompt = JSON.stringify(model.doGenerateCalls[1]?.prompt);
    assert.ok(secondPrompt.includes('"tool-result"'));
  });

  test("a refused call reaches the model as a tool error with the gateway's code", async () => {
    const model = new MockLanguageModelV3({
      doGenerate: [toolCalls(["c1", "calc__evaluate", { expression: 5 }]), ANSWER],
    });

    const result = await generateText({
      model,
      tools: await aiSdkTools(tw, { jsonSchema }),
      prompt: "break it",
      stopWhen: stepCountIs(3),
    });

    const errors = result.steps[0]?.content.filter((part) => part.type === "tool-error") ?? [];
    assert.equal(errors.length, 1);
    const error = errors[0]?.type === "tool-error" ? errors[0].error : undefined;
    assert.ok(error instanceof InvalidArgumentsError);
  });
});
