// Run the TypeScript tests (already built into build/ by scripts/build.mjs) against one real
// toolwire gateway, started here and shared by every test file (see test/support/gateway.ts).
//   - the gateway comes from the repo's Python venv (.venv/bin/toolwire); without it the tests
//     that need it skip with the reason, and under CI=true that is a failure;
//   - Chromium for the browser smoke test comes from Debian's `chromium` package, installed here
//     when missing and running as root (never a downloaded browser);
//   - the gateway allows CORS from the browser test's page origin (TOOLWIRE_CORS_ORIGINS).
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { pythonMissing, SDK_ROOT } from "./python.mjs";

const CHROMIUM = "/usr/bin/chromium";
const inCI = (process.env.CI ?? "").toLowerCase() === "true";
process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = "1";

function ensureChromium() {
  if (existsSync(CHROMIUM) || process.getuid?.() !== 0) return;
  console.error("== installing Debian's chromium for the browser smoke test (apt-get)");
  try {
    const quiet = {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    };
    execFileSync("apt-get", ["update", "-qq"], quiet);
    execFileSync("apt-get", ["install", "-y", "-qq", "chromium"], quiet);
  } catch (error) {
    console.error(`could not install chromium: ${error.message}`);
  }
}

async function main() {
  ensureChromium();
  const env = { ...process.env };
  const missing = pythonMissing();
  let gateway;
  if (missing) {
    if (inCI) throw new Error(`CI=true and ${missing}`);
    console.error(`warning: ${missing}; the tests that need a gateway will skip`);
  } else {
    const { CATALOG, SHARED_ENV, freePort, startGateway } = await import(
      join(SDK_ROOT, "build", "test", "support", "gateway.js")
    );
    const pagePort = await freePort();
    env.TOOLWIRE_TEST_PAGE_PORT = String(pagePort);
    gateway = await startGateway({
      config: CATALOG,
      env: { TOOLWIRE_CORS_ORIGINS: `http://127.0.0.1:${pagePort}` },
    });
    env[SHARED_ENV] = JSON.stringify({
      url: gateway.url,
      adminKey: gateway.adminKey,
      dataDir: gateway.dataDir,
    });
  }
  const files = readdirSync(join(SDK_ROOT, "build", "test")).filter((f) => f.endsWith(".test.js"));
  const only = process.argv.slice(2); // e.g. `npm test -- errors client`
  const chosen = files.filter((f) => !only.length || only.some((o) => f.startsWith(o)));
  const args = ["--test", "--test-concurrency=2", ...chosen.map((f) => join("build", "test", f))];
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: SDK_ROOT, env, stdio: "inherit" });
    child.once("exit", (status, signal) => resolve(status ?? (signal ? 1 : 0)));
  });
  await gateway?.stop();
  process.exitCode = code;
}

await main();
