/**
 * The SDK's error tree: the gateway's stable error codes as classes, plus transport failures.
 *
 *     ToolwireError                 any failure the SDK reports (.code, .message, .details, ...)
 *     ├── InvalidRequestError       INVALID_REQUEST       400  the request itself is malformed
 *     │   └── MissingClientCapabilityError  MISSING_CLIENT_CAPABILITY  400  the tool needs a
 *     │                             client capability (MCP sampling, elicitation, roots) not declared
 *     ├── UnauthenticatedError      UNAUTHENTICATED       401  no key, bad key, revoked key
 *     ├── InsufficientCreditsError  INSUFFICIENT_CREDITS  402  the balance cannot cover the price
 *     ├── ForbiddenError            FORBIDDEN             403  the key's scopes deny the tool
 *     │   └── PolicyDeniedError     POLICY_DENIED         403  a policy rule refused the call
 *     │                             (`details.rule` names it)
 *     ├── ToolNotFoundError         TOOL_NOT_FOUND        404  no such tool or operation
 *     ├── NotFoundError             NOT_FOUND             404  no such account, key or route
 *     ├── ConflictError             CONFLICT              409  e.g. an idempotency key reused
 *     ├── PayloadTooLargeError      PAYLOAD_TOO_LARGE     413  body over the gateway's limit
 *     ├── InvalidArgumentsError     INVALID_ARGUMENTS     422  arguments fail the input schema
 *     ├── RateLimitedError          RATE_LIMITED          429  retry later (see .retryAfter, s)
 *     ├── BudgetExceededError       BUDGET_EXCEEDED       429  the key's hourly/daily spend cap
 *     ├── InternalError             INTERNAL              500  the gateway failed
 *     ├── UpstreamError             UPSTREAM_ERROR        502  the tool or its upstream failed
 *     │   └── UpstreamTimeoutError  UPSTREAM_TIMEOUT      504  ... by not answering in time
 *     ├── UnavailableError          UNAVAILABLE           503  the gateway cannot reach its key
 *     │                                                        store; retry later (.retryAfterMs)
 *     ├── TransportError            TRANSPORT_ERROR           the gateway could not be reached
 *     │   └── TransportTimeoutError TRANSPORT_TIMEOUT         ... or did not answer in `timeoutMs`
 *     └── AbortedError              ABORTED                   the caller's AbortSignal fired
 *
 * The codes mirror the server's (`toolwire/core/errors.py`, `ALL_ERRORS`) one to one; a test
 * compares this table with the one the Python side exports. A code this SDK does not know yet is
 * thrown as `ToolwireError` carrying that code.
 */

import type { Meta } from "./types.js";

/** What the gateway sent with an error, plus what the SDK read from the HTTP answer. */
export interface ErrorFields {
  /** The gateway's stable code, e.g. `"TOOL_NOT_FOUND"`. */
  code?: string;
  /** `error.details` from the envelope (e.g. `{errors: [{path, message}]}`), when present. */
  details?: unknown;
  /** The HTTP status of the answer, when there was one. */
  status?: number;
  /** The request id (`meta.request_id`, else the `x-request-id` header). */
  requestId?: string;
  /** The receipt of the failed call (credits charged: 0 unless the tool says otherwise). */
  meta?: Meta;
  /** How long to wait before retrying, in milliseconds (from `Retry-After`). */
  retryAfterMs?: number;
  /** The underlying error (a fetch failure, an abort reason). */
  cause?: unknown;
}

/** Base of every error the SDK throws. `code` is the gateway's stable error code. */
export class ToolwireError extends Error {
  static readonly code: string = "INTERNAL";
  readonly code: string;
  readonly details: unknown;
  readonly status: number | undefined;
  readonly requestId: string | undefined;
  readonly meta: Meta | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, fields: ErrorFields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = new.target.name;
    this.code = fields.code ?? (new.target as typeof ToolwireError).code;
    this.details = fields.details;
    this.status = fields.status;
    this.requestId = fields.requestId;
    this.meta = fields.meta;
    this.retryAfterMs = fields.retryAfterMs;
  }

  /** How long to wait before retrying, in seconds (`retryAfterMs / 1000`), like the Python
   * SDK's `retry_after`; undefined when the gateway named no delay. */
  get retryAfter(): number | undefined {
    return this.retryAfterMs === undefined ? undefined : this.retryAfterMs / 1000;
  }

  /** The error as the gateway sent it: code, message, and details when there are any. */
  toJSON(): { code: string; message: string; details?: unknown } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export class InvalidRequestError extends ToolwireError {
  static override readonly code: string = "INVALID_REQUEST";
}
export class MissingClientCapabilityError extends InvalidRequestError {
  static override readonly code: string = "MISSING_CLIENT_CAPABILITY";
}
export class UnauthenticatedError extends ToolwireError {
  static override readonly code: string = "UNAUTHENTICATED";
}
export class InsufficientCreditsError extends ToolwireError {
  static override readonly code: string = "INSUFFICIENT_CREDITS";
}
export class ForbiddenError extends ToolwireError {
  static override readonly code: string = "FORBIDDEN";
}
/** A rule of the gateway's policy refused the call; `details.rule` names the rule. */
export class PolicyDeniedError extends ForbiddenError {
  static override readonly code: string = "POLICY_DENIED";
}
export class ToolNotFoundError extends ToolwireError {
  static override readonly code: string = "TOOL_NOT_FOUND";
}
export class NotFoundError extends ToolwireError {
  static override readonly code: string = "NOT_FOUND";
}
export class ConflictError extends ToolwireError {
  static override readonly code: string = "CONFLICT";
}
export class PayloadTooLargeError extends ToolwireError {
  static override readonly code: string = "PAYLOAD_TOO_LARGE";
}
export class InvalidArgumentsError extends ToolwireError {
  static override readonly code: string = "INVALID_ARGUMENTS";
}
/** A rate limit was hit; `retryAfterMs` says when to try again. */
export class RateLimitedError extends ToolwireError {
  static override readonly code: string = "RATE_LIMITED";
}
/** The key's hourly or daily budget is spent; `retryAfterMs` says when it refills. */
export class BudgetExceededError extends ToolwireError {
  static override readonly code: string = "BUDGET_EXCEEDED";
}
export class InternalError extends ToolwireError {
  static override readonly code: string = "INTERNAL";
}
export class UpstreamError extends ToolwireError {
  static override readonly code: string = "UPSTREAM_ERROR";
}
export class UpstreamTimeoutError extends UpstreamError {
  static override readonly code: string = "UPSTREAM_TIMEOUT";
}
/** The gateway could not reach a store it needs (its key store); `retryAfterMs` says when to retry. */
export class UnavailableError extends ToolwireError {
  static override readonly code: string = "UNAVAILABLE";
}
/** The gateway could not be reached, or its answer could not be read. */
export class TransportError extends ToolwireError {
  static override readonly code: string = "TRANSPORT_ERROR";
}
/** The gateway did not answer within the client's `timeoutMs`; the call was abandoned. */
export class TransportTimeoutError extends TransportError {
  static override readonly code: string = "TRANSPORT_TIMEOUT";
}
/** The caller aborted the call (its `AbortSignal` fired); the gateway cancels it. */
export class AbortedError extends ToolwireError {
  static override readonly code: string = "ABORTED";
}

/** A class of the tree: what `ERRORS_BY_CODE` maps to. */
export type ToolwireErrorClass = (new (
  message: string,
  fields?: ErrorFields,
) => ToolwireError) & {
  readonly code: string;
};

/** The one table from a gateway error code to the class thrown for it. */
export const ERRORS_BY_CODE: Readonly<Record<string, ToolwireErrorClass>> = Object.freeze(
  Object.fromEntries(
    [
      InvalidRequestError,
      MissingClientCapabilityError,
      UnauthenticatedError,
      InsufficientCreditsError,
      ForbiddenError,
      PolicyDeniedError,
      ToolNotFoundError,
      NotFoundError,
      ConflictError,
      PayloadTooLargeError,
      InvalidArgumentsError,
      RateLimitedError,
      BudgetExceededError,
      InternalError,
      UpstreamError,
      UpstreamTimeoutError,
      UnavailableError,
    ].map((cls) => [cls.code, cls]),
  ),
);

/** Only for answers without a toolwire envelope (e.g. a proxy's own 413 or 502 page). */
export const CODE_FOR_STATUS: Readonly<Record<number, string>> = Object.freeze({
  400: "INVALID_REQUEST",
  401: "UNAUTHENTICATED",
  402: "INSUFFICIENT_CREDITS",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  409: "CONFLICT",
  413: "PAYLOAD_TOO_LARGE",
  422: "INVALID_ARGUMENTS",
  429: "RATE_LIMITED",
  502: "UPSTREAM_ERROR",
  503: "UNAVAILABLE",
  504: "UPSTREAM_TIMEOUT",
});

/** The error for `code`: its class from `ERRORS_BY_CODE`, else the base class with that code. */
export function errorFor(code: string, message: string, fields: ErrorFields = {}): ToolwireError {
  const cls = ERRORS_BY_CODE[code] ?? ToolwireError;
  return new cls(message, { ...fields, code });
}
