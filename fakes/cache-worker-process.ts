/**
 * A stand-in worker process for the shared-cache test: one gateway with a shared cache (Redis or
 * PostgreSQL) makes one call to the fake OpenAI server and prints the outcome as JSON. Two of these, one
 * after the other, show that separate processes share answers through that store.
 * Environment: FAKE_OPENAI_URL, and CONVEYOR_CACHE_REDIS_URL or CONVEYOR_DATABASE_URL.
 */
import { modelSpecSchema } from '../domain/models';
import { classifyIntentOutputSchema } from '../factories/support/schemas';
import { createModelGateway } from '../providers/gateway';
import { createRegistry } from '../providers/registry';

async function main() {
  const baseUrl = process.env.FAKE_OPENAI_URL;
  if (!baseUrl || !(process.env.CONVEYOR_CACHE_REDIS_URL || process.env.CONVEYOR_DATABASE_URL)) throw new Error('set FAKE_OPENAI_URL, and CONVEYOR_CACHE_REDIS_URL or CONVEYOR_DATABASE_URL');
  const model = modelSpecSchema.parse({
    id: 'openai-small',
    provider: 'openai-compatible',
    providerModel: 'gpt-4o-mini',
    tier: 'small',
    inputPricePerMTokUsd: 0.15,
    outputPricePerMTokUsd: 0.6,
    contextWindow: 128_000,
    structuredOutput: true,
    options: { baseUrl },
  });
  const gateway = createModelGateway({ registry: createRegistry([model]) });
  try {
    const outcome = await gateway.call({
      modelId: model.id,
      station: 'classify-intent',
      input: { text: 'Where is my parcel?' },
      system: 'Classify the support ticket.',
      prompt: 'Ticket: Where is my parcel?',
      schema: classifyIntentOutputSchema,
    });
    process.stdout.write(`${JSON.stringify({ outcome, stats: gateway.cacheStats() })}\n`);
  } finally {
    await gateway.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
