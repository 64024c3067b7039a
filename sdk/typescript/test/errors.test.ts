/** Every error code of the gateway as its own class, with the status, request id, receipt and
 *  retry delay the gateway sent. The expectations come from the server's own tables, exported by
 *  tests/support/sdk_contract.py, never restated here. */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as sdk from "../src/index.js";
import {
  BudgetExceededError,
  CODE_FOR_STATUS,
  ERRORS_BY_CODE,
  InsufficientCreditsError,
  InvalidArgumentsError,
  InvalidRequestError,
  NotFoundError,
  PayloadTooLargeError,
  ToolNotFoundError,
  Toolwire,
  ToolwireError,
  TransportError,
  TransportTimeoutError,
  UnauthenticatedError,
  UnavailableError,
  UpstreamError,
  UpstreamTimeoutError,
} from "../src/index.js";
import { type ErrorContract, errorContract, sdkClassName } from "./support/contract.js";
import { freePort, type Gateway, useGateway } from "./support/gateway.js";
import { skipUnless, venvMissing } from "./support/paths.js";
import { scriptedServer } from "./support/scripted.js";

const skip = skipUnless(venvMissing());

describe("the error table mirrors the server's", { skip }, () => {
  let contract: ErrorContract;
  before(() => {
    contract = errorContract();
  });

  test("every server code has its own exported class, and no other code is mapped", () => {
    const exported = sdk as unknown as Record<string, unknown>;
    for (const row of contract.errors) {
      const cls = ERRORS_BY_CODE[row.code];
      assert.ok(cls, `no TypeScript class for ${row.code}`);
      assert.equal(cls.name, sdkClassName(row.class));
      assert.equal(cls.code, row.code);
      assert.equal(exported[cls.name], cls, `${cls.name} is not exported`);
      assert.ok(new cls("m") instanceof ToolwireError);
    }
    assert.deepEqual(
      Object.keys(ERRORS_BY_CODE).sort(),
      contract.errors.map((row) => row.code).sort(),
    );
  });

  test("subclasses follow the server's tree", () => {
    for (const row of contract.errors) {
      const cls = ERRORS_BY_CODE[row.code];
      const parent = row.parent
        ? Object.values(ERRORS_BY_CODE).find((c) => c.name === sdkClassName(row.parent ?? ""))
        : ToolwireError;
      assert.equal(Object.getPrototypeOf(cls), parent, `${row.code} extends ${row.parent}`);
    }
  });

  test("the status fallback table is the Python SDK's", () => {
    const ours = Object.fromEntries(Object.entries(CODE_FOR_STATUS).map(([s, c]) => [s, c]));
    assert.deepEqual(ours, contract.code_for_status);
  });
});

describe("every error code from a real gateway", { skip }, () => {
  let gateway: Gateway;
  let tw: Toolwire;
  let contract: ErrorContract;

  before(async () => {
    contract = errorContract();
    gateway = await useGateway();
    const { key } = await gateway.createAccount(100);
    tw = new Toolwire({ baseUrl: gateway.url, apiKey: key });
  });
  after(() => gateway?.stop());

  test("each code is thrown as its class with status, request id, receipt and retry delay", async () => {
    for (const row of contract.errors) {
      const error = await tw
        .execute("errors.raise", { code: row.code, retry_after_s: 7 })
        .then(() => assert.fail(`${row.code} did not throw`))
        .catch((e: unknown) => e);

      assert.ok(error instanceof ToolwireError, row.code);
      assert.equal(error.constructor, ERRORS_BY_CODE[row.code], row.code);
      assert.equal(error.code, row.code);
      assert.equal(error.status, row.status, row.code);
      assert.equal(error.message, `${row.code} raised on request`);
      assert.deepEqual(error.details, { retry_after_s: 7 });
      assert.equal(error.retryAfterMs, 7000, row.code);
      assert.match(error.requestId ?? "", /\S/);
      assert.equal(error.meta?.request_id, error.requestId);
      assert.equal(error.meta?.credits_charged, 0);
    }
  });

  test("refusals the gateway makes on its own are typed too", async () => {
    const { accountId, key: broke } = await gateway.createAccount(0);
    const { key: calcOnly } = await gateway.createAccount(1, ["calc.*"]);
    const anonymous = new Toolwire({ baseUrl: gateway.url });
    const admin = new Toolwire({ baseUrl: gateway.url, apiKey: gateway.adminKey });

    await assert.rejects(tw.execute("no_such_tool"), ToolNotFoundError);
    await assert.rejects(tw.execute("calc.evaluate", { expression: 5 }), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentsError);
      assert.equal(e.status, 422);
      const errors = (e.details as { errors: { path: string }[] }).errors;
      assert.deepEqual(
        errors.map((x) => x.path),
        ["/expression"],
      );
      return true;
    });
    await assert.rejects(anonymous.execute("echo", { message: "x" }), UnauthenticatedError);
    await assert.rejects(
      // Denied by scope is answered as unknown, unless TOOLWIRE_EXPLICIT_FORBIDDEN is set.
      new Toolwire({ baseUrl: gateway.url, apiKey: calcOnly }).execute("echo", { message: "x" }),
      ToolNotFoundError,
    );
    await assert.rejects(
      new Toolwire({ baseUrl: gateway.url, apiKey: broke }).execute("echo", { message: "x" }),
      InsufficientCreditsError,
    );
    await assert.rejects(admin.admin.getAccount("acc_missing"), NotFoundError);
    await assert.rejects(admin.admin.grant(accountId, 0), InvalidRequestError);
    await assert.rejects(
      tw.tools({ format: "nope" as "mcp" }),
      (e: unknown) => e instanceof InvalidRequestError && e.status === 400,
    );
    await assert.rejects(
      tw.execute("echo", { message: "x".repeat(2 * 1024 * 1024) }),
      (e: unknown) => e instanceof PayloadTooLargeError && e.status === 413,
    );
    await assert.rejects(tw.execute("fail.crash"), (e: unknown) => {
      return e instanceof UpstreamError && !(e instanceof UpstreamTimeoutError) && e.status === 502;
    });
    await assert.rejects(
      tw.execute("errors.hang", { seconds: 30 }),
      (e: unknown) => e instanceof UpstreamTimeoutError && e instanceof UpstreamError,
    );
  });

  test("a key over its budget gets BudgetExceededError with the delay until it refills", async () => {
    const { accountId, key } = await gateway.createAccount(10);
    const keys = (await (
      await gateway.adminFetch(`/admin/v1/keys?account_id=${accountId}`)
    ).json()) as { keys: { id: string }[] };
    const keyId = keys.keys[0]?.id ?? "";
    const put = await gateway.adminFetch(`/admin/v1/keys/${keyId}/budget`, {
      method: "PUT",
      body: JSON.stringify({ hour: 1 }),
    });
    assert.equal(put.status, 200);
    const client = new Toolwire({ baseUrl: gateway.url, apiKey: key });
    await client.execute("echo", { message: "1" });
    await client.execute("echo", { message: "2" });

    const error = await client.execute("echo", { message: "3" }).catch((e: unknown) => e);

    assert.ok(error instanceof BudgetExceededError);
    assert.equal(error.status, 429);
    assert.ok((error.retryAfterMs ?? 0) >= 1000);
  });
});

describe("answers that do not come from a toolwire gateway", () => {
  test("an answer without an envelope is typed by its status", async () => {
    const server = await scriptedServer((request, _body, response) => {
      const status = Number(request.url?.split("/")[1]);
      response.writeHead(status, { "content-type": "text/html" }).end("<h1>proxy error</h1>");
    });
    try {
      const cases: [number, typeof ToolwireError][] = [
        [413, PayloadTooLargeError],
        [502, UpstreamError],
        [503, UnavailableError],
      ];
      for (const [status, cls] of cases) {
        const tw = new Toolwire({ baseUrl: `${server.url}/${status}` });
        const error = await tw.me().catch((e: unknown) => e);
        assert.equal((error as Error).constructor, cls, String(status));
        assert.equal((error as ToolwireError).status, status);
      }
    } finally {
      await server.close();
    }
  });

  test("an unknown code is thrown as the base class with that code; Retry-After may be a date", async () => {
    const server = await scriptedServer((_request, _body, response) => {
      const retryAt = new Date(Date.now() + 60_000).toUTCString();
      response.writeHead(418, { "content-type": "application/json", "retry-after": retryAt });
      response.end(JSON.stringify({ ok: false, error: { code: "BRAND_NEW", message: "m" } }));
    });
    try {
      const error = await new Toolwire({ baseUrl: server.url }).execute("echo").catch((e) => e);
      assert.equal(error.constructor, ToolwireError);
      assert.equal(error.code, "BRAND_NEW");
      assert.equal(error.status, 418);
      assert.ok(error.retryAfterMs > 50_000 && error.retryAfterMs <= 60_000);
    } finally {
      await server.close();
    }
  });

  test("a success that is not JSON, or not of the expected shape, is a TransportError", async () => {
    const bodies = ["not json", "[1, 2]", '{"unexpected": true}'];
    const server = await scriptedServer((request, _body, response) => {
      response.writeHead(200).end(bodies[Number(request.url?.split("/")[1])]);
    });
    try {
      for (const index of bodies.keys()) {
        const tw = new Toolwire({ baseUrl: `${server.url}/${index}` });
        await assert.rejects(tw.execute("echo"), TransportError);
        await assert.rejects(tw.tools(), TransportError);
      }
    } finally {
      await server.close();
    }
  });

  test("a refused connection is a TransportError", async () => {
    const tw = new Toolwire({ baseUrl: `http://127.0.0.1:${await freePort()}` });
    await assert.rejects(
      tw.me(),
      (e: unknown) => e instanceof TransportError && !(e instanceof TransportTimeoutError),
    );
  });

  test("a gateway that never answers is a TransportTimeoutError after timeoutMs", async () => {
    const server = await scriptedServer(() => {}); // never answers
    try {
      const tw = new Toolwire({ baseUrl: server.url, timeoutMs: 200 });
      await assert.rejects(tw.me(), TransportTimeoutError);
      await assert.rejects(
        new Toolwire({ baseUrl: server.url }).me({ timeoutMs: 100 }),
        TransportTimeoutError,
      );
    } finally {
      await server.close();
    }
  });

  test("execute sends the contract request", async () => {
    const server = await scriptedServer((_request, _body, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ ok: true, data: 1, meta: { request_id: "r" } }));
    });
    try {
      const tw = new Toolwire({ baseUrl: server.url, apiKey: "k" });
      await tw.execute("search", { q: "x" }, { operation: "web", idempotencyKey: "idem-1" });

      const [request] = server.requests;
      assert.equal(request?.method, "POST");
      assert.equal(request?.url, "/api/v1/execute");
      assert.equal(request?.headers.authorization, "Bearer k");
      assert.equal(request?.headers["idempotency-key"], "idem-1");
      assert.equal(request?.headers["content-type"], "application/json");
      assert.deepEqual(JSON.parse(request?.body ?? ""), {
        tool: "search",
        input: { q: "x" },
        operation: "web",
      });
    } finally {
      await server.close();
    }
  });
});
