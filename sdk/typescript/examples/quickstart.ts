// Run tools, read the receipt, list the catalog, handle typed errors.
//   TOOLWIRE_URL=http://127.0.0.1:8787 TOOLWIRE_API_KEY=tw_... node build/examples/quickstart.js
import { fileURLToPath } from "node:url";
import { ToolNotFoundError, Toolwire } from "toolwire";

export async function main(tw = new Toolwire()): Promise<string[]> {
  const lines: string[] = [];
  const result = await tw.execute("calc.evaluate", { expression: "2 * (3 + 4)" });
  lines.push(`calc.evaluate -> ${JSON.stringify(result.data)}`);
  lines.push(`charged ${result.meta.credits_charged}, balance ${result.meta.balance}`);

  const tools = await tw.tools({ q: "calc" });
  lines.push(`tools matching "calc": ${tools.map((t) => t.name).join(", ")}`);

  try {
    await tw.execute("no_such_tool");
  } catch (error) {
    if (!(error instanceof ToolNotFoundError)) throw error;
    lines.push(`${error.code} (HTTP ${error.status}, request ${error.requestId})`);
  }
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const line of await main()) console.log(line);
}
