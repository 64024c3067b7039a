/** The committed OpenAPI document and the types generated from it match what the gateway serves
 *  today: regenerating changes nothing. (src/contract.ts then checks the SDK against those types
 *  at compile time.) */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";
import { SDK_ROOT, skipUnless, venvMissing } from "./support/paths.js";

describe("generated types", { skip: skipUnless(venvMissing()) }, () => {
  test("match the gateway's /openapi.json (run `npm run generate` after changing it)", () => {
    const script = join(SDK_ROOT, "scripts", "generate-types.mjs");
    const out = execFileSync(process.execPath, [script, "--check"], { encoding: "utf8" });
    assert.match(out, /match/);
  });
});
