// Drives AgentFlow's OpenAI-compatible endpoint with the official openai Node SDK and prints one JSON object of what
// it saw; OpenAISdkTests asserts it. Usage: node sdk-check.mjs http://127.0.0.1:PORT/v1 MODEL [EMBEDDING_MODEL]
import OpenAI from 'openai';

const [baseURL, model, embeddingModel] = process.argv.slice(2);
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

// Tools: a forced call, as a plain completion and through the stream helper (which joins delta.tool_calls by index).
const tools = [{
  type: 'function',
  function: {
    name: 'lookup_order',
    description: 'Look up an order by its id.',
    parameters: { type: 'object', properties: { order_id: { type: 'string', pattern: '^[A-Z0-9-]{1,20}$' } }, required: ['order_id'] },
  },
}];
const toolRequest = {
  model,
  messages: [{ role: 'user', content: 'Where is my order ORD-77?' }],
  tools,
  tool_choice: { type: 'function', function: { name: 'lookup_order' } },
  max_tokens: 96,
  temperature: 0,
};
const called = await client.chat.completions.create(toolRequest);
out.tools = {
  finish_reason: called.choices[0].finish_reason,
  content: called.choices[0].message.content,
  tool_calls: called.choices[0].message.tool_calls,
};
const toolStream = client.chat.completions.stream(toolRequest);
const toolFinal = await toolStream.finalChatCompletion();
out.toolStream = {
  finish_reason: toolFinal.choices[0].finish_reason,
  tool_calls: toolFinal.choices[0].message.tool_calls,
};

// The call and its result sent back: the SDK's own message types are accepted as input.
const roundTrip = await client.chat.completions.create({
  model,
  messages: [
    ...toolRequest.messages,
    called.choices[0].message,
    { role: 'tool', tool_call_id: called.choices[0].message.tool_calls[0].id, content: '{"status":"shipped"}' },
  ],
  tools,
  max_tokens: 8,
});
out.roundTrip = { object: roundTrip.object, finish_reason: roundTrip.choices[0].finish_reason };

if (embeddingModel) {
  const one = await client.embeddings.create({ model: embeddingModel, input: 'How do I brew green tea?' });
  const two = await client.embeddings.create({ model: embeddingModel, input: ['How do I brew green tea?', 'Refunds are paid within 14 days.'], encoding_format: 'float' });
  out.embeddings = {
    object: one.object,
    model: one.model,
    length: one.data[0].embedding.length,
    first: one.data[0].embedding.slice(0, 4),
    usage: one.usage,
    indexes: two.data.map((d) => d.index),
    // one came as base64 (the SDK's default, decoded by it), two as JSON numbers: the same float32 values.
    maxDifference: Math.max(...two.data[0].embedding.map((v, i) => Math.abs(v - one.data[0].embedding[i]))),
  };
}

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
  badToolChoice: await failure(() => client.chat.completions.create({ model, messages, tools, tool_choice: { type: 'function', function: { name: 'nope' } } })),
  badDimensions: await failure(() => client.embeddings.create({ model: embeddingModel ?? model, input: 'tea', dimensions: 7 })),
  tooLong: await failure(() => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'tea and cake '.repeat(5000) }] })),
};
out.requests = requests;
console.log(JSON.stringify(out));
