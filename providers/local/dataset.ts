/**
 * Labelled text data from files: CSV (with a header row) or JSON Lines, with chosen text and label
 * columns. Errors name the file and what is wrong with it. Also resolves where the shared evaluation
 * data lives (CONVEYOR_SHARED_DATA, default ../shared/data next to the repository).
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parseCsvRecords, CsvParseError } from './csv';
import { InvalidTrainingDataError } from './errors';
import type { LabelledText } from './classifier';

export interface ColumnNames {
  textColumn: string;
  labelColumn: string;
}

export const repositoryRoot = path.resolve(__dirname, '../..');

/** The folder of public evaluation data shared between projects; never copied into this repository. */
export function resolveSharedDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(repositoryRoot, env.CONVEYOR_SHARED_DATA || '../shared/data');
}

function recordsFromJsonl(text: string, filePath: string): { columns: Set<string>; records: Record<string, unknown>[] } {
  const columns = new Set<string>();
  const records: Record<string, unknown>[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new InvalidTrainingDataError(`${filePath}: line ${index + 1} is not valid JSON`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new InvalidTrainingDataError(`${filePath}: line ${index + 1} is not a JSON object`);
    }
    for (const key of Object.keys(parsed)) columns.add(key);
    records.push(parsed as Record<string, unknown>);
  });
  return { columns, records };
}

function cellText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** Reads labelled examples from a .csv or .jsonl file; rows with an empty text or label are skipped. */
export function loadLabelledFile(filePath: string, columnNames: ColumnNames = { textColumn: 'text', labelColumn: 'label' }): LabelledText[] {
  if (!existsSync(filePath)) throw new InvalidTrainingDataError(`data file not found: ${filePath}`);
  const content = readFileSync(filePath, 'utf8');
  const isJsonl = /\.(jsonl|ndjson)$/i.test(filePath);
  let columns: Set<string>;
  let records: Record<string, unknown>[];
  if (isJsonl) {
    ({ columns, records } = recordsFromJsonl(content, filePath));
  } else {
    try {
      const parsed = parseCsvRecords(content);
      columns = new Set(parsed.columns);
      records = parsed.records;
    } catch (error) {
      if (error instanceof CsvParseError) throw new InvalidTrainingDataError(`${filePath}: ${error.message}`);
      throw error;
    }
  }
  for (const column of [columnNames.textColumn, columnNames.labelColumn]) {
    if (!columns.has(column)) {
      const available = [...columns].map((name) => JSON.stringify(name)).join(', ') || 'none';
      throw new InvalidTrainingDataError(`${filePath}: no column "${column}" (columns: ${available}); choose one with --text-column/--label-column`);
    }
  }
  const examples: LabelledText[] = [];
  for (const record of records) {
    const text = record[columnNames.textColumn];
    const label = record[columnNames.labelColumn];
    if (text === undefined || text === null || label === undefined || label === null) continue;
    const textValue = cellText(text).trim();
    const labelValue = cellText(label).trim();
    if (textValue && labelValue) examples.push({ text: textValue, label: labelValue });
  }
  if (examples.length === 0) throw new InvalidTrainingDataError(`${filePath}: no rows with both a text and a label`);
  return examples;
}
