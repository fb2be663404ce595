// Drives AgentFlow's OpenAI-compatible endpoint with the official openai Node SDK and prints one JSON object of what
// it saw; OpenAISdkTests asserts it. Usage: node sdk-check.mjs http://127.0.0.1:PORT/v1 MODEL
import OpenAI from 'openai';

const [baseURL, model] = process.argv.slice(2);
let requests = 0;
// Every HTTP attempt goes through this fetch, so retries (which the SDK makes on 5xx) are counted.
const client = new OpenAI({
  baseURL,
  apiKey: 'none',
  maxRetries: 2,
  fetch: (url, init) => { requests++; return fetch(url, init); },
});
const messages = [{ role: 'user', content: 'Tell me about tea.' }];
const out = {};

const completion = await client.chat.completions.create({ model, messages, max_tokens: 8, temperature: 0 });
out.create = {
  object: completion.object,
  content: completion.choices[0].message.content,
  role: completion.choices[0].message.role,
  finish_reason: completion.choices[0].finish_reason,
  usage: completion.usage,
};

let deltas = '';
const stream = client.chat.completions.stream({ model, messages, max_tokens: 8, temperature: 0, stream_options: { include_usage: true } });
stream.on('content', (delta) => { deltas += delta; });
const final = await stream.finalChatCompletion();
out.stream = {
  content: final.choices[0].message.content,
  role: final.choices[0].message.role,
  finish_reason: final.choices[0].finish_reason,
  usage: final.usage,
  deltas,
};

const two = await client.chat.completions.create({ model, messages, max_tokens: 4, n: 2, temperature: 1, seed: 5 });
out.n = two.choices.map((c) => c.index);

out.model = await client.models.retrieve(model);

async function failure(call) {
  const before = requests;
  try {
    await call();
    return { thrown: false };
  } catch (e) {
    return { class: e.constructor.name, status: e.status ?? null, type: e.type ?? null, code: e.code ?? null, param: e.param ?? null, requests: requests - before };
  }
}

out.errors = {
  wrongType: await failure(() => client.chat.completions.create({ model, messages: [{ role: 'user', content: 7 }] })),
  zeroTokens: await failure(() => client.chat.completions.create({ model, messages, max_tokens: 0 })),
  streamWrongType: await failure(async () => {
    for await (const _ of await client.chat.completions.create({ model, messages, stream: true, temperature: 'hot' })) { /* drain */ }
  }),
  unknownModel: await failure(() => client.chat.completions.create({ model: 'gpt-9', messages })),
  unknownModelRetrieve: await failure(() => client.models.retrieve('gpt-9')),
  tooLong: await failure(() => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'tea and cake '.repeat(5000) }] })),
};
out.requests = requests;
console.log(JSON.stringify(out));
