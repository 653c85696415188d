/**
 * What the weak and the strong model did on each recorded question, asked of the replay provider
 * (providers/replay), and what each call cost at RouteLLM's prices: $0.24 (Mixtral-8x7B) and $24.7
 * (GPT-4) per million tokens, input and output alike. Token counts are estimates: the replay
 * provider's usage, i.e. the repository's token count of the prompt in and of the recorded response
 * out (MMLU records no responses, so its calls count prompt tokens only; the one-letter answer is left out).
 */
import { costUsd, modelSpecSchema, type ModelSpec, type Usage } from '../../domain/models';
import { createReplayProvider, replayOutputSchema } from '../../providers/replay';
import { strongModelColumn, weakModelColumn, type RecordedBenchmark, type RecordedQuestion } from './recorded-questions';

export const routellmPricesPerMTokUsd = { weak: 0.24, strong: 24.7 } as const;

export type ModelRole = 'weak' | 'strong';

export interface ReplayedCall {
  correct: boolean;
  usage: Usage;
  costUsd: number;
}

export interface ReplayedQuestion extends RecordedQuestion {
  weak: ReplayedCall;
  strong: ReplayedCall;
}

export function routellmReplayModel(role: ModelRole, csvFiles: string[]): ModelSpec {
  const price = routellmPricesPerMTokUsd[role];
  return modelSpecSchema.parse({
    id: `routellm-${role}`,
    provider: 'replay',
    providerModel: role === 'weak' ? weakModelColumn : strongModelColumn,
    tier: role === 'weak' ? 'small' : 'large',
    description: `RouteLLM recorded outcomes of ${role === 'weak' ? weakModelColumn : strongModelColumn}`,
    inputPricePerMTokUsd: price,
    outputPricePerMTokUsd: price,
    contextWindow: 128_000,
    structuredOutput: true,
    options: { csv: csvFiles },
  });
}

/** Replays every question on both models; the data folder is the one the CSV paths are relative to. */
export async function replayOutcomes(recorded: RecordedBenchmark, dataDir: string): Promise<ReplayedQuestion[]> {
  const provider = createReplayProvider({ dataDir });
  const models = { weak: routellmReplayModel('weak', recorded.csvFiles), strong: routellmReplayModel('strong', recorded.csvFiles) };
  const replayCall = async (model: ModelSpec, prompt: string): Promise<ReplayedCall> => {
    const response = await provider.generate({ model, input: { prompt }, system: '', prompt, jsonSchema: {}, schemaName: 'replay', temperature: 0 });
    const usage = response.usage ?? { inputTokens: 0, outputTokens: 0 };
    return { correct: replayOutputSchema.parse(response.json).correct, usage, costUsd: costUsd(model, usage) };
  };
  const replayed: ReplayedQuestion[] = [];
  for (const question of recorded.questions) {
    replayed.push({ ...question, weak: await replayCall(models.weak, question.prompt), strong: await replayCall(models.strong, question.prompt) });
  }
  return replayed;
}
