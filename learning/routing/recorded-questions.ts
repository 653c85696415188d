/**
 * The questions of a RouteLLM recording (MMLU: one CSV per subject; GSM8K: one CSV), read with the
 * repository's RFC 4180 parser, minus the prompts RouteLLM lists as contaminated (they overlap its
 * router training data). Only the question side is read here; what each model answered is asked of the
 * replay provider (replayed-outcomes.ts), so the evaluation sees exactly what a replayed run would see.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseCsvRecords } from '../../providers/local/csv';

export const weakModelColumn = 'mistralai/Mixtral-8x7B-Instruct-v0.1';
export const strongModelColumn = 'gpt-4-1106-preview';

export const benchmarkNames = ['mmlu', 'gsm8k'] as const;
export type BenchmarkName = (typeof benchmarkNames)[number];

export interface RecordedQuestion {
  prompt: string;
  /** MMLU subject (from the file name); undefined for GSM8K. */
  subject?: string;
}

export interface RecordedBenchmark {
  benchmark: BenchmarkName;
  /** CSV files relative to the shared data folder, in the order they were read. */
  csvFiles: string[];
  questions: RecordedQuestion[];
  rowsRead: number;
  contaminatedListed: number;
  contaminatedRowsExcluded: number;
  /** Prompt texts that occur on more than one row (kept: they are separate recorded rows). */
  duplicatedPrompts: number;
  /** Duplicated prompts whose rows record different outcomes; a replay answers one of them for all. */
  conflictingDuplicatedPrompts: number;
}

export class RecordedBenchmarkError extends Error {
  override readonly name = 'RecordedBenchmarkError';
}

const contaminatedLineSchema = z.object({ eval_prompt: z.string() });

function csvFilesOf(benchmark: BenchmarkName, dataDir: string): string[] {
  const folder = path.join('routellm', benchmark);
  if (!existsSync(path.join(dataDir, folder))) {
    throw new RecordedBenchmarkError(`${path.join(dataDir, folder)} not found: set CONVEYOR_SHARED_DATA to the folder holding routellm/`);
  }
  if (benchmark === 'gsm8k') return [path.join(folder, 'gsm8k_responses.csv')];
  return readdirSync(path.join(dataDir, folder))
    .filter((name) => /^mmlu_.+\.csv$/.test(name))
    .sort()
    .map((name) => path.join(folder, name));
}

function contaminatedPromptsOf(benchmark: BenchmarkName, dataDir: string): Set<string> {
  const file = path.join(dataDir, 'routellm', benchmark, 'contaminated_prompts.jsonl');
  if (!existsSync(file)) throw new RecordedBenchmarkError(`${file} not found: the contaminated prompts must be left out`);
  const lines = readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '');
  return new Set(lines.map((line) => contaminatedLineSchema.parse(JSON.parse(line)).eval_prompt));
}

function parseRecordedBoolean(value: string | undefined, where: string): boolean {
  if (value === 'True') return true;
  if (value === 'False') return false;
  throw new RecordedBenchmarkError(`${where}: expected True or False, found ${JSON.stringify(value)}`);
}

export function loadRecordedBenchmark(benchmark: BenchmarkName, dataDir: string): RecordedBenchmark {
  const contaminated = contaminatedPromptsOf(benchmark, dataDir);
  const csvFiles = csvFilesOf(benchmark, dataDir);
  const questions: RecordedQuestion[] = [];
  const outcomesByPrompt = new Map<string, Set<string>>();
  let rowsRead = 0;
  let contaminatedRowsExcluded = 0;
  for (const csvFile of csvFiles) {
    const { columns, records } = parseCsvRecords(readFileSync(path.join(dataDir, csvFile), 'utf8'));
    for (const column of ['prompt', weakModelColumn, strongModelColumn]) {
      if (!columns.includes(column)) throw new RecordedBenchmarkError(`${csvFile}: no column "${column}" (columns: ${columns.join(', ')})`);
    }
    const subject = benchmark === 'mmlu' ? path.basename(csvFile, '.csv').replace(/^mmlu_/, '') : undefined;
    records.forEach((record, index) => {
      rowsRead++;
      const prompt = record.prompt as string;
      const where = `${csvFile} record ${index + 1}`;
      const outcome = `${parseRecordedBoolean(record[weakModelColumn], where)}/${parseRecordedBoolean(record[strongModelColumn], where)}`;
      if (contaminated.has(prompt)) {
        contaminatedRowsExcluded++;
        return;
      }
      outcomesByPrompt.set(prompt, (outcomesByPrompt.get(prompt) ?? new Set()).add(outcome));
      questions.push(subject === undefined ? { prompt } : { prompt, subject });
    });
  }
  const promptCounts = new Map<string, number>();
  for (const question of questions) promptCounts.set(question.prompt, (promptCounts.get(question.prompt) ?? 0) + 1);
  return {
    benchmark,
    csvFiles,
    questions,
    rowsRead,
    contaminatedListed: contaminated.size,
    contaminatedRowsExcluded,
    duplicatedPrompts: [...promptCounts.values()].filter((count) => count > 1).length,
    conflictingDuplicatedPrompts: [...outcomesByPrompt.values()].filter((outcomes) => outcomes.size > 1).length,
  };
}
