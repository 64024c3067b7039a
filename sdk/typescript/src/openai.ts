/**
 * The OpenAI SDK's tool-call loop over toolwire: toolwire's catalog as the `tools` array, the
 * model's `tool_calls` run on the gateway, their results appended, until the model answers.
 *
 * Typed structurally: any client with `chat.completions.create` (the `openai` package's `OpenAI`,
 * or an OpenAI-compatible one) fits, and this module imports nothing from it. `M` is the client's
 * message type (`ChatCompletionMessageParam` for the `openai` package).
 */

import type { ToolsQuery, Toolwire } from "./client.js";
import type { CallOptions } from "./http.js";
import type { OpenAIToolCallLike, OpenAIToolDefinition } from "./types.js";

/** The assistant message of a chat completion, as much of it as the loop reads. */
export interface AssistantMessage {
  role: "assistant";
  content: string | null;
  tool_calls?: readonly OpenAIToolCallLike[] | null;
}

/** What the loop needs of an OpenAI client. */
export interface ChatCompletionsClient<M, A extends AssistantMessage> {
  chat: {
    completions: {
      create(body: {
        model: string;
        messages: M[];
        tools: OpenAIToolDefinition[];
      }): PromiseLike<{ choices: { message: A }[] }>;
    };
  };
}

export interface OpenAIToolLoopOptions<M> extends CallOptions {
  model: string;
  /** The conversation so far; the loop appends to a copy. */
  messages: readonly M[];
  /** Which tools to offer (default: every tool the key may use). */
  tools?: Omit<ToolsQuery, "format">;
  /** Stop after this many model turns (default 8). */
  maxTurns?: number;
}

export interface OpenAIToolLoopResult<M, A> {
  /** The model's last message (no more tool calls, or `maxTurns` reached). */
  message: A;
  /** The whole conversation: the input messages, then every assistant and tool message. */
  messages: M[];
  /** How many model turns ran. */
  turns: number;
}

/**
 * Let the model call toolwire's tools until it answers without tool calls (or `maxTurns`).
 * Each turn's tool calls run on the gateway in one request; a failed call is answered with the
 * error as the tool message's content, so the model can read it and recover.
 */
export async function runOpenAIToolLoop<M, A extends AssistantMessage>(
  toolwire: Toolwire,
  openai: ChatCompletionsClient<M, A>,
  options: OpenAIToolLoopOptions<NoInfer<M>>,
): Promise<OpenAIToolLoopResult<M, A>> {
  const { model, maxTurns = 8, signal, timeoutMs } = options;
  const tools = await toolwire.tools({ ...options.tools, format: "openai" }, { signal, timeoutMs });
  const messages: M[] = [...options.messages];
  for (let turn = 1; ; turn++) {
    const completion = await openai.chat.completions.create({ model, messages, tools });
    const message = completion.choices[0]?.message;
    if (message === undefined) throw new TypeError("the model answered without a message");
    // The client's assistant and tool messages are valid conversation messages of that client.
    messages.push(message as unknown as M);
    if (!message.tool_calls?.length || turn >= maxTurns) return { message, messages, turns: turn };
    const results = await toolwire.runOpenAIToolCalls(message, { signal, timeoutMs });
    messages.push(...(results as unknown as M[]));
  }
}
