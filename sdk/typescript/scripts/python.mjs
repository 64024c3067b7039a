// Where the toolwire Python environment is: the gateway binary and the interpreter that exports
// the server's contract (tests/support/sdk_contract.py). Set TOOLWIRE_VENV to use another venv.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const SDK_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_ROOT = resolve(SDK_ROOT, "..", "..");
export const VENV = process.env.TOOLWIRE_VENV ?? join(REPO_ROOT, ".venv");
export const PYTHON = join(VENV, "bin", "python");
export const TOOLWIRE_BIN = join(VENV, "bin", "toolwire");

/** Why the Python side is unusable, or undefined when it is there. */
export function pythonMissing() {
  if (!existsSync(PYTHON) || !existsSync(TOOLWIRE_BIN)) {
    return `no toolwire venv at ${VENV} (run ./scripts/test once from the repo root, or set TOOLWIRE_VENV)`;
  }
  return undefined;
}
