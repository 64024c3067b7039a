/**
 * Compile-time proof that the SDK agrees with the gateway's `/openapi.json` (rendered into
 * `generated/openapi.ts` by `npm run generate`). Nothing here runs: if a route, a method, a
 * field or an enum drifts, `tsc` fails the build with the name of the check below.
 */

import type { components, paths } from "./generated/openapi.js";
import type { ROUTES } from "./routes.js";
import type { Meta, ToolEntry, ToolFormat } from "./types.js";

type Schemas = components["schemas"];
type Check<T extends true> = T;
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Extends<A, B> = [A] extends [B] ? true : false;

// Every documented route the SDK calls exists in /openapi.json with the SDK's method.
type Documented = Extract<(typeof ROUTES)[keyof typeof ROUTES], { documented: true }>;
type RouteExists<R> = R extends { path: infer P; method: infer M extends string }
  ? P extends keyof paths
    ? Lowercase<M> extends keyof paths[P]
      ? [NonNullable<paths[P][Lowercase<M>]>] extends [never]
        ? false
        : true
      : false
    : false
  : false;
export type EveryRouteIsDocumented = Check<Equal<RouteExists<Documented>, true>>;

// A route the SDK marks undocumented must really be missing (else flip its flag).
type Undocumented = Extract<(typeof ROUTES)[keyof typeof ROUTES], { documented: false }>;
export type UndocumentedRoutesAreMissing = Check<
  Equal<Extract<Undocumented["path"], keyof paths>, never>
>;

// The formats the SDK offers are exactly the `format` values GET /api/v1/tools documents.
type DocumentedFormat = NonNullable<
  NonNullable<paths["/api/v1/tools"]["get"]["parameters"]["query"]>["format"]
>;
export type FormatsMatch = Check<Equal<ToolFormat, DocumentedFormat>>;

// Every field of the documented receipt is a field of the SDK's `Meta`, with a type it accepts.
export type MetaFieldsCovered = Check<Equal<Exclude<keyof Schemas["Meta"], keyof Meta>, never>>;
export type MetaAccepted = Check<Extends<Schemas["Meta"], Meta>>;

// The SDK's catalog entry has every documented field, with compatible types.
export type ToolFieldsCovered = Check<
  Equal<Exclude<keyof Schemas["Tool"], keyof ToolEntry>, never>
>;
export type ToolCompatible = Check<Extends<ToolEntry, Schemas["Tool"]>>;

// What `execute` sends is a valid ExecuteRequest.
type SentExecuteBody = { tool: string; input: Record<string, unknown>; operation?: string };
export type ExecuteBodyValid = Check<Extends<SentExecuteBody, Schemas["ExecuteRequest"]>>;

// Error envelopes carry a string code and a message, which the SDK reads.
export type ErrorEnvelopeRead = Check<
  Extends<Schemas["ErrorEnvelope"]["error"], { code: string; message: string; details?: unknown }>
>;
