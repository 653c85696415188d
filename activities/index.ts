/**
 * Conveyor's activities: every piece of I/O the workflows need — the model catalogue, model calls
 * through the model layer, the model planner, the action sink and batch files. Built from their
 * dependencies so the worker (and tests) decide which gateway and outbox they use.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import fs from 'node:fs';
import readline from 'node:readline';
import { jobRequestSchema, type JobRequest } from '../domain/job';
import { jobTypeByName } from '../domain/job-types';
import type { ModelSpec } from '../domain/models';
import { planSchema } from '../domain/plan';
import { modelStation, stationCatalogue } from '../domain/stations';
import type { ScreeningResult } from '../domain/screening';
import { ClaimCheckError, verifyClaim } from '../platform/claims';
import { toApplicationFailure } from '../providers/errors';
import { defaultScreener } from '../providers/local/screening';
import type { ModelGateway } from '../providers/gateway-types';
import { runScheduledEvaluation } from './evaluation';
import type { Outbox } from './outbox';
import type { ActionReceipt, ActionRequest, ModelCallRequest, ModelCallResult, PlanRequest, PlanResult } from './types';

export interface ActivityDependencies {
  gateway: ModelGateway;
  outbox: Outbox;
}

export function createActivities({ gateway, outbox }: ActivityDependencies) {
  return {
    runScheduledEvaluation,

    async loadModelCatalog(): Promise<ModelSpec[]> {
      return gateway.models();
    },

    async callModel(request: ModelCallRequest): Promise<ModelCallResult> {
      const station = modelStation(request.station);
      const prompt = station.prompt(request.input);
      const context = Context.current();
      try {
        const outcome = await gateway.call({
          modelId: request.modelId,
          station: station.name,
          skill: station.skill,
          input: request.input,
          system: prompt.system,
          prompt: prompt.user,
          schema: station.output,
          signal: context.cancellationSignal,
          heartbeat: (details) => context.heartbeat(details),
        });
        return {
          output: outcome.output,
          confidence: outcome.confidence,
          usage: outcome.usage,
          costUsd: outcome.costUsd,
          latencyMs: outcome.latencyMs,
          cacheHit: outcome.cacheHit,
          repaired: outcome.repaired,
          modelId: outcome.modelId,
          modelVersion: outcome.modelVersion,
        };
      } catch (error) {
        throw toApplicationFailure(error);
      }
    },

    /** Screens the job's text for prompt injection (patterns plus the local classifier). */
    async screenInput(request: { jobId: string; text: string }): Promise<ScreeningResult> {
      return defaultScreener().screen(request.text);
    },

    async planWithModel(request: PlanRequest): Promise<PlanResult> {
      const jobType = jobTypeByName(request.jobType);
      const system =
        'You are the planner of an AI factory. Write a plan as JSON {"steps": [{"id", "station", "inputs": {field: wire}, "when"?}]} ' +
        'using only these stations (name: description; inputs):\n' +
        stationCatalogue.map((s) => `- ${s.name}: ${s.description}; inputs ${s.inputFields.join(', ')}`).join('\n') +
        '\nA wire is "$job.<field>" (the job input) or "$steps.<stepId>.<field>" (an earlier step\'s output).';
      const prompt = [
        `Job type: ${jobType.name} (${jobType.description})`,
        `Job input: ${JSON.stringify(request.input)}`,
        request.repairHint ? `Your previous plan was invalid: ${request.repairHint}. Fix exactly these problems.` : '',
      ]
        .filter(Boolean)
        .join('\n');
      try {
        const outcome = await gateway.call({
          modelId: request.modelId,
          station: 'plan',
          skill: 'plan',
          input: { jobType: jobType.name, input: request.input },
          system,
          prompt,
          schema: planSchema,
          signal: Context.current().cancellationSignal,
        });
        return { plan: outcome.output, costUsd: outcome.costUsd, modelId: outcome.modelId };
      } catch (error) {
        throw toApplicationFailure(error);
      }
    },

    async executeAction(request: ActionRequest): Promise<ActionReceipt> {
      const idempotencyKey = `${request.jobId}:${request.stepId}`;
      const receipt = outbox.execute({ idempotencyKey, jobId: request.jobId, stepId: request.stepId, action: request.action, approvedBy: request.approvedBy });
      return { idempotencyKey, ...receipt };
    },

    async countBatchJobs(file: string, sha256?: string): Promise<number> {
      if (sha256) {
        try {
          verifyClaim({ file, sha256 });
        } catch (error) {
          if (error instanceof ClaimCheckError) throw ApplicationFailure.nonRetryable(error.message, error.name);
          throw error;
        }
      }
      let count = 0;
      for await (const line of readLines(file)) if (line.trim()) count++;
      return count;
    },

    async readBatchJobs(file: string, offset: number, limit: number): Promise<JobRequest[]> {
      const jobs: JobRequest[] = [];
      let index = 0;
      let lineNumber = 0;
      for await (const line of readLines(file)) {
        lineNumber++;
        if (!line.trim()) continue;
        if (index++ < offset) continue;
        if (jobs.length >= limit) break;
        const parsed = jobRequestSchema.safeParse(safeJson(line));
        if (!parsed.success) {
          throw ApplicationFailure.nonRetryable(`${file}:${lineNumber}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, 'InvalidJobInputError');
        }
        jobs.push(parsed.data);
      }
      return jobs;
    },
  };
}

function readLines(file: string): AsyncIterable<string> {
  if (!fs.existsSync(file)) throw ApplicationFailure.nonRetryable(`batch file ${file} does not exist on the worker`, 'BatchFileNotFoundError');
  return readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return undefined;
  }
}
