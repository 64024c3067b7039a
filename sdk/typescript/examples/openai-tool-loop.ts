// The OpenAI SDK's tool-call loop with toolwire's catalog as its tools.
//   OPENAI_API_KEY=sk-... TOOLWIRE_API_KEY=tw_... node build/examples/openai-tool-loop.js
// (any OpenAI-compatible endpoint works: set OPENAI_BASE_URL, and OPENAI_MODEL for the model)
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { runOpenAIToolLoop, Toolwire } from "toolwire";

export async function main(tw = new Toolwire(), openai = new OpenAI()): Promise<string> {
  const { message, turns } = await runOpenAIToolLoop(tw, openai, {
    model: process.env.OPENAI_MODEL ?? "gpt-4o-mini",
    messages: [{ role: "user", content: "What is 6 * 7? Use the calculator." }],
  });
  return `${message.content} (after ${turns} model turns)`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await main());
}
