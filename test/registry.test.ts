/**
 * The model registry: the offline default, models added from the environment, and errors that name the
 * bad field.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidRegistryError, loadRegistry } from '../providers/registry';
import { UnknownModelError } from '../providers/errors';

const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-registry-'));
afterAll(() => fs.rmSync(tempDir, { recursive: true, force: true }));

const localModel = (id: string, tier: string) => ({
  id,
  provider: 'local',
  providerModel: id,
  tier,
  inputPricePerMTokUsd: 1,
  outputPricePerMTokUsd: 2,
  contextWindow: 4096,
  structuredOutput: true,
});

function registryFile(content: unknown): string {
  const file = path.join(tempDir, `models-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('the default registry', () => {
  const registry = loadRegistry({});

  it('serves every tier with a local model, offline', () => {
    expect(registry.models.map((model) => model.id)).toEqual(['local-small', 'local-medium', 'local-large']);
    for (const tier of ['small', 'medium', 'large'] as const) {
      const model = registry.byTier(tier);
      expect(model).toMatchObject({ id: `local-${tier}`, provider: 'local', providerModel: `local-${tier}`, tier });
    }
  });

  it('prices local models with small notional compute prices that grow with the tier', () => {
    const [small, medium, large] = ['small', 'medium', 'large'].map((tier) => registry.byTier(tier as 'small'));
    expect(small).toMatchObject({ inputPricePerMTokUsd: 0.05, outputPricePerMTokUsd: 0.1 });
    expect(medium).toMatchObject({ inputPricePerMTokUsd: 0.5, outputPricePerMTokUsd: 1 });
    expect(large).toMatchObject({ inputPricePerMTokUsd: 5, outputPricePerMTokUsd: 15 });
    for (const model of registry.models) expect(model.description).toMatch(/notional compute prices/);
  });

  it('refuses an unknown id with a non-retryable error listing the known ones', () => {
    expect(() => registry.byId('gpt-7')).toThrow(UnknownModelError);
    expect(() => registry.byId('gpt-7')).toThrow(/local-small/);
  });
});

describe('models added from the environment', () => {
  it('OPENAI_BASE_URL replaces the local model of every tier it serves', () => {
    const registry = loadRegistry({ OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', OPENAI_API_KEY: 'sk-do-not-leak' });
    expect(registry.byTier('small')).toMatchObject({ id: 'openai-small', provider: 'openai-compatible', providerModel: 'gpt-4o-mini' });
    expect(registry.byTier('large')).toMatchObject({ id: 'openai-large', providerModel: 'gpt-4o', inputPricePerMTokUsd: 2.5 });
    expect(registry.models.some((model) => model.provider === 'local')).toBe(false);
    expect(registry.byTier('small').options).toEqual({ baseUrl: 'http://127.0.0.1:9/v1', apiKeyEnv: 'OPENAI_API_KEY' });
    expect(JSON.stringify(registry.models)).not.toContain('sk-do-not-leak');
  });

  it('CONVEYOR_OPENAI_MODELS picks models and prices per tier; unlisted tiers stay local', () => {
    const registry = loadRegistry({
      OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
      CONVEYOR_OPENAI_MODELS: 'small=qwen2.5-7b@0.02/0.04,large=gpt-4o',
      CONVEYOR_OPENAI_RPM: '60',
    });
    expect(registry.byTier('small')).toMatchObject({ providerModel: 'qwen2.5-7b', inputPricePerMTokUsd: 0.02, outputPricePerMTokUsd: 0.04, rateLimit: { requestsPerMinute: 60 } });
    expect(registry.byTier('medium').id).toBe('local-medium');
    expect(registry.byTier('large').id).toBe('openai-large');
  });

  it('ANTHROPIC_API_KEY adds Anthropic models without putting the key in any spec', () => {
    const registry = loadRegistry({ ANTHROPIC_API_KEY: 'sk-ant-do-not-leak', ANTHROPIC_BASE_URL: 'http://127.0.0.1:9/v1' });
    expect(registry.byTier('medium')).toMatchObject({ id: 'anthropic-medium', provider: 'anthropic', providerModel: 'claude-sonnet-4-5' });
    expect(registry.byTier('medium').options).toEqual({ baseUrl: 'http://127.0.0.1:9/v1', apiKeyEnv: 'ANTHROPIC_API_KEY' });
    expect(JSON.stringify(registry.models)).not.toContain('sk-ant-do-not-leak');
  });

  it('a malformed CONVEYOR_OPENAI_MODELS names the variable and the expected form', () => {
    expect(() => loadRegistry({ OPENAI_BASE_URL: 'http://x/v1', CONVEYOR_OPENAI_MODELS: 'tiny=gpt-4o' })).toThrow(
      /CONVEYOR_OPENAI_MODELS: "tiny=gpt-4o" is not tier=model/,
    );
  });
});

describe('registry files', () => {
  it('CONVEYOR_MODELS_FILE points at another registry', () => {
    const file = registryFile({ models: [localModel('tiny', 'small')] });
    expect(loadRegistry({ CONVEYOR_MODELS_FILE: file }).models.map((model) => model.id)).toEqual(['tiny']);
  });

  it('names a bad field by its path', () => {
    const file = registryFile({ models: [localModel('a', 'small'), localModel('b', 'medium'), localModel('c', 'huge')] });
    const load = () => loadRegistry({ CONVEYOR_MODELS_FILE: file });
    expect(load).toThrow(InvalidRegistryError);
    expect(load).toThrow('models[2].tier: expected one of small|medium|large');
  });

  it('names missing and mistyped fields', () => {
    const { contextWindow: _dropped, ...withoutWindow } = localModel('a', 'small');
    const file = registryFile({ models: [withoutWindow, { ...localModel('b', 'small'), inputPricePerMTokUsd: 'cheap' }] });
    const load = () => loadRegistry({ CONVEYOR_MODELS_FILE: file });
    expect(load).toThrow('models[0].contextWindow: expected number');
    expect(load).toThrow('models[1].inputPricePerMTokUsd: expected number');
  });

  it('refuses duplicate ids', () => {
    const file = registryFile({ models: [localModel('same', 'small'), localModel('same', 'large')] });
    expect(() => loadRegistry({ CONVEYOR_MODELS_FILE: file })).toThrow('models[1].id: duplicate id "same" (also models[0])');
  });

  it('explains a file that is not a registry', () => {
    expect(() => loadRegistry({ CONVEYOR_MODELS_FILE: registryFile('{ not json') })).toThrow(/Cannot read the model registry/);
    expect(() => loadRegistry({ CONVEYOR_MODELS_FILE: registryFile({ tiers: [] }) })).toThrow(/models: expected array/);
  });
});
