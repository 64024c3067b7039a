/**
 * `Toolwire`: the client of one toolwire gateway, for Node (>= 20) and the browser.
 *
 *     import { Toolwire } from "toolwire";
 *
 *     const tw = new Toolwire({ baseUrl: "http://127.0.0.1:8787", apiKey: "tw_..." });
 *     const result = await tw.execute("calc.evaluate", { expression: "2 * (3 + 4)" });
 *     console.log(result.data, result.meta.credits_charged, result.meta.balance);
 *
 * Failures throw the gateway's error codes as typed errors (`ToolNotFoundError`, ...; all
 * `ToolwireError`); an unreachable gateway throws `TransportError`, a call past `timeoutMs`
 * `TransportTimeoutError`, and an aborted one `AbortedError`. Built on `fetch`; no dependencies.
 */

import { Admin } from "./admin.js";
import {
  AbortedError,
  InvalidArgumentsError,
  ToolwireError,
  TransportError,
  UnauthenticatedError,
} from "./errors.js";
import { type Call, type CallOptions, item, object, send, type Transport } from "./http.js";
import { at, ROUTES } from "./routes.js";
import type {
  AnthropicToolResultBlock,
  AnthropicToolUseBlock,
  Me,
  OpenAIToolCallLike,
  OpenAIToolMessage,
  Result,
  ToolDefinitions,
  ToolEntry,
  ToolFormat,
} from "./types.js";

export const DEFAULT_URL = "http://127.0.0.1:8787";
/** The default per-call timeout: 60 s, as the Python SDK. */
export const DEFAULT_TIMEOUT_MS = 60_000;
export const VERSION = "0.1.0";

export interface ToolwireOptions {
  /** The gateway's URL; defaults to `TOOLWIRE_URL` (Node), else http://127.0.0.1:8787. */
  baseUrl?: string;
  /** The API key (`tw_...`); defaults to `TOOLWIRE_API_KEY` (Node). */
  apiKey?: string;
  /** Per-call timeout in milliseconds (default 60 000); 0 waits forever. */
  timeoutMs?: number;
  /** A `fetch` to use instead of the global one (a proxy agent, a test double). */
  fetch?: typeof fetch;
}

export interface ExecuteOptions extends CallOptions {
  /** The operation, when `tool` names only the tool (`execute("calc", {...}, {operation})`). */
  operation?: string;
  /** A retry-safe key: a retried call returns the first result and is charged once. */
  idempotencyKey?: string;
}

export interface ToolsQuery<F extends ToolFormat | undefined = ToolFormat | undefined> {
  /** Definitions ready for that platform's SDK instead of toolwire's own entries. */
  format?: F;
  /** Words to search in names, descriptions and categories. */
  q?: string;
  /** Only this category. */
  category?: string;
}

/** An assistant message with `tool_calls` (an OpenAI SDK message is one), or the calls. */
export type OpenAIToolCallsInput =
  | { tool_calls?: readonly OpenAIToolCallLike[] | null }
  | readonly OpenAIToolCallLike[];

/** An Anthropic assistant message, its `content` blocks, or the `tool_use` blocks. */
export type AnthropicToolUsesInput =
  | { content: readonly { type: string }[] | string }
  | readonly { type: string }[];

/** The gateway's MCP endpoint (Streamable HTTP) and the headers that authenticate to it. */
export interface McpEndpoint {
  url: URL;
  requestInit: { headers: Record<string, string> };
}

function environment(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env?.[name] || undefined;
}

export class Toolwire {
  /** The gateway's URL, without a trailing slash. */
  readonly baseUrl: string;
  /** The admin API (`/admin/v1`); the client's key must be an admin key. */
  readonly admin: Admin;
  readonly #transport: Transport;
  readonly #apiKey: string | undefined;

  constructor(options: ToolwireOptions = {}) {
    this.baseUrl = (options.baseUrl ?? environment("TOOLWIRE_URL") ?? DEFAULT_URL).replace(
      /\/+$/,
      "",
    );
    const apiKey = options.apiKey ?? environment("TOOLWIRE_API_KEY");
    this.#apiKey = apiKey;
    const headers: Record<string, string> = { Accept: "application/json" };
    if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
    if (!("document" in globalThis)) headers["User-Agent"] = `toolwire-typescript/${VERSION}`;
    const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#transport = {
      baseUrl: this.baseUrl,
      headers,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      fetch: fetchImpl,
    };
    this.admin = new Admin((call, opts) => this.send(call, opts));
  }

  /** Perform one call of the contract (what every method does); exposed for extensions. */
  send<T>(call: Call<T>, options?: CallOptions): Promise<T> {
    return send(this.#transport, call, options);
  }

  /**
   * Run one tool operation: `"echo"`, `"calc.evaluate"`, `"calc__evaluate"`, or `tool` plus
   * `options.operation`. Resolves to the tool's data and the call's receipt; throws the error
   * class of the gateway's code otherwise. Aborting `options.signal` cancels the call on the
   * gateway too: its reservation is released and nothing is charged.
   */
  execute<T = unknown>(
    tool: string,
    input: Record<string, unknown> = {},
    options: ExecuteOptions = {},
  ): Promise<Result<T>> {
    const body: Record<string, unknown> = { tool, input };
    if (options.operation !== undefined) body.operation = options.operation;
    const headers: Record<string, string> = {};
    if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
    return this.send({ ...at(ROUTES.execute), parse: result<T>, body, headers }, options);
  }

  /** The tools this key may use: toolwire's entries, or with `format` that platform's definitions. */
  tools(query?: ToolsQuery<undefined>, options?: CallOptions): Promise<ToolEntry[]>;
  tools<F extends ToolFormat>(
    query: ToolsQuery<F> & { format: F },
    options?: CallOptions,
  ): Promise<ToolDefinitions[F][]>;
  tools(query: ToolsQuery = {}, options: CallOptions = {}): Promise<unknown[]> {
    const call: Call<unknown[]> = {
      ...at(ROUTES.tools),
      parse: item<unknown[]>("tools"),
      query: { format: query.format, q: query.q, category: query.category },
    };
    return this.send(call, options);
  }

  /** One tool operation's catalog entry (schema, price, annotations). */
  tool(name: string, options: CallOptions = {}): Promise<ToolEntry> {
    return this.send({ ...at(ROUTES.tool, { name }), parse: object<ToolEntry> }, options);
  }

  /** The calling key: account id, key id, scopes, balance. */
  me(options: CallOptions = {}): Promise<Me> {
    return this.send({ ...at(ROUTES.me), parse: object<Me> }, options);
  }

  /**
   * Where an MCP client reaches this gateway: its `/mcp` URL and the request options carrying the
   * key. For the official MCP TypeScript SDK:
   * `new StreamableHTTPClientTransport(endpoint.url, { requestInit: endpoint.requestInit })`.
   */
  mcpEndpoint(): McpEndpoint {
    const headers: Record<string, string> = {};
    if (this.#apiKey) headers.Authorization = `Bearer ${this.#apiKey}`;
    return { url: new URL(`${this.baseUrl}/mcp`), requestInit: { headers } };
  }

  /**
   * Run an OpenAI assistant message's tool calls on the gateway (concurrently, in one request);
   * each must be a function call of a toolwire tool (else `InvalidRequestError`).
   * Resolves to the `role: "tool"` messages to append, in the calls' order; a call that failed
   * becomes a message whose content is the error, so the model can read it.
   */
  runOpenAIToolCalls(
    message: OpenAIToolCallsInput,
    options: CallOptions = {},
  ): Promise<OpenAIToolMessage[]> {
    const calls = Array.isArray(message)
      ? message
      : ((message as { tool_calls?: readonly OpenAIToolCallLike[] | null }).tool_calls ?? []);
    const call: Call<OpenAIToolMessage[]> = {
      ...at(ROUTES.openaiToolCalls),
      parse: item<OpenAIToolMessage[]>("messages"),
      body: { tool_calls: calls },
    };
    return this.send(call, options);
  }

  /**
   * Run an Anthropic message's `tool_use` blocks (concurrently). Resolves to the `tool_result`
   * blocks to send back in the next user message, in order. A call the gateway refused becomes
   * a block with `is_error: true` and the error as content; an unreachable gateway, a bad key or
   * an abort throws instead (no call could run).
   */
  async runAnthropicToolUses(
    message: AnthropicToolUsesInput,
    options: CallOptions = {},
  ): Promise<AnthropicToolResultBlock[]> {
    const blocks = Array.isArray(message) ? message : (message as { content: unknown }).content;
    const uses = (Array.isArray(blocks) ? blocks : []).filter(
      (block): block is AnthropicToolUseBlock => (block as { type?: unknown }).type === "tool_use",
    );
    return Promise.all(uses.map((use) => this.#runToolUse(use, options)));
  }

  async #runToolUse(
    use: AnthropicToolUseBlock,
    options: CallOptions,
  ): Promise<AnthropicToolResultBlock> {
    try {
      if (typeof use.input !== "object" || use.input === null || Array.isArray(use.input)) {
        throw new InvalidArgumentsError("tool_use.input must be a JSON object");
      }
      const { data } = await this.execute(use.name, use.input as Record<string, unknown>, options);
      return {
        type: "tool_result",
        tool_use_id: use.id,
        content: typeof data === "string" ? data : JSON.stringify(data),
      };
    } catch (error) {
      if (!(error instanceof ToolwireError) || wholeRequestFailure(error)) throw error;
      return {
        type: "tool_result",
        tool_use_id: use.id,
        content: JSON.stringify({ error: error.toJSON() }),
        is_error: true,
      };
    }
  }
}

/** Failures that are not about one tool call: nothing could run, so they are thrown. */
function wholeRequestFailure(error: ToolwireError): boolean {
  return (
    error instanceof TransportError ||
    error instanceof AbortedError ||
    error instanceof UnauthenticatedError
  );
}

function result<T>(body: unknown): Result<T> {
  const envelope = object<{ ok?: unknown; data?: T; meta?: unknown }>(body);
  if (envelope.ok !== true || typeof envelope.meta !== "object" || envelope.meta === null) {
    throw new TypeError("not a success envelope");
  }
  return { data: envelope.data as T, meta: envelope.meta as Result<T>["meta"] };
}
