/** Browser smoke test: a page on 127.0.0.1 imports the ESM build and calls toolwire across
 *  origins (CORS allowed by TOOLWIRE_CORS_ORIGINS), in headless Chromium from Debian's
 *  `chromium` package driven by playwright-core (which never downloads a browser). */

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, normalize } from "node:path";
import { after, before, describe, test } from "node:test";
import { type BrowserContext, chromium } from "playwright-core";
import { Toolwire } from "../src/index.js";
import { freePort, type Gateway, startGateway, useGateway } from "./support/gateway.js";
import { SDK_ROOT, skipUnless, venvMissing } from "./support/paths.js";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>toolwire smoke</title>
<script type="module">
  import { Toolwire, ToolNotFoundError, UnauthenticatedError } from "/sdk/index.js";
  window.smoke = async (baseUrl, apiKey) => {
    const tw = new Toolwire({ baseUrl, apiKey });
    const echo = await tw.execute("echo", { message: "from the browser" });
    const tools = await tw.tools({ format: "openai" });
    const notFound = await tw.execute("no_such_tool").catch((e) => e);
    const anonymous = await new Toolwire({ baseUrl }).me().catch((e) => e);
    return {
      echo: echo.data,
      charged: echo.meta.credits_charged,
      requestId: echo.meta.request_id,
      toolCount: tools.length,
      notFound: [notFound instanceof ToolNotFoundError, notFound.status, Boolean(notFound.requestId)],
      anonymous: anonymous instanceof UnauthenticatedError,
    };
  };
  document.title = "ready";
</script>`;

function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  return `no ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium); scripts/test.mjs does when root`;
}

/** Serves the page and the ESM build (dist/esm) under /sdk/. */
async function pageServer(port: number): Promise<Server> {
  const esm = join(SDK_ROOT, "dist", "esm");
  const server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0] ?? "/";
    if (path === "/") {
      response.writeHead(200, { "content-type": "text/html" }).end(PAGE);
      return;
    }
    const file = normalize(join(esm, path.replace(/^\/sdk\//, "")));
    if (path.startsWith("/sdk/") && file.startsWith(esm) && existsSync(file)) {
      response.writeHead(200, { "content-type": "text/javascript" }).end(readFileSync(file));
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

const skip = skipUnless(venvMissing()) || skipUnless(chromiumMissing());

describe("the SDK in a browser", { skip }, () => {
  let gateway: Gateway;
  let page: Server;
  let context: BrowserContext;
  let profile: string;
  let origin: string;

  before(async () => {
    const shared = process.env.TOOLWIRE_TEST_PAGE_PORT;
    const port = shared ? Number(shared) : await freePort();
    origin = `http://127.0.0.1:${port}`;
    gateway = shared
      ? await useGateway()
      : await startGateway({ env: { TOOLWIRE_CORS_ORIGINS: origin } });
    page = await pageServer(port);
    profile = mkdtempSync(join(tmpdir(), "toolwire-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
  });
  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await new Promise((resolve) => page?.close(resolve));
    await gateway?.stop();
  });

  test("a page on another origin runs tools, lists the catalog and gets typed errors", async () => {
    const { accountId, key } = await gateway.createAccount(10);
    const tab = await context.newPage();
    await tab.goto(`${origin}/`);
    await tab.waitForFunction(() => document.title === "ready");

    const result = await tab.evaluate(
      ([url, apiKey]) =>
        (window as unknown as { smoke: (u: string, k: string) => Promise<unknown> }).smoke(
          url ?? "",
          apiKey ?? "",
        ),
      [gateway.url, key],
    );

    const expectedTools = await new Toolwire({ baseUrl: gateway.url, apiKey: key }).tools();
    const { echo, requestId, ...rest } = result as { echo: { echo: string }; requestId: string };
    assert.equal(echo.echo, "from the browser");
    assert.match(requestId, /^\S+$/);
    assert.deepEqual(rest, {
      charged: 0.5,
      toolCount: expectedTools.length,
      notFound: [true, 404, true],
      anonymous: true,
    });
    assert.equal(await gateway.balance(accountId), 9.5);
  });
});
