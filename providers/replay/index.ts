/**
 * Replays recorded outcomes instead of calling a model: RouteLLM-style CSVs hold, per question, whether a
 * weak and a strong model answered correctly (columns: prompt, <weak model>, <strong model>, and
 * optionally <model>_response). A replay model names its CSV file(s) and the column it stands for, so a
 * routing policy can be evaluated on real outcomes at no cost. It answers only what was recorded: an
 * unknown prompt is a bad request, not a guess.
 *
 * Model options: `csv` (a path or a list of paths, relative to the shared data directory) and `column`
 * (the model column, default `providerModel`). Request input: `{ prompt }`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ModelBadRequestError, ProviderNotConfiguredError } from '../errors';
import { countTokens } from '../local';
import { resolveSharedDataDir } from '../local/dataset';
import type { ModelProvider } from '../port';
import { parseCsv } from '../local/csv';

export const replayInputSchema = z.object({ prompt: z.string() });
export const replayOutputSchema = z.object({ correct: z.boolean(), response: z.string().optional() });
export type ReplayOutput = z.infer<typeof replayOutputSchema>;

export const replayOptionsSchema = z.object({
  csv: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  column: z.string().min(1).optional(),
});

export interface ReplayProviderSettings {
  /** Base for relative CSV paths; default CONVEYOR_SHARED_DATA, else ../shared/data, from the repository root. */
  dataDir?: string;
}


interface RecordedAnswer {
  correct: boolean;
  response?: string;
}

function loadRecordings(files: string[], column: string): Map<string, RecordedAnswer> {
  const answers = new Map<string, RecordedAnswer>();
  for (const file of files) {
    if (!fs.existsSync(file)) throw new ProviderNotConfiguredError(`replay: recorded outcomes ${file} not found (set CONVEYOR_SHARED_DATA or options.csv)`);
    const [header, ...rows] = parseCsv(fs.readFileSync(file, 'utf8'));
    const promptIndex = header?.indexOf('prompt') ?? -1;
    const correctIndex = header?.indexOf(column) ?? -1;
    if (!header || promptIndex < 0 || correctIndex < 0) {
      throw new ProviderNotConfiguredError(`replay: ${file} has no "prompt" and "${column}" columns (it has ${header?.join(', ') ?? 'none'})`);
    }
    const responseIndex = header.indexOf(`${column}_response`);
    for (const row of rows) {
      const prompt = row[promptIndex];
      const correct = row[correctIndex];
      if (prompt === undefined || (correct !== 'True' && correct !== 'False')) continue;
      const response = responseIndex >= 0 ? row[responseIndex] : undefined;
      answers.set(prompt, { correct: correct === 'True', ...(response !== undefined ? { response } : {}) });
    }
  }
  return answers;
}

export function createReplayProvider(settings: ReplayProviderSettings = {}): ModelProvider {
  const dataDir = path.resolve(settings.dataDir ?? resolveSharedDataDir());
  const recordings = new Map<string, Map<string, RecordedAnswer>>();

  return {
    kind: 'replay',
    generate(request) {
      const { model, signal } = request;
      if (signal?.aborted) return Promise.reject(signal.reason as Error);
      const options = replayOptionsSchema.safeParse(model.options);
      if (!options.success) {
        return Promise.reject(new ProviderNotConfiguredError(`${model.id}: replay models need options.csv (path or list of paths) and optionally options.column`, model.id));
      }
      const column = options.data.column ?? model.providerModel;
      const files = [options.data.csv].flat().map((file) => path.resolve(dataDir, file));
      const recordingKey = `${column}\u0000${files.join('\u0000')}`;
      let answers = recordings.get(recordingKey);
      if (!answers) {
        try {
          answers = loadRecordings(files, column);
        } catch (error) {
          return Promise.reject(error instanceof Error ? error : new Error(String(error)));
        }
        recordings.set(recordingKey, answers);
      }
      const input = replayInputSchema.safeParse(request.input);
      if (!input.success) return Promise.reject(new ModelBadRequestError(`${model.id}: replay input must be { prompt: string }`, model.id));
      const recorded = answers.get(input.data.prompt);
      if (!recorded) {
        return Promise.reject(new ModelBadRequestError(`${model.id}: no recorded outcome for this prompt in ${files.join(', ')}`, model.id));
      }
      const output: ReplayOutput = recorded;
      // Usage as the recorded model would have spent it: the question in, its recorded answer out.
      const usage = { inputTokens: countTokens(input.data.prompt), outputTokens: countTokens(recorded.response ?? '') };
      return Promise.resolve({ json: output, text: JSON.stringify(output), usage, modelVersion: `replay:${column}` });
    },
  };
}
