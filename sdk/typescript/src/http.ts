/**
 * The gateway's HTTP contract, once: what to send, and how to read the answer.
 *
 * Each API method is a `Call`: the request to make and how to turn a successful JSON body into
 * the method's value. `send` performs it with `fetch`, applying the client's timeout and the
 * caller's `AbortSignal`; `readAnswer` reads any response (envelope, error code, status) into
 * that value or the right error. What this is not: the public API (`client.ts`, `admin.ts`).
 */

import {
  AbortedError,
  CODE_FOR_STATUS,
  errorFor,
  type ToolwireError,
  TransportError,
  TransportTimeoutError,
} from "./errors.js";
import type { Meta } from "./types.js";

/** One HTTP request of the contract, and how to read its successful JSON body. */
export interface Call<T> {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  parse: (body: unknown) => T;
  query?: Record<string, string | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Per-call options every method accepts. */
export interface CallOptions {
  /** Abort the call: the request is dropped and the gateway cancels the call (not charged). */
  signal?: AbortSignal;
  /** Overrides the client's `timeoutMs` for this call. */
  timeoutMs?: number;
}

/** What `send` needs from the client. */
export interface Transport {
  baseUrl: string;
  headers: Record<string, string>;
  timeoutMs: number;
  fetch: typeof fetch;
}

/** Perform `call` and read its answer; every failure is a `ToolwireError`. */
export async function send<T>(
  transport: Transport,
  call: Call<T>,
  options: CallOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? transport.timeoutMs;
  const abort = linkedAbort(options.signal, timeoutMs);
  try {
    let response: Response;
    let text: string;
    try {
      response = await transport.fetch(url(transport.baseUrl, call), {
        method: call.method,
        headers: headersOf(transport, call),
        body: call.body === undefined ? null : JSON.stringify(call.body),
        signal: abort.signal,
      });
      text = await response.text();
    } catch (cause) {
      throw transportError(cause, abort, options.signal, timeoutMs);
    }
    return readAnswer(call, response, text);
  } finally {
    abort.dispose();
  }
}

function url(baseUrl: string, call: Call<unknown>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(call.query ?? {})) {
    if (value !== undefined && value !== "") query.set(name, value);
  }
  const search = query.toString();
  return baseUrl + call.path + (search ? `?${search}` : "");
}

function headersOf(transport: Transport, call: Call<unknown>): Record<string, string> {
  const headers = { ...transport.headers, ...call.headers };
  if (call.body !== undefined) headers["Content-Type"] = "application/json";
  return headers;
}

interface LinkedAbort {
  signal: AbortSignal;
  timedOut: () => boolean;
  dispose: () => void;
}

/** One signal that fires when the caller's does or when `timeoutMs` passes. */
function linkedAbort(outer: AbortSignal | undefined, timeoutMs: number): LinkedAbort {
  const controller = new AbortController();
  let timedOut = false;
  const onAbort = () => controller.abort(outer?.reason);
  if (outer?.aborted) onAbort();
  else outer?.addEventListener("abort", onAbort, { once: true });
  const timer =
    timeoutMs > 0 && Number.isFinite(timeoutMs)
      ? setTimeout(() => {
          timedOut = true;
          controller.abort(new Error(`no answer within ${timeoutMs} ms`));
        }, timeoutMs)
      : undefined;
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    dispose: () => {
      if (timer !== undefined) clearTimeout(timer);
      outer?.removeEventListener("abort", onAbort);
    },
  };
}

function transportError(
  cause: unknown,
  abort: LinkedAbort,
  outer: AbortSignal | undefined,
  timeoutMs: number,
): ToolwireError {
  if (outer?.aborted) {
    return new AbortedError("the call was aborted", { cause: outer.reason });
  }
  if (abort.timedOut()) {
    return new TransportTimeoutError(`the gateway did not answer within ${timeoutMs} ms`, {
      cause,
    });
  }
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new TransportError(`could not reach the gateway: ${reason}`, { cause });
}

const NOT_JSON = Symbol("not JSON");

function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value of a successful answer, or the error its code (else its status) names. */
export function readAnswer<T>(call: Call<T>, response: Response, text: string): T {
  const body = jsonOf(text);
  const refused = isObject(body) && body.ok === false;
  if (response.ok && !refused) {
    if (body === NOT_JSON) {
      throw new TransportError(`the gateway answered ${response.status} without a JSON body`, {
        status: response.status,
      });
    }
    let value: T;
    try {
      value = call.parse(body);
    } catch (cause) {
      throw new TransportError(
        `the gateway's answer to ${call.method} ${call.path} has an unexpected shape`,
        { status: response.status, cause },
      );
    }
    return value;
  }
  throw errorFrom(response, body);
}

/** A typed error from an error envelope; from the status when there is no envelope. */
export function errorFrom(response: Response, body: unknown): ToolwireError {
  const status = response.status;
  const headerId = response.headers.get("x-request-id") ?? undefined;
  const error = isObject(body) ? body.error : undefined;
  if (isObject(body) && isObject(error) && typeof error.code === "string") {
    const meta = isObject(body.meta) ? (body.meta as unknown as Meta) : undefined;
    return errorFor(error.code, typeof error.message === "string" ? error.message : "", {
      details: error.details,
      status,
      requestId: meta?.request_id || headerId,
      meta,
      retryAfterMs: retryAfterMs(response.headers.get("retry-after"), error.details),
    });
  }
  return errorFor(CODE_FOR_STATUS[status] ?? "INTERNAL", `the gateway answered HTTP ${status}`, {
    status,
    requestId: headerId,
    retryAfterMs: retryAfterMs(response.headers.get("retry-after"), undefined),
  });
}

/**
 * `Retry-After` (seconds or an HTTP date, RFC 9110 §10.2.3) in milliseconds; else the envelope's
 * `details.retry_after_s` (what a browser sees when the header is not CORS-exposed).
 */
export function retryAfterMs(header: string | null, details: unknown): number | undefined {
  if (header) {
    const seconds = Number(header);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(header);
    if (!Number.isNaN(date)) return Math.max(0, date - Date.now());
  }
  if (isObject(details) && typeof details.retry_after_s === "number") {
    return details.retry_after_s * 1000;
  }
  return undefined;
}

/** `body[key]`, refusing a body without it (an unexpected shape). */
export function item<T>(key: string): (body: unknown) => T {
  return (body) => {
    if (!isObject(body) || !(key in body)) throw new TypeError(`expected '${key}' in the answer`);
    return body[key] as T;
  };
}

/** The whole body, which must be a JSON object. */
export function object<T>(body: unknown): T {
  if (!isObject(body)) throw new TypeError("expected a JSON object");
  return body as T;
}
