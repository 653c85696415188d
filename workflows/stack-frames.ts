/**
 * How many frames a stack trace keeps inside Conveyor's workflows.
 *
 * The SDK records where every promise a workflow makes was created, so the stack-trace query can show a
 * waiting workflow's stack (the Temporal UI's "Stack Trace" tab). It does that by formatting a stack trace,
 * through the bundle's source map, for each new promise. A job of five steps and an action makes about 120
 * promises, so at the SDK's 10 frames per stack (V8's default) this took about a fifth of the job's
 * workflow-task time (a CPU profile of the worker's workflow thread on the cluster; README, Performance).
 *
 * Frames past the limit are lost from every stack a workflow records: the stack-trace query's stacks and the
 * stack of a failure a workflow raises. The first frame of a promise's stack is the SDK's hook, so the query
 * shows {@link WORKFLOW_STACK_FRAMES} − 1 frames per stack: a job waiting for a reviewer shows the approval
 * desk's wait and the step that asked (test/factory.test.ts), but an SDK `condition` shows only the SDK's own
 * frames. Activity stack traces are not affected (activities run outside the workflow sandbox).
 */
export const WORKFLOW_STACK_FRAMES = 6;

/**
 * Sets the limit for the workflow sandbox this bundle is loaded in (the sandbox's own `Error`), when it can:
 * a worker that reuses its V8 context (the SDK's default) freezes the sandbox's globals once its preloaded
 * modules are loaded, so the limit holds where workflows/index is preloaded (`conveyorPreloadModules`,
 * which bundleConveyorWorkflows uses). Elsewhere — a bundle without the preload, a replay — stacks keep
 * V8's 10 frames. Returns whether it set the limit.
 */
export function limitWorkflowStackFrames(frames = WORKFLOW_STACK_FRAMES): boolean {
  if (Object.isFrozen(Error)) return false;
  Error.stackTraceLimit = frames;
  return true;
}
