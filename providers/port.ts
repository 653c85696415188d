/**
 * The provider port: the one small interface every model provider implements (local, openai-compatible,
 * anthropic, replay). Providers are reached only from activities and workers, never from workflows.
 */
import type { LocalSkill, ModelSpec, Usage } from '../domain/models';

/**
 * A factory's own offline answerer for a station (its definition's `local` function): what the local
 * provider runs when the station names no bundled skill.
 */
export type LocalAnswerer = (
  input: unknown,
  context: { model: { id: string; tier: ModelSpec['tier']; options: Record<string, unknown> } },
) => { output: unknown; confidence?: number; modelVersion?: string } | Promise<{ output: unknown; confidence?: number; modelVersion?: string }>;

export interface ProviderRequest {
  model: ModelSpec;
  /** The bundled offline model that answers this station, if any. */
  skill?: LocalSkill;
  /** The factory's own offline answerer, if any (tried before `skill`). */
  localAnswer?: LocalAnswerer;
  /** Structured station input (what local models read). */
  input: unknown;
  system: string;
  /** The user prompt (what LLMs read); includes the repair hint on a repair attempt. */
  prompt: string;
  /** JSON Schema of the expected output (from the station's zod schema). */
  jsonSchema: Record<string, unknown>;
  schemaName: string;
  temperature: number;
  maxOutputTokens?: number;
  signal?: AbortSignal;
}

export interface ProviderResponse {
  /** Parsed JSON when the provider produced JSON, else undefined with `text` set. */
  json?: unknown;
  text: string;
  /** The model's own confidence in [0, 1] where it has one (calibrated probability for local classifiers). */
  confidence?: number;
  /** From the provider when reported; the gateway counts tokens otherwise. */
  usage?: Usage;
  /** Provider/model version that answered (e.g. local model file version), recorded in the ledger. */
  modelVersion?: string;
}

export interface ModelProvider {
  readonly kind: ModelSpec['provider'];
  generate(request: ProviderRequest): Promise<ProviderResponse>;
}
