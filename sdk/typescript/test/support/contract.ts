/** The server's error table, as the Python side exports it (tests/support/sdk_contract.py). */

import { execFileSync } from "node:child_process";
import { PYTHON, REPO_ROOT } from "./paths.js";

export interface ErrorRow {
  code: string;
  /** The server's class name (`RateLimited`); the SDK's is the same with an `Error` suffix. */
  class: string;
  parent: string | null;
  /** The REST door's HTTP status for this code. */
  status: number;
}

export interface ErrorContract {
  errors: ErrorRow[];
  code_for_status: Record<string, string>;
}

export function errorContract(): ErrorContract {
  const out = execFileSync(PYTHON, ["-m", "tests.support.sdk_contract", "errors"], {
    cwd: REPO_ROOT,
    encoding: "utf8",
  });
  return JSON.parse(out) as ErrorContract;
}

/** The TypeScript class name for a server class name: `RateLimited` -> `RateLimitedError`. */
export function sdkClassName(serverName: string): string {
  return serverName.endsWith("Error") ? serverName : `${serverName}Error`;
}
