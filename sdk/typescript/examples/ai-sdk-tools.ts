// toolwire's catalog as a Vercel AI SDK tool set for generateText / streamText.
//   AI_GATEWAY_API_KEY=... TOOLWIRE_API_KEY=tw_... node build/examples/ai-sdk-tools.js
// (the model is any AI SDK model: a provider instance, or a "provider/model" id; AI_MODEL)
import { fileURLToPath } from "node:url";
import { generateText, jsonSchema, type LanguageModel, stepCountIs } from "ai";
import { aiSdkTools, Toolwire } from "toolwire";

export async function main(
  tw = new Toolwire(),
  model: LanguageModel = process.env.AI_MODEL ?? "openai/gpt-4o-mini",
): Promise<string> {
  const { text, steps } = await generateText({
    model,
    tools: await aiSdkTools(tw, { jsonSchema }),
    prompt: "What is 6 * 7? Use the calculator.",
    stopWhen: stepCountIs(5),
  });
  return `${text} (after ${steps.length} steps)`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await main());
}
