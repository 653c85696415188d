/**
 * The provider port: the one small interface every model provider implements (local, openai-compatible,
 * anthropic, replay). Providers are reached only from activities and workers, never from workflows.
 */
import type { ModelSpec, Usage } from '../domain/models';
import type { AnyLocalAnswer } from '../factory/define';

export interface ProviderRequest {
  model: ModelSpec;
  /**
   * How the station answers offline (its definition's `local`): a classifier the local provider trains
   * and runs, or the factory's own function. Remote providers ignore it and follow the prompt.
   */
  local?: AnyLocalAnswer;
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
  /**
   * Ask for token log-probabilities (OpenAI-compatible `logprobs`) and give the answer's probability as
   * its confidence; `field` names the output field whose value's tokens count (e.g. a label).
   */
  logprobs?: { field?: string };
  signal?: AbortSignal;
}

export interface ProviderResponse {
  /** Parsed JSON when the provider produced JSON, else undefined with `text` set. */
  json?: unknown;
  text: string;
  /** The model's own confidence in [0, 1] where it has one (calibrated probability for local classifiers). */
  confidence?: number;
  /** Where `confidence` came from: `classifier` (a local classifier's calibrated probability), `local-answer` (the station's own offline answerer), `logprobs`. */
  confidenceSource?: 'classifier' | 'local-answer' | 'logprobs';
  /** From the provider when reported; the gateway counts tokens otherwise. */
  usage?: Usage;
  /** Provider/model version that answered (e.g. local model file version), recorded in the ledger. */
  modelVersion?: string;
}

export interface ModelProvider {
  readonly kind: ModelSpec['provider'];
  generate(request: ProviderRequest): Promise<ProviderResponse>;
}
