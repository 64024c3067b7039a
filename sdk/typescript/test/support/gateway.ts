/**
 * Start a real gateway the way users do (`toolwire serve`), on a free port on 127.0.0.1, as the
 * Python suite does (toolwire/testing.py): the catalog is written to the data dir, the admin key
 * comes from TOOLWIRE_ADMIN_KEY, and test tools load from tests/support via PYTHONPATH.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT, TOOLWIRE_BIN } from "./paths.js";

const STARTUP_TIMEOUT_MS = 30_000;

/** The catalog every SDK test gateway serves: priced echo and slow tools, failing tools. */
export const CATALOG = {
  builtins: { modules: ["tests.support.tools", "tests.support.error_tools"] },
  prices: { echo: 0.5, slow: 1 },
};
export const ECHO_PRICE = 0.5;
export const SLOW_PRICE = 1;

export interface Gateway {
  url: string;
  adminKey: string;
  dataDir: string;
  /** A new account with `credits` and one key with `scopes`. */
  createAccount(
    credits?: number,
    scopes?: string[],
    name?: string,
  ): Promise<{ accountId: string; key: string }>;
  /** The account's balance, read through the admin API. */
  balance(accountId: string): Promise<number>;
  /** A raw admin API call (for what the SDK does not wrap, e.g. key budgets). */
  adminFetch(path: string, init?: RequestInit): Promise<Response>;
  logs(): string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  config?: object;
  env?: Record<string, string>;
  port?: number;
}

/** Set by scripts/test.mjs: the one gateway it started for every test file (JSON). */
export const SHARED_ENV = "TOOLWIRE_TEST_GATEWAY";

export interface SharedGateway {
  url: string;
  adminKey: string;
  dataDir: string;
}

/**
 * The gateway of this test run: the one scripts/test.mjs started (serving `CATALOG`, with CORS for
 * the browser test's page), or a fresh one when a test file runs on its own. Starting a gateway
 * takes seconds on a busy machine, so the files share one; each test makes its own accounts.
 */
export async function useGateway(): Promise<Gateway> {
  const shared = process.env[SHARED_ENV];
  if (!shared) return startGateway();
  const { url, adminKey, dataDir } = JSON.parse(shared) as SharedGateway;
  return handle(url, adminKey, dataDir, join(dataDir, "gateway.log"), async () => {});
}

export async function startGateway(options: StartOptions = {}): Promise<Gateway> {
  const dataDir = mkdtempSync(join(tmpdir(), "toolwire-ts-"));
  const port = options.port ?? (await freePort());
  const adminKey = `tw_admin_${randomBytes(16).toString("hex")}`;
  const configPath = join(dataDir, "toolwire.yaml");
  writeFileSync(configPath, JSON.stringify(options.config ?? CATALOG)); // JSON is YAML
  const logPath = join(dataDir, "gateway.log");
  const log = createWriteStream(logPath);
  const args = ["serve", "--host", "127.0.0.1", "--port", String(port)];
  args.push("--data-dir", dataDir, "--config", configPath);
  const child = spawn(TOOLWIRE_BIN, args, {
    env: {
      ...process.env,
      TOOLWIRE_ADMIN_KEY: adminKey,
      TOOLWIRE_LOG_FORMAT: "json",
      PYTHONPATH: REPO_ROOT,
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const url = `http://127.0.0.1:${port}`;
  await listening(child, log);
  const health = await fetch(`${url}/healthz`);
  if (health.status !== 200) throw new Error(`/healthz answered ${health.status}`);
  return handle(url, adminKey, dataDir, logPath, () => stop(child));
}

function handle(
  url: string,
  adminKey: string,
  dataDir: string,
  logPath: string,
  stopIt: () => Promise<void>,
): Gateway {
  const adminFetch = (path: string, init: RequestInit = {}) =>
    fetch(url + path, {
      ...init,
      headers: { Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json" },
    });
  const json = async (path: string, body?: object) => {
    const init: RequestInit = body ? { method: "POST", body: JSON.stringify(body) } : {};
    const response = await adminFetch(path, init);
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as Record<string, unknown>;
  };
  return {
    url,
    adminKey,
    dataDir,
    async createAccount(credits = 100, scopes = ["*"], name = "ts-test") {
      const account = (await json("/admin/v1/accounts", { name, credits })).account as unknown as {
        id: string;
      };
      const created = await json(`/admin/v1/accounts/${account.id}/keys`, { name, scopes });
      return { accountId: account.id, key: String(created.secret) };
    },
    async balance(accountId) {
      return Number((await json(`/admin/v1/accounts/${accountId}/balance`)).balance);
    },
    adminFetch,
    logs: () => readFileSync(logPath, "utf8"),
    stop: stopIt,
  };
}

/** Resolve once uvicorn says it is listening; reject if the process exits or takes too long. */
function listening(child: ChildProcess, log: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`gateway did not start within ${STARTUP_TIMEOUT_MS} ms:\n${seen}`));
    }, STARTUP_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      if (seen.length < 100_000) seen += chunk.toString();
      if (seen.includes("Uvicorn running on")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${seen}`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGINT");
  });
}

/** Wait until `check()` holds, asking again every 20 ms: for what another process makes true
 *  (a reservation held or released), where there is no event to wait on. */
export async function eventually(
  check: () => Promise<boolean>,
  withinMs = 10_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
