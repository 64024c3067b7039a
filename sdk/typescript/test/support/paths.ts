/** Where things are, from the compiled test files (build/test/...) or the sources (test/...). */

import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

function sdkRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return dir;
}

export const SDK_ROOT = sdkRoot();
export const REPO_ROOT = resolve(SDK_ROOT, "..", "..");
export const VENV = process.env.TOOLWIRE_VENV ?? join(REPO_ROOT, ".venv");
export const PYTHON = join(VENV, "bin", "python");
export const TOOLWIRE_BIN = join(VENV, "bin", "toolwire");
export const IN_CI = (process.env.CI ?? "").toLowerCase() === "true";

/**
 * `reason` as a skip reason for `describe(..., { skip })` when a prerequisite is missing, or
 * `false` when it is there. Under CI=true a missing prerequisite is a failure, never a skip.
 */
export function skipUnless(reason: string | undefined): string | false {
  if (reason === undefined) return false;
  if (IN_CI) throw new Error(`CI=true and ${reason}`);
  return reason;
}

/** Why the gateway cannot be started from the toolwire venv, or undefined. */
export function venvMissing(): string | undefined {
  if (existsSync(TOOLWIRE_BIN) && existsSync(PYTHON)) return undefined;
  return `no toolwire venv at ${VENV}: run ./scripts/test once from the repo root (or set TOOLWIRE_VENV)`;
}
