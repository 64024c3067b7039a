/** The client's methods against a real gateway: results with their receipt, the catalog in
 *  every format, the calling key, idempotent retries, and the admin surface. */

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  type ToolFormat,
  ToolNotFoundError,
  Toolwire,
  UnauthenticatedError,
} from "../src/index.js";
import { ECHO_PRICE, eventually, type Gateway, useGateway } from "./support/gateway.js";
import { SDK_ROOT, skipUnless, venvMissing } from "./support/paths.js";

const FORMATS: ToolFormat[] = ["mcp", "openai", "openai-responses", "anthropic", "gemini"];

describe("Toolwire against a real gateway", { skip: skipUnless(venvMissing()) }, () => {
  let gateway: Gateway;
  let accountId: string;
  let tw: Toolwire;
  let admin: Toolwire;

  before(async () => {
    gateway = await useGateway();
    const account = await gateway.createAccount(1000, ["*"], "sdk");
    accountId = account.accountId;
    tw = new Toolwire({ baseUrl: gateway.url, apiKey: account.key });
    admin = new Toolwire({ baseUrl: `${gateway.url}/`, apiKey: gateway.adminKey });
  });
  after(() => gateway?.stop());

  test("execute returns the data and a receipt with the charge", async () => {
    const before = (await tw.me()).balance;

    const result = await tw.execute<{ echo: string }>("echo", { message: "hi" });

    assert.equal(result.data.echo, "hi");
    assert.equal(result.meta.tool, "echo");
    assert.equal(result.meta.credits_charged, ECHO_PRICE);
    assert.equal(result.meta.balance, before - ECHO_PRICE);
    assert.match(result.meta.request_id, /\S/);
    assert.ok((result.meta.latency_ms ?? -1) >= 0);
  });

  test("execute accepts dotted, split and double-underscore names alike", async () => {
    const dotted = await tw.execute<{ result: number }>("calc.evaluate", { expression: "6 * 7" });
    const split = await tw.execute<{ result: number }>(
      "calc",
      { expression: "6 * 7" },
      { operation: "evaluate" },
    );
    const openaiName = await tw.execute<{ result: number }>("calc__evaluate", {
      expression: "6 * 7",
    });

    assert.deepEqual([dotted.data.result, split.data.result, openaiName.data.result], [42, 42, 42]);
    assert.equal(dotted.meta.credits_charged, 0);
  });

  test("a retry with the same idempotency key is replayed and charged once", async () => {
    const { key } = await gateway.createAccount(10);
    const client = new Toolwire({ baseUrl: gateway.url, apiKey: key });

    const first = await client.execute("echo", { message: "once" }, { idempotencyKey: "k-1" });
    const again = await client.execute("echo", { message: "once" }, { idempotencyKey: "k-1" });

    assert.deepEqual(again.data, first.data);
    assert.equal(again.meta.replayed, true);
    assert.equal(again.meta.request_id, first.meta.request_id);
    assert.equal((await client.me()).balance, 10 - ECHO_PRICE);
    await assert.rejects(
      client.execute("echo", { message: "other" }, { idempotencyKey: "k-1" }),
      (error: unknown) => error instanceof ConflictError && error.status === 409,
    );
  });

  test("tools lists toolwire's own entries, searchable by words and category", async () => {
    const all = await tw.tools();
    const calc = all.find((entry) => entry.name === "calc.evaluate");

    assert.ok(calc);
    assert.equal(calc.tool, "calc");
    assert.equal(calc.operation, "evaluate");
    assert.equal(typeof calc.input_schema, "object");
    assert.equal(all.find((entry) => entry.name === "echo")?.price, ECHO_PRICE);
    const found = await tw.tools({ q: "evaluate" });
    assert.ok(found.some((entry) => entry.name === "calc.evaluate"));
    assert.ok(found.length < all.length);
    const testing = await tw.tools({ category: "testing" });
    assert.ok(testing.length > 0);
    assert.ok(testing.every((entry) => entry.category === "testing"));
  });

  for (const format of FORMATS) {
    test(`tools({format: "${format}"}) returns that platform's definitions`, async () => {
      const definitions = await tw.tools({ format });
      const names = definitions.map((d) => ("function" in d ? d.function.name : d.name));

      assert.equal(definitions.length, (await tw.tools()).length);
      assert.ok(names.includes(format === "mcp" ? "calc.evaluate" : "calc__evaluate"));
    });
  }

  test("tool returns one catalog entry and throws for an unknown name", async () => {
    const entry = await tw.tool("calc.evaluate");

    assert.equal(entry.name, "calc.evaluate");
    assert.deepEqual(await tw.tool("calc__evaluate"), entry);
    await assert.rejects(tw.tool("no_such_tool"), { name: "ToolNotFoundError", status: 404 });
  });

  test("me describes the calling key", async () => {
    const me = await tw.me();

    assert.equal(me.account_id, accountId);
    assert.deepEqual(me.scopes, ["*"]);
    assert.equal(me.is_admin, false);
    assert.equal(typeof me.balance, "number");
  });

  test("an admin creates an account and a key that works, grants and reads credits", async () => {
    const account = await admin.admin.createAccount("ts-admin", 5);
    const created = await admin.admin.createKey(account.id, { name: "k", scopes: ["calc.*"] });
    const client = new Toolwire({ baseUrl: gateway.url, apiKey: created.secret });

    assert.equal(account.balance, 5);
    assert.deepEqual(created.key.scopes, ["calc.*"]);
    assert.equal((await client.me()).account_id, account.id);
    assert.equal(await admin.admin.grant(account.id, "2.5", "top-up"), 7.5);
    assert.equal(await admin.admin.balance(account.id), 7.5);
    assert.equal((await admin.admin.getAccount(account.id)).name, "ts-admin");
    assert.ok((await admin.admin.listAccounts()).some((a) => a.id === account.id));
    // A tool outside the key's scopes is answered exactly as an unknown one (issue 8 item 14).
    await assert.rejects(client.execute("echo", { message: "x" }), ToolNotFoundError);
  });

  test("an admin lists and revokes keys; a revoked key is unauthenticated", async () => {
    const account = await admin.admin.createAccount("ts-revoke", 1);
    const { key, secret } = await admin.admin.createKey(account.id);
    const keys = await admin.admin.listKeys(account.id);

    assert.deepEqual(
      keys.map((k) => k.id),
      [key.id],
    );
    assert.ok((await admin.admin.listKeys()).length > 1);
    const revoked = await admin.admin.revokeKey(key.id);
    assert.ok(revoked.revoked_at);
    await assert.rejects(
      new Toolwire({ baseUrl: gateway.url, apiKey: secret }).me(),
      UnauthenticatedError,
    );
  });

  test("the usage report shows an account's calls and credits", async () => {
    const { accountId: id, key } = await gateway.createAccount(10);
    const client = new Toolwire({ baseUrl: gateway.url, apiKey: key });
    await client.execute("echo", { message: "a" });
    await client.execute("echo", { message: "b" });

    let rows = await admin.admin.usage({ accountId: id });
    const bothCounted = async () => {
      rows = await admin.admin.usage({ accountId: id });
      return rows[0]?.calls === 2;
    };
    await eventually(bothCounted, 10_000, "usage rows written (batched off the request path)");

    assert.deepEqual(
      rows.map((r) => [r.tool, r.calls, r.credits]),
      [["echo", 2, 2 * ECHO_PRICE]],
    );
    assert.deepEqual(await admin.admin.usage({ accountId: id, tool: "calc" }), []);
  });

  test("the audit pages through an account's calls, newest first", async () => {
    const { accountId: id, key } = await gateway.createAccount(10);
    const client = new Toolwire({ baseUrl: gateway.url, apiKey: key });
    await client.execute("echo", { message: "a" });
    await client.execute("echo", { message: "b" });
    await assert.rejects(client.execute("no_such_tool", {}), ToolNotFoundError);

    const first = await admin.admin.audit({ accountId: id, limit: 2, since: "1h" });
    assert.ok(first.next_cursor);
    const second = await admin.admin.audit({ accountId: id, cursor: first.next_cursor });
    assert.equal(second.next_cursor, null);
    assert.deepEqual(
      [...first.records, ...second.records].map((r) => r.outcome),
      ["TOOL_NOT_FOUND", "OK", "OK"],
    );
    const ok = await admin.admin.audit({ accountId: id, outcome: "OK" });
    assert.ok(ok.records.every((r) => r.arguments_digest?.startsWith("hmac-sha256:")));
  });

  test("an admin reloads the catalog: unchanged file, same version as /readyz", async () => {
    const result = await admin.admin.reload();
    const ready = (await (await fetch(`${gateway.url}/readyz`)).json()) as Record<string, unknown>;
    assert.equal(result.status, "unchanged");
    assert.equal(result.version, ready.catalog_version);
    assert.deepEqual([result.added, result.removed], [[], []]);
    await assert.rejects(tw.admin.reload(), ForbiddenError);
  });

  test("admin calls for an unknown account raise NotFoundError; a caller key is forbidden", async () => {
    await assert.rejects(admin.admin.getAccount("acc_missing"), NotFoundError);
    await assert.rejects(admin.admin.balance("acc_missing"), NotFoundError);
    await assert.rejects(tw.admin.listAccounts(), ForbiddenError);
    await assert.rejects(new Toolwire({ baseUrl: gateway.url }).admin.listKeys(), {
      code: "UNAUTHENTICATED",
    });
  });

  test("the CommonJS build works through require() against the same gateway", async () => {
    const require = createRequire(`${SDK_ROOT}/package.json`);
    const cjs = require("toolwire") as typeof import("../src/index.js");
    const client = new cjs.Toolwire({ baseUrl: gateway.url, apiKey: gateway.adminKey });

    assert.equal((await client.me()).is_admin, true);
    await assert.rejects(client.execute("no_such_tool"), cjs.ToolNotFoundError);
  });
});
