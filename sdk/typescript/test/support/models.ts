/** Scripted models: an OpenAI-compatible server on 127.0.0.1 for the `openai` client, and the
 *  AI SDK's own `MockLanguageModelV3` steps. Each answers with the next scripted turn. */

import type { MockLanguageModelV3 } from "ai/test";
import type { ChatCompletion } from "openai/resources/chat/completions";
import { type Scripted, scriptedServer } from "./scripted.js";

/** A chat completion carrying `message`, as the OpenAI API answers. */
export function completion(message: ChatCompletion.Choice["message"]): ChatCompletion {
  return {
    id: "chatcmpl-test",
    object: "chat.completion",
    created: 0,
    model: "scripted",
    choices: [
      {
        index: 0,
        message,
        finish_reason: message.tool_calls?.length ? "tool_calls" : "stop",
        logprobs: null,
      },
    ],
  };
}

/** An OpenAI-compatible server that answers with `script`'s completions, in order. */
export function fakeOpenAI(script: ChatCompletion[]): Promise<Scripted> {
  let turn = 0;
  return scriptedServer((_request, _body, response) => {
    const next = script[Math.min(turn++, script.length - 1)];
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(next));
  });
}

/** What a scripted model answers in one step (the AI SDK's `LanguageModelV3GenerateResult`). */
export type LanguageModelV3GenerateResult = Awaited<ReturnType<MockLanguageModelV3["doGenerate"]>>;

export const USAGE: LanguageModelV3GenerateResult["usage"] = {
  inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 1, text: 1, reasoning: 0 },
};

export function toolCalls(...calls: [string, string, object][]): LanguageModelV3GenerateResult {
  return {
    content: calls.map(([toolCallId, toolName, input]) => ({
      type: "tool-call",
      toolCallId,
      toolName,
      input: JSON.stringify(input),
    })),
    finishReason: { unified: "tool-calls", raw: "tool_calls" },
    usage: USAGE,
    warnings: [],
  };
}

export const ANSWER: LanguageModelV3GenerateResult = {
  content: [{ type: "text", text: "It is 42." }],
  finishReason: { unified: "stop", raw: "stop" },
  usage: USAGE,
  warnings: [],
};
