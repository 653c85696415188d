/**
 * Errors of the local provider. Each has a distinct `name` (it becomes the ApplicationFailure type in
 * workflows) and says whether retrying could help: none of these can, they are all about bad input,
 * bad configuration or a bad model file.
 */

abstract class LocalProviderError extends Error {
  readonly retryable = false;
}

/** The requested skill has no in-process model (e.g. 'plan' needs a large LLM). */
export class UnsupportedSkillError extends LocalProviderError {
  override readonly name = 'UnsupportedSkillError';
}

/** The ModelSpec names a local model that does not exist. */
export class UnknownLocalModelError extends LocalProviderError {
  override readonly name = 'UnknownLocalModelError';
}

/** The station input does not match the skill's input schema. */
export class InvalidLocalInputError extends LocalProviderError {
  override readonly name = 'InvalidLocalInputError';
}

/** A saved model file is missing, unreadable, of another format version, or inconsistent. */
export class InvalidModelFileError extends LocalProviderError {
  override readonly name = 'InvalidModelFileError';
}

/** Training data is missing, empty, or lacks a column. */
export class InvalidTrainingDataError extends LocalProviderError {
  override readonly name = 'InvalidTrainingDataError';
}
