/**
 * The model registry: which concrete models serve each tier, at what price and under which limits. It is
 * read from conveyor.models.json (or CONVEYOR_MODELS_FILE), validated entry by entry, and then extended
 * from the environment: OPENAI_BASE_URL and ANTHROPIC_API_KEY add remote models that take over their
 * tiers from the local models, so the same demo runs on real endpoints with no code change. Specs hold
 * the *names* of key variables, never keys, because specs travel into workflow histories and ledgers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { modelSpecSchema, tiers, type ModelSpec, type Tier } from '../domain/models';
import { UnknownModelError } from './errors';

export const defaultRegistryFile = path.resolve(__dirname, '..', 'conveyor.models.json');

export interface ModelRegistry {
  readonly models: ModelSpec[];
  /** Throws UnknownModelError (non-retryable) for an id the registry does not list. */
  byId(id: string): ModelSpec;
  /** The tier's primary model: the first one listed at that tier (env-added models come first). */
  byTier(tier: Tier): ModelSpec;
}

export class InvalidRegistryError extends Error {
  override readonly name = 'InvalidRegistryError';
}

const registryFileSchema = z.object({
  description: z.string().optional(),
  models: z.array(z.unknown()).min(1, 'expected at least one model'),
});

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_value') return `expected one of ${issue.values.map(String).join('|')}`;
  if (issue.code === 'invalid_type') return `expected ${issue.expected}`;
  return issue.message;
}

function formatPath(prefix: string, issuePath: ReadonlyArray<PropertyKey>): string {
  return issuePath.reduce<string>(
    (text, key) => (typeof key === 'number' ? `${text}[${key}]` : `${text}.${String(key)}`),
    prefix,
  );
}

/** Validates raw entries; errors name each bad field by its path, e.g. `models[2].tier: expected one of small|medium|large`. */
export function createRegistry(entries: ReadonlyArray<unknown>, source = 'registry'): ModelRegistry {
  const problems: string[] = [];
  const models: ModelSpec[] = [];
  entries.forEach((entry, index) => {
    const parsed = modelSpecSchema.safeParse(entry);
    if (parsed.success) models.push(parsed.data);
    else problems.push(...parsed.error.issues.map((issue) => `${formatPath(`models[${index}]`, issue.path)}: ${describeIssue(issue)}`));
  });
  const seen = new Map<string, number>();
  models.forEach((model, index) => {
    const first = seen.get(model.id);
    if (first !== undefined) problems.push(`models[${index}].id: duplicate id "${model.id}" (also models[${first}])`);
    else seen.set(model.id, index);
  });
  if (problems.length > 0) throw new InvalidRegistryError(`Invalid model registry ${source} — ${problems.join('; ')}`);
  return registryOf(models);
}

function registryOf(models: ModelSpec[]): ModelRegistry {
  const byIdMap = new Map(models.map((model) => [model.id, model]));
  return {
    models,
    byId(id) {
      const model = byIdMap.get(id);
      if (!model) throw new UnknownModelError(`Unknown model "${id}"; the registry lists ${[...byIdMap.keys()].join(', ')}`, id);
      return model;
    },
    byTier(tier) {
      const model = models.find((candidate) => candidate.tier === tier);
      if (!model) throw new UnknownModelError(`No model serves tier "${tier}"; add one to the registry`);
      return model;
    },
  };
}

// ---- models added from the environment ------------------------------------------------------------

interface KnownModel {
  input: number;
  output: number;
  contextWindow: number;
}

/** List prices (USD per 1M tokens) of common models, so env-added models cost what they really cost. */
const knownPrices: Record<string, KnownModel> = {
  'gpt-4o-mini': { input: 0.15, output: 0.6, contextWindow: 128_000 },
  'gpt-4o': { input: 2.5, output: 10, contextWindow: 128_000 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4, contextWindow: 1_047_576 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6, contextWindow: 1_047_576 },
  'gpt-4.1': { input: 2, output: 8, contextWindow: 1_047_576 },
  'claude-haiku-4-5': { input: 1, output: 5, contextWindow: 200_000 },
  'claude-sonnet-4-5': { input: 3, output: 15, contextWindow: 200_000 },
  'claude-opus-4-5': { input: 5, output: 25, contextWindow: 200_000 },
};

export const defaultOpenAIModels = 'small=gpt-4o-mini,medium=gpt-4o-mini,large=gpt-4o';
export const defaultAnthropicModels = 'small=claude-haiku-4-5,medium=claude-sonnet-4-5,large=claude-opus-4-5';

interface TierAssignment {
  tier: Tier;
  providerModel: string;
  price?: { input: number; output: number };
}

/** Parses `small=gpt-4o-mini,large=gpt-4o@2.5/10` (an optional `@input/output` USD per 1M tokens). */
export function parseTierAssignments(text: string, variable: string): TierAssignment[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const match = /^(\w+)=([^@\s]+)(?:@([\d.]+)\/([\d.]+))?$/.exec(part);
      const tier = tierSchemaLike(match?.[1]);
      if (!match || !tier || !match[2]) {
        throw new InvalidRegistryError(
          `${variable}: "${part}" is not tier=model[@inputPrice/outputPrice] with tier one of ${tiers.join('|')}, e.g. small=gpt-4o-mini,large=gpt-4o`,
        );
      }
      const price = match[3] && match[4] ? { input: Number(match[3]), output: Number(match[4]) } : undefined;
      return { tier, providerModel: match[2], price };
    });
}

function tierSchemaLike(value: string | undefined): Tier | undefined {
  return tiers.find((tier) => tier === value);
}

function positiveNumber(env: NodeJS.ProcessEnv, variable: string): number | undefined {
  const raw = env[variable];
  if (!raw) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new InvalidRegistryError(`${variable}: expected a positive number, got "${raw}"`);
  return value;
}

interface RemoteFamily {
  provider: 'openai-compatible' | 'anthropic';
  idPrefix: string;
  label: string;
  assignments: TierAssignment[];
  options: Record<string, unknown>;
  structuredOutput: boolean;
  defaultContextWindow: number;
  rateLimit: { requestsPerMinute?: number; tokensPerMinute?: number };
}

function remoteModels(family: RemoteFamily, fallbackPrice: (tier: Tier) => KnownModel): ModelSpec[] {
  return family.assignments.map(({ tier, providerModel, price }) => {
    const known = knownPrices[providerModel];
    const chosen = price ?? known ?? fallbackPrice(tier);
    const priceNote = price ? 'prices from the environment' : known ? 'list prices' : 'unknown model: priced like the local model of its tier, set name@input/output to correct';
    return modelSpecSchema.parse({
      id: `${family.idPrefix}-${tier}`,
      provider: family.provider,
      providerModel,
      tier,
      description: `${providerModel} via ${family.label} (${priceNote}).`,
      inputPricePerMTokUsd: chosen.input,
      outputPricePerMTokUsd: chosen.output,
      contextWindow: known?.contextWindow ?? family.defaultContextWindow,
      structuredOutput: family.structuredOutput,
      rateLimit: family.rateLimit,
      timeoutMs: 120_000,
      options: family.options,
    });
  });
}

function environmentModels(env: NodeJS.ProcessEnv, fileModels: ModelSpec[]): ModelSpec[] {
  const fallbackPrice = (tier: Tier): KnownModel => {
    const local = fileModels.find((model) => model.tier === tier);
    return { input: local?.inputPricePerMTokUsd ?? 0, output: local?.outputPricePerMTokUsd ?? 0, contextWindow: 128_000 };
  };
  const added: ModelSpec[] = [];
  if (env.OPENAI_BASE_URL) {
    added.push(
      ...remoteModels(
        {
          provider: 'openai-compatible',
          idPrefix: 'openai',
          label: 'the OpenAI-compatible endpoint',
          assignments: parseTierAssignments(env.CONVEYOR_OPENAI_MODELS || defaultOpenAIModels, 'CONVEYOR_OPENAI_MODELS'),
          options: { baseUrl: env.OPENAI_BASE_URL, apiKeyEnv: 'OPENAI_API_KEY' },
          structuredOutput: env.CONVEYOR_OPENAI_STRUCTURED_OUTPUT !== 'false',
          defaultContextWindow: 128_000,
          rateLimit: {
            requestsPerMinute: positiveNumber(env, 'CONVEYOR_OPENAI_RPM'),
            tokensPerMinute: positiveNumber(env, 'CONVEYOR_OPENAI_TPM'),
          },
        },
        fallbackPrice,
      ),
    );
  }
  if (env.ANTHROPIC_API_KEY) {
    added.push(
      ...remoteModels(
        {
          provider: 'anthropic',
          idPrefix: 'anthropic',
          label: 'Anthropic',
          assignments: parseTierAssignments(env.CONVEYOR_ANTHROPIC_MODELS || defaultAnthropicModels, 'CONVEYOR_ANTHROPIC_MODELS'),
          options: { ...(env.ANTHROPIC_BASE_URL ? { baseUrl: env.ANTHROPIC_BASE_URL } : {}), apiKeyEnv: 'ANTHROPIC_API_KEY' },
          structuredOutput: true,
          defaultContextWindow: 200_000,
          rateLimit: {
            requestsPerMinute: positiveNumber(env, 'CONVEYOR_ANTHROPIC_RPM'),
            tokensPerMinute: positiveNumber(env, 'CONVEYOR_ANTHROPIC_TPM'),
          },
        },
        fallbackPrice,
      ),
    );
  }
  return added;
}

/**
 * Loads the registry file (CONVEYOR_MODELS_FILE or the repository's conveyor.models.json) and applies the
 * environment: remote models are listed first and the local models of the tiers they serve are dropped.
 */
export function loadRegistry(env: NodeJS.ProcessEnv = process.env): ModelRegistry {
  const file = path.resolve(env.CONVEYOR_MODELS_FILE || defaultRegistryFile);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new InvalidRegistryError(`Cannot read the model registry ${file} (CONVEYOR_MODELS_FILE): ${reason}`);
  }
  const shape = registryFileSchema.safeParse(raw);
  if (!shape.success) {
    const problems = shape.error.issues.map((issue) => `${formatPath('', issue.path).replace(/^\./, '') || '(file)'}: ${describeIssue(issue)}`);
    throw new InvalidRegistryError(`Invalid model registry ${file} — ${problems.join('; ')}; expected {"models": [ ... ]}`);
  }
  const fileModels = createRegistry(shape.data.models, file).models;
  const added = environmentModels(env, fileModels);
  const takenTiers = new Set(added.map((model) => model.tier));
  const kept = fileModels.filter((model) => !(model.provider === 'local' && takenTiers.has(model.tier)));
  return createRegistry([...added, ...kept], `${file} with environment overrides`);
}
