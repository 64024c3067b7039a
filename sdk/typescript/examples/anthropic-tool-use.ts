// Answer an Anthropic Messages API response's tool_use blocks with toolwire.
//   TOOLWIRE_API_KEY=tw_... node build/examples/anthropic-tool-use.js
// With @anthropic-ai/sdk: tools = await tw.tools({ format: "anthropic" }); pass them to
// messages.create, then send `results` back as the next user message's content.
import { fileURLToPath } from "node:url";
import { Toolwire } from "toolwire";

export async function main(tw = new Toolwire()): Promise<string> {
  const response = {
    role: "assistant",
    content: [
      { type: "text", text: "Let me calculate that." },
      { type: "tool_use", id: "toolu_01", name: "calc__evaluate", input: { expression: "6 * 7" } },
    ],
  };
  const results = await tw.runAnthropicToolUses(response);
  const next = { role: "user", content: results };
  return JSON.stringify(next);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await main());
}
