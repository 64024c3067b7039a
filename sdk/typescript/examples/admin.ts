// Create an account with credits and a scoped key, top it up, read its usage (admin key).
//   TOOLWIRE_URL=http://127.0.0.1:8787 TOOLWIRE_API_KEY=$TOOLWIRE_ADMIN_KEY node build/examples/admin.js
import { fileURLToPath } from "node:url";
import { Toolwire } from "toolwire";

export async function main(tw = new Toolwire()): Promise<string[]> {
  const account = await tw.admin.createAccount("acme", 10);
  const { key, secret } = await tw.admin.createKey(account.id, { name: "ci", scopes: ["calc.*"] });
  const balance = await tw.admin.grant(account.id, 5, "welcome bonus");

  const acme = new Toolwire({ baseUrl: tw.baseUrl, apiKey: secret });
  await acme.execute("calc.evaluate", { expression: "1 + 1" });

  const usage = await tw.admin.usage({ accountId: account.id });
  return [
    `account ${account.id}: balance ${balance}`,
    `key ${key.prefix} scopes ${key.scopes.join(",")}`,
    `usage rows so far: ${usage.length} (written in batches, they lag a moment)`,
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const line of await main()) console.log(line);
}
