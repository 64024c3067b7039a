/**
 * What calls return: `Result` (the tool's data) and `Meta` (the receipt every call carries), the
 * catalog's shapes per tool format, and the admin API's records.
 *
 * Field names are the gateway's wire names (snake_case), so a value can be logged, stored or sent
 * on as is. Amounts are credits as the gateway renders them (up to 6 decimals), not micro-credits.
 * `src/generated/openapi.ts` is generated from the gateway's `/openapi.json`; `src/contract.ts`
 * checks at compile time that these types agree with it.
 */

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A JSON object. */
export type JsonObject = { [key: string]: Json };

/** Tool-definition formats `GET /api/v1/tools?format=` renders. */
export type ToolFormat = "mcp" | "openai" | "openai-responses" | "anthropic" | "gemini";

/** The receipt of one call: request id, credits charged, balance left, latency. */
export interface Meta {
  request_id: string;
  /** The tool as the gateway resolved it (`"calc.evaluate"`), when it got that far. */
  tool?: string | null;
  /** Credits this call cost (0 for a failed call unless the tool charges always). */
  credits_charged?: number;
  /** The account's balance after the call, in credits. */
  balance?: number | null;
  /** Time spent in the gateway, in milliseconds. */
  latency_ms?: number;
  /** Whose credential reached the upstream: the platform's or the caller's own (BYOK). */
  credential_source?: "platform" | "byok";
  /** True when the balance is at or below the account's low-balance threshold. */
  low_balance?: boolean;
  /** True when this is the stored outcome of an earlier call with the same Idempotency-Key. */
  replayed?: boolean;
  /** Set when the gateway's policy cut the result to a size cap. */
  capped?: { rule: string; limit_bytes: number; original_bytes: number };
}

/** A successful call: the tool's `data` and the call's `meta`. */
export interface Result<T = unknown> {
  data: T;
  meta: Meta;
}

/** toolwire's own description of an operation (`GET /api/v1/tools`, no `format`). */
export interface ToolEntry {
  /** `tool.operation`, or the bare tool name for a tool's own default operation. */
  name: string;
  tool: string;
  operation: string;
  title?: string | null;
  category: string;
  description: string;
  tool_description?: string | null;
  input_schema: JsonObject;
  output_schema?: JsonObject | null;
  annotations?: JsonObject;
  /** The price of one call, in credits. */
  price: number;
  charge_policy?: string;
}

/** An MCP `Tool` definition. */
export interface McpToolDefinition {
  name: string;
  title?: string;
  description: string;
  inputSchema: JsonObject;
  outputSchema?: JsonObject;
  annotations?: JsonObject;
}

/** An OpenAI Chat Completions `tools[]` entry. */
export interface OpenAIToolDefinition {
  type: "function";
  function: { name: string; description: string; parameters: JsonObject };
}

/** An OpenAI Responses API `tools[]` entry. */
export interface OpenAIResponsesToolDefinition {
  type: "function";
  name: string;
  description: string;
  parameters: JsonObject;
  strict: boolean;
}

/** An Anthropic Messages API `tools[]` entry. */
export interface AnthropicToolDefinition {
  name: string;
  description: string;
  input_schema: JsonObject;
}

/** A Gemini `FunctionDeclaration`. */
export interface GeminiToolDefinition {
  name: string;
  description: string;
  parametersJsonSchema: JsonObject;
}

/** What `tools({format})` returns for each format. */
export interface ToolDefinitions {
  mcp: McpToolDefinition;
  openai: OpenAIToolDefinition;
  "openai-responses": OpenAIResponsesToolDefinition;
  anthropic: AnthropicToolDefinition;
  gemini: GeminiToolDefinition;
}

/** The calling key, its account and balance (`GET /api/v1/me`). */
export interface Me {
  account_id: string;
  key_id: string;
  key_name: string;
  is_admin: boolean;
  scopes: string[];
  balance: number;
}

/** An OpenAI function tool call (`message.tool_calls[i]`), as the OpenAI SDK types it. */
export interface OpenAIToolCall {
  id: string;
  type?: "function" | string;
  function: { name: string; arguments: string };
}

/** Any entry of `message.tool_calls`: function calls, and other kinds (custom tools) toolwire
 *  does not serve. */
export interface OpenAIToolCallLike {
  id: string;
  type?: string;
  function?: { name: string; arguments: string };
}

/** A `role: "tool"` message answering one tool call, ready to append to the conversation. */
export interface OpenAIToolMessage {
  role: "tool";
  tool_call_id: string;
  content: string;
}

/** An Anthropic `tool_use` content block. */
export interface AnthropicToolUseBlock {
  type: "tool_use";
  id: string;
  name: string;
  input: unknown;
}

/** An Anthropic `tool_result` content block answering one `tool_use` block. */
export interface AnthropicToolResultBlock {
  type: "tool_result";
  tool_use_id: string;
  content: string;
  is_error?: boolean;
}

/** A number of credits (up to 6 decimals); a string keeps decimals exact. */
export type Amount = number | string;

/** An account (`/admin/v1/accounts`). */
export interface Account {
  id: string;
  name: string;
  balance: number;
  low_balance: number | null;
  created_at: string | null;
  disabled: boolean;
}

/** An API key as administration sees it: never its secret nor its hash. */
export interface ApiKey {
  id: string;
  account_id: string;
  name: string;
  prefix: string;
  scopes: string[];
  is_admin: boolean;
  created_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

/** A new key: its record and its secret, which is shown this once. */
export interface CreatedKey {
  key: ApiKey;
  secret: string;
}

/** One row of the usage report: calls and credits per day, account, key and operation. */
export interface UsageRow {
  day: string;
  account_id: string;
  key_id: string | null;
  tool: string;
  operation: string;
  calls: number;
  failures: number;
  credits: number;
}

/** Filters of `admin.usage()`; days are `YYYY-MM-DD` (UTC), both ends included. */
export interface UsageQuery {
  accountId?: string;
  keyId?: string;
  tool?: string;
  since?: string;
  until?: string;
}

/** One audit record: one call, as `GET /admin/v1/audit` returns it (docs/audit.md). */
export interface AuditRecord {
  id: number;
  request_id: string;
  /** ISO 8601 UTC. */
  at: string;
  account_id: string | null;
  key_id: string | null;
  door: string;
  tool: string | null;
  operation: string | null;
  /** `"OK"` or the error code; `"REPLAYED"`, `"CANCELLED"`. */
  outcome: string;
  credits_charged: number;
  latency_ms: number;
  credential_source: "platform" | "byok" | "none";
  upstream: string | null;
  /** `hmac-sha256:<64 hex>` of the validated arguments, keyed per deployment. */
  arguments_digest: string | null;
  /** The arguments, redacted, only for tools whose config keeps them. */
  arguments: JsonObject | null;
  message: string | null;
}

/** One page of `admin.audit()`: pass `next_cursor` back as `cursor`; null: the last page. */
export interface AuditPage {
  records: AuditRecord[];
  next_cursor: string | null;
}

/** Filters of `admin.audit()`; times are relative (`"1h"`, `"7d"`) or ISO 8601. */
export interface AuditQuery {
  accountId?: string;
  keyId?: string;
  tool?: string;
  outcome?: string;
  since?: string;
  until?: string;
  /** Records per page, 1 to 1000 (default 100). */
  limit?: number;
  cursor?: string;
}

/** What `admin.reload()` did: `reloaded` (a new catalog version is served) or `unchanged`. */
export interface ReloadResult {
  status: "reloaded" | "unchanged";
  /** The catalog version now served (the one `/readyz` reports). */
  version: string;
  previous: string;
  /** Operations in the catalog now served. */
  operations: number;
  /** Operations added and removed, by qualified name (`uuid.generate`). */
  added: string[];
  removed: string[];
  /** The gateway instance that answered. */
  instance: string;
}
