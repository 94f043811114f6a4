// The Vercel AI SDK (ai 6.x) against the local server, unmodified, in the ways apps use it.
//
// Usage: node tests/ai_sdk/ecosystem.mjs --scenario <name> --model <id> [--base-url <url>]
//   seed003-openai      seed 003's continueConversation, three turns, with the default
//                       `openai` provider (the Responses API), configured only by
//                       OPENAI_BASE_URL and OPENAI_API_KEY
//   seed003-compatible  the same with @ai-sdk/openai-compatible (Chat Completions)
//   tools-compatible    a tool the SDK executes, then the answer (two steps)
//   tools-openai        the same over the Responses API, with store: false (tool round trips
//                       are not stored, so the SDK must send the items, not references to them)
//   stream-openai       streamText over the Responses API (its typed events)
//   object-openai       Output.object with a JSON schema, over the Responses API
//   object-compatible   Output.object over Chat Completions
//
// Prints one JSON line on success (exit 0); the error message on stderr otherwise (exit 1).
import { parseArgs } from "node:util";
import { generateText, jsonSchema, Output, stepCountIs, streamText, tool } from "ai";
import { openai } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";

const { values: args } = parseArgs({
  options: {
    scenario: { type: "string" },
    model: { type: "string" },
    "base-url": { type: "string" },
  },
});

function compatibleModel() {
  return createOpenAICompatible({ name: "rag", baseURL: args["base-url"], apiKey: "unused" })(args.model);
}

// Seed 003's server action, as it is written there.
async function continueConversation(model, history) {
  const { text } = await generateText({
    model,
    system: "You are a friendly assistant!",
    messages: history,
  });
  return { messages: [...history, { role: "assistant", content: text }] };
}

async function threeTurns(model) {
  let conversation = [];
  for (const input of ["Tell me about the frame warranty.", "How long is it?", "Does it cover rust?"]) {
    ({ messages: conversation } = await continueConversation(model, [
      ...conversation,
      { role: "user", content: input },
    ]));
  }
  return { messages: conversation };
}

const warrantySchema = jsonSchema({
  type: "object",
  properties: { part: { type: "string" }, years: { type: "integer" } },
  required: ["part", "years"],
  additionalProperties: false,
});

async function withTools(model, providerOptions = undefined) {
  const result = await generateText({
    model,
    providerOptions,
    prompt: "How long is the frame warranty?",
    tools: {
      get_warranty: tool({
        description: "The warranty of a part, in years.",
        inputSchema: jsonSchema({
          type: "object",
          properties: { part: { type: "string" } },
          required: ["part"],
          additionalProperties: false,
        }),
        execute: async ({ part }) => ({ part, years: 10 }),
      }),
    },
    stopWhen: stepCountIs(2),
  });
  const calls = result.steps.flatMap((step) => step.toolCalls.map((c) => ({ name: c.toolName, input: c.input })));
  return { text: result.text, calls, steps: result.steps.length };
}

async function streamed(model) {
  let streamError;
  const result = streamText({
    model,
    system: "You are a friendly assistant!",
    prompt: "How long is the frame warranty?",
    onError: ({ error }) => {
      streamError ??= error;
    },
  });
  let text = "";
  for await (const delta of result.textStream) text += delta;
  if (streamError) throw streamError;
  return { text, finishReason: await result.finishReason, usage: await result.usage };
}

async function asObject(model) {
  const result = await generateText({
    model,
    prompt: "How long is the frame warranty?",
    output: Output.object({ schema: warrantySchema, name: "warranty" }),
  });
  return { output: result.output };
}

const scenarios = {
  "seed003-openai": () => threeTurns(openai(args.model)),
  "seed003-compatible": () => threeTurns(compatibleModel()),
  "tools-compatible": () => withTools(compatibleModel()),
  "tools-openai": () => withTools(openai(args.model), { openai: { store: false } }),
  "stream-openai": () => streamed(openai(args.model)),
  "object-openai": () => asObject(openai(args.model)),
  "object-compatible": () => asObject(compatibleModel()),
};

async function main() {
  const run = scenarios[args.scenario];
  if (!run || !args.model) throw new Error(`--scenario (${Object.keys(scenarios).join(", ")}) and --model are required`);
  return JSON.stringify(await run()) + "\n";
}

// Exit explicitly (after the output is flushed) so that idle keep-alive sockets cannot hold the process open.
main().then(
  (line) => process.stdout.write(line, () => process.exit(0)),
  (error) => process.stderr.write(`${error?.message ?? error}\n`, () => process.exit(1)),
);
