/** Aborting a call cancels it on the gateway: the request is dropped, the gateway sees the client
 *  go away, cancels the tool and releases the reservation, so nothing is charged. */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AbortedError, Toolwire, TransportTimeoutError } from "../src/index.js";
import { eventually, type Gateway, SLOW_PRICE, useGateway } from "./support/gateway.js";
import { skipUnless, venvMissing } from "./support/paths.js";

const SLOW = { seconds: 30 }; // far longer than any test waits: only a cancel ends it early

describe("cancellation", { skip: skipUnless(venvMissing()) }, () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await useGateway();
  });
  after(() => gateway?.stop());

  async function account(credits = 10) {
    const { accountId, key } = await gateway.createAccount(credits);
    const balanceIs = (value: number) => async () => (await gateway.balance(accountId)) === value;
    return { tw: new Toolwire({ baseUrl: gateway.url, apiKey: key }), balanceIs };
  }

  test("an aborted priced slow call is cancelled on the gateway and not charged", async () => {
    const { tw, balanceIs } = await account(10);
    const controller = new AbortController();
    const call = tw.execute("slow.sleep", SLOW, { signal: controller.signal });
    await eventually(balanceIs(10 - SLOW_PRICE), 10_000, "the call holds its reservation");

    controller.abort(new Error("user pressed stop"));

    await assert.rejects(call, (e: unknown) => {
      assert.ok(e instanceof AbortedError);
      assert.equal(e.code, "ABORTED");
      assert.equal((e.cause as Error).message, "user pressed stop");
      return true;
    });
    await eventually(balanceIs(10), 10_000, "the reservation is released");
  });

  test("aborting a model's tool calls cancels them on the gateway too", async () => {
    const { tw, balanceIs } = await account(10);
    const controller = new AbortController();
    const message = {
      tool_calls: [
        {
          id: "c1",
          type: "function",
          function: { name: "slow__sleep", arguments: '{"seconds":30}' },
        },
      ],
    };
    const call = tw.runOpenAIToolCalls(message, { signal: controller.signal });
    await eventually(balanceIs(10 - SLOW_PRICE), 10_000, "the call holds its reservation");

    controller.abort();

    await assert.rejects(call, AbortedError);
    await eventually(balanceIs(10), 10_000, "the reservation is released");
  });

  test("a call past timeoutMs is abandoned, and the gateway releases it", async () => {
    const { tw, balanceIs } = await account(10);

    await assert.rejects(
      tw.execute("slow.sleep", SLOW, { timeoutMs: 1500 }),
      TransportTimeoutError,
    );

    await eventually(balanceIs(10), 10_000, "nothing charged for the abandoned call");
  });

  test("an already aborted signal sends nothing", async () => {
    const { tw, balanceIs } = await account(10);

    await assert.rejects(
      tw.execute("echo", { message: "x" }, { signal: AbortSignal.abort() }),
      AbortedError,
    );

    assert.ok(await balanceIs(10)());
  });
});
