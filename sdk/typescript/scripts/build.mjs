// Build the package: ESM (dist/esm) and CommonJS (dist/cjs) with .d.ts, and the tests and
// examples (build/), each with plain `tsc`, the three in parallel. dist/cjs gets a package.json
// saying "commonjs". The tests' build resolves `toolwire` to dist/esm, so it starts after ESM.
import { spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

function compile(project) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, "-p", join(root, project)], { stdio: "inherit" });
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`tsc -p ${project} failed`)),
    );
  });
}

rmSync(join(root, "dist"), { recursive: true, force: true });
rmSync(join(root, "build"), { recursive: true, force: true });
const cjs = compile("tsconfig.cjs.json");
await compile("tsconfig.esm.json");
await Promise.all([cjs, compile("tsconfig.json")]);
mkdirSync(join(root, "dist", "cjs"), { recursive: true });
writeFileSync(join(root, "dist", "cjs", "package.json"), '{ "type": "commonjs" }\n');
