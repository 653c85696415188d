/**
 * Reads a jobs JSONL file: each line `{"id", "type", "input", ...}`. Invalid lines are reported with
 * their line number and reason; valid lines still run.
 */
import fs from 'node:fs';
import { InvalidJobInputError, type JobRequest } from '../domain/job';
import { validateFactoryJob, type Factory } from '../factory';
import { supportFactory } from '../factories/support';

/**
 * What a jobs-file line may not say although a job request can: its batch (the batch workflow sets it on
 * its children) and thresholds for stations that do not exist (a typo would silently do nothing).
 */
function lineProblem(job: JobRequest, factory: Factory): string | undefined {
  if (job.batchId !== undefined) return 'batchId is set by the batch a job runs in; a jobs-file line may not set it';
  const stations = [...factory.stations.keys()];
  const unknown = Object.keys(job.policy?.confidenceThresholds ?? {}).filter((name) => !stations.includes(name));
  if (unknown.length) return `policy.confidenceThresholds names no station: ${unknown.join(', ')} (stations: ${stations.join(', ')})`;
  return undefined;
}

export interface JobsFileProblem {
  line: number;
  reason: string;
}

/** The jobs file cannot be read at all (missing, a directory, unreadable). */
export class JobsFileError extends Error {
  override readonly name = 'JobsFileError';
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message;
    throw new JobsFileError(`cannot read jobs file "${file}": ${why}`);
  }
}

/** `defaults.type` is the job type of lines that name none (`conveyor run --type T`); lines are checked against `factory`. */
export function readJobsFile(file: string, defaults: { type?: string } = {}, factory: Factory = supportFactory): { jobs: JobRequest[]; problems: JobsFileProblem[] } {
  const jobs: JobRequest[] = [];
  const problems: JobsFileProblem[] = [];
  const seen = new Set<string>();
  readText(file)
    .split('\n')
    .forEach((text, index) => {
      const line = index + 1;
      if (!text.trim()) return;
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (error) {
        problems.push({ line, reason: `malformed JSON: ${(error as Error).message}` });
        return;
      }
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        problems.push({ line, reason: 'expected a JSON object {"id", "type", "input"}' });
        return;
      }
      const withType = defaults.type && !('type' in raw) ? { ...raw, type: defaults.type } : raw;
      try {
        const job = validateFactoryJob(factory, withType);
        const problem = lineProblem(job, factory);
        if (problem) {
          problems.push({ line, reason: problem });
          return;
        }
        if (seen.has(job.id)) {
          problems.push({ line, reason: `duplicate job id "${job.id}" in this file` });
          return;
        }
        seen.add(job.id);
        jobs.push(job);
      } catch (error) {
        if (error instanceof InvalidJobInputError) problems.push({ line, reason: error.message.replace(/^Invalid job: /, '') });
        else throw error;
      }
    });
  return { jobs, problems };
}
