/**
 * toolwire's catalog as a Vercel AI SDK tool set (`generateText({ tools })`, `streamText`).
 *
 * Pass the AI SDK's own `jsonSchema` helper: this package then imports nothing from `ai` and
 * works with whichever version you installed. Each tool's `execute` runs the call on the gateway
 * (the AI SDK's `abortSignal` cancels it there) and returns the tool's data; a refused call
 * throws its typed `ToolwireError`, which the AI SDK reports to the model as a tool error.
 */

import type { ToolsQuery, Toolwire } from "./client.js";
import type { CallOptions } from "./http.js";
import type { JsonObject } from "./types.js";

/** One AI SDK tool, structurally (`Tool` from `ai`). */
export interface AiSdkTool<S> {
  description: string;
  inputSchema: S;
  execute: (input: unknown, options: { abortSignal?: AbortSignal }) => Promise<unknown>;
}

export interface AiSdkToolsOptions<S> extends CallOptions {
  /** The AI SDK's `jsonSchema` (from `ai`): wraps a JSON Schema for `inputSchema`. */
  jsonSchema: (schema: JsonObject) => S;
  /** Which tools to include (default: every tool the key may use). */
  tools?: Omit<ToolsQuery, "format">;
}

/** A tool set keyed by the OpenAI-style names (`calc__evaluate`) every provider accepts. */
export async function aiSdkTools<S>(
  toolwire: Toolwire,
  options: AiSdkToolsOptions<S>,
): Promise<Record<string, AiSdkTool<S>>> {
  const { signal, timeoutMs } = options;
  const definitions = await toolwire.tools(
    { ...options.tools, format: "openai" },
    { signal, timeoutMs },
  );
  const tools: Record<string, AiSdkTool<S>> = {};
  for (const { function: fn } of definitions) {
    tools[fn.name] = {
      description: fn.description,
      inputSchema: options.jsonSchema(fn.parameters),
      execute: async (input, { abortSignal }) => {
        const args = (input ?? {}) as Record<string, unknown>;
        return (await toolwire.execute(fn.name, args, { signal: abortSignal, timeoutMs })).data;
      },
    };
  }
  return tools;
}
