// Plays the "Vercel AI SDK" client of seed 003: the client owns the
// conversation history and sends the whole message list on every turn.
//
// Usage:
//   node tests/ai_sdk/continue_conversation.mjs --base-url <url> --model <id> \
//     --mode generate|stream --questions '<json array of strings>' [--include-usage]
//
// Prints one JSON line {"turns": [...], "messages": [...]} on success (exit 0);
// prints the error message to stderr and exits 1 on any failure.
import { parseArgs } from "node:util";
import { generateText, streamText } from "ai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";

const { values: args } = parseArgs({
  options: {
    "base-url": { type: "string" },
    model: { type: "string" },
    mode: { type: "string", default: "generate" },
    questions: { type: "string" },
    // Off by default, as in the seed: the provider then sends no stream_options.
    "include-usage": { type: "boolean", default: false },
  },
});

// Unmodified client code: a plain OpenAI-compatible provider. No system
// prompt anywhere: the server-side agent owns it.
function makeModel() {
  const provider = createOpenAICompatible({
    name: "rag",
    baseURL: args["base-url"],
    apiKey: "unused",
    ...(args["include-usage"] ? { includeUsage: true } : {}),
  });
  return provider(args.model);
}

// Seed 003's continueConversation: append the user turn, call the model with
// the full history, append the assistant answer.
async function continueConversation(model, history, question, mode) {
  history.push({ role: "user", content: question });
  let text, finishReason, usage;
  if (mode === "generate") {
    const result = await generateText({ model, messages: history });
    ({ text, finishReason, usage } = result);
  } else {
    // streamText does not throw stream errors at the caller; remember them.
    let streamError;
    const result = streamText({
      model,
      messages: history,
      onError: ({ error }) => { streamError ??= error; },
    });
    text = "";
    for await (const delta of result.textStream) text += delta;
    if (streamError) throw streamError;
    finishReason = await result.finishReason;
    usage = await result.usage;
  }
  history.push({ role: "assistant", content: text });
  return { question, text, finishReason, usage };
}

async function main() {
  if (!args["base-url"] || !args.model || !args.questions) {
    throw new Error("--base-url, --model and --questions are required");
  }
  if (!["generate", "stream"].includes(args.mode)) {
    throw new Error(`--mode must be generate or stream, got ${args.mode}`);
  }
  const questions = JSON.parse(args.questions);
  if (!Array.isArray(questions) || !questions.every((q) => typeof q === "string")) {
    throw new Error("--questions must be a JSON array of strings");
  }
  const model = makeModel();
  const history = [];
  const turns = [];
  for (const question of questions) {
    turns.push(await continueConversation(model, history, question, args.mode));
  }
  return JSON.stringify({ turns, messages: history }) + "\n";
}

// Exit explicitly (after the output is flushed) so that idle keep-alive
// sockets cannot hold the process open.
main().then(
  (line) => process.stdout.write(line, () => process.exit(0)),
  (error) => process.stderr.write(`${error?.message ?? error}\n`, () => process.exit(1)),
);
