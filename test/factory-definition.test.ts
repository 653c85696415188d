/**
 * The definition API's contract, without a server: a small hotline factory (two model stations, one
 * action, one job type with a fan-out) passes, and each broken copy of it — one defect at a time — gets
 * exactly the problems listed (definition, field, message). Snapshots are deterministic and name what
 * changed: data changes the hash, code (a prompt) only the declared version does.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  checkFactory,
  defineAction,
  defineFactory,
  defineJobType,
  defineStation,
  FactoryDefinitionError,
  formatProblem,
  localClassifier,
  snapshotJobType,
  type ActionSpec,
  type AnyStation,
  type Factory,
  type FactoryProblem,
  type FactorySpec,
  type JobPolicySpec,
  type RecipeStep,
  type StationSpec,
} from '../factory';
import { supportFactory } from '../factories/support';
import { Outbox } from '../activities/outbox';
import { trainingFileProblems } from '../platform/factory-module';
import { createModelGateway } from '../providers/gateway';
import { conveyorActivities } from '../workers/worker';

// ---- the valid test factory: a city's non-emergency hotline -------------------------------------

const categories = ['pothole', 'streetlight', 'noise', 'other'] as const;

const reportInput = z.object({ report: z.string().min(1) });
const categoryOutput = z.object({ category: z.enum(categories), confidence: z.number().min(0).max(1) });
const dispatchInput = z.object({ report: z.string(), category: z.enum(categories), district: z.string().optional() });
const dispatchOrder = z.object({ crew: z.string(), priority: z.number().int().min(1).max(5), note: z.string() });
const dispatchSettings = z.object({ urgentPriority: z.number().int().min(1).max(5) });
const hotlineInput = z.object({ report: z.string().min(1), district: z.string().optional(), followUps: z.array(z.string()).default([]) });

type Categorize = StationSpec<z.infer<typeof reportInput>, z.infer<typeof categoryOutput>>;
type PlanDispatch = StationSpec<z.infer<typeof dispatchInput>, z.infer<typeof dispatchOrder>>;
type DispatchCrew = ActionSpec<z.infer<typeof dispatchOrder>, z.infer<typeof dispatchSettings>>;

const categorizeSpec: Categorize = {
  name: 'categorize',
  description: 'Sorts a hotline report into a service category.',
  input: reportInput,
  output: categoryOutput,
  defaultTier: 'small',
  confidenceThreshold: 0.7,
  confidence: { from: 'field', field: 'confidence' },
  learnable: { label: 'category', text: 'report' },
  prompt: (input) => ({ system: `Sort the resident's report into one of ${categories.join(', ')}; answer as JSON with your confidence.`, user: input.report }),
};

/** How `categorize` could answer offline: a classifier trained from a file of labelled reports. */
const categorizeClassifier = {
  name: 'report-category',
  trainingFile: '/srv/hotline/data/reports.csv',
  labels: categories,
  text: (input: z.infer<typeof reportInput>) => input.report,
  output: ({ label, confidence }: { label: string; confidence: number }) => ({ category: label as (typeof categories)[number], confidence }),
};

const planDispatchSpec: PlanDispatch = {
  name: 'plan-dispatch',
  description: 'Picks the crew and priority for a categorised report.',
  input: dispatchInput,
  output: dispatchOrder,
  defaultTier: 'medium',
  confidenceThreshold: 0.5,
  confidence: { from: 'model', otherwise: 0.8 },
  prompt: (input) => ({ system: 'Pick the city crew, a priority from 1 to 5 and a note for the crew. Answer as JSON.', user: JSON.stringify(input) }),
};

const dispatchCrewSpec: DispatchCrew = {
  name: 'dispatch-crew',
  description: 'Sends the crew.',
  proposal: dispatchOrder,
  settings: dispatchSettings,
  sensitivity: (order, settings) => (order.priority >= settings.urgentPriority ? `priority ${order.priority} sends a crew out of hours` : undefined),
  execute: async (order, context) => ({ crew: order.crew, workOrder: context.idempotencyKey }),
};

const hotlineSteps: RecipeStep[] = [
  { id: 'category', station: 'categorize', inputs: { report: '$job.report' } },
  { id: 'followUps', station: 'categorize', each: '$job.followUps', inputs: { report: '$item' }, concurrency: 2 },
  { id: 'order', station: 'plan-dispatch', inputs: { report: '$job.report', category: '$steps.category.category', district: '$job.district' } },
  { id: 'dispatch', action: 'dispatch-crew', proposal: '$steps.order' },
];

const hotlinePolicy: JobPolicySpec = {
  budgetUsd: 0.1,
  confidenceThresholds: { 'plan-dispatch': 0.6 },
  approval: { reviewers: ['dispatcher'], escalationReviewers: ['duty-manager'], timeoutMs: 3_600_000, onTimeout: 'escalate', twoPersonActions: ['dispatch-crew'] },
  actions: { 'dispatch-crew': { urgentPriority: 4 } },
};

/** One change to the valid factory: a field of a station or the action, the recipe, the policy, the station list. */
interface Defect {
  categorize?: Partial<Categorize>;
  planDispatch?: Partial<PlanDispatch>;
  dispatchCrew?: Partial<DispatchCrew>;
  steps?: (steps: RecipeStep[]) => RecipeStep[];
  policy?: (policy: JobPolicySpec) => JobPolicySpec;
  stations?: (stations: AnyStation[]) => AnyStation[];
  version?: string;
}

function hotline(defect: Defect = {}): FactorySpec {
  const stations = [defineStation({ ...categorizeSpec, ...defect.categorize }), defineStation({ ...planDispatchSpec, ...defect.planDispatch })];
  return {
    name: 'hotline',
    version: defect.version ?? '1.0.0',
    stations: defect.stations ? defect.stations(stations) : stations,
    actions: [defineAction({ ...dispatchCrewSpec, ...defect.dispatchCrew })],
    jobTypes: [
      defineJobType({
        name: 'hotline-call',
        description: 'category → crew and priority → dispatch, after a person approves an urgent one',
        input: hotlineInput,
        recipe: { steps: defect.steps ? defect.steps([...hotlineSteps]) : hotlineSteps },
        policy: defect.policy ? defect.policy(hotlinePolicy) : hotlinePolicy,
        summarize: (input) => `hotline: ${input.report.slice(0, 60)}`,
      }),
    ],
  };
}

/** The steps with the one at `index` replaced. */
const replaced = (steps: RecipeStep[], index: number, step: RecipeStep) => steps.map((current, at) => (at === index ? step : current));
const categoryStep = hotlineSteps[0]!;
const orderStep = hotlineSteps[2] as Extract<RecipeStep, { inputs: object }>;

/** A factory spec from a built factory, to check it again. */
const specOf = (factory: Factory): FactorySpec => ({
  name: factory.name,
  version: factory.version,
  stations: [...factory.stations.values()],
  actions: [...factory.actions.values()],
  jobTypes: [...factory.jobTypes.values()],
});

const jobType = 'job type "hotline-call"';

// ---- the broken factories ------------------------------------------------------------------------

const broken: { defect: string; spec: FactorySpec; problems: FactoryProblem[] }[] = [
  {
    defect: 'a recipe step names an unknown station',
    spec: hotline({ steps: (steps) => replaced(steps, 0, { ...categoryStep, station: 'categorise' }) }),
    problems: [{ definition: jobType, field: 'recipe.steps[0].station', message: 'unknown station "categorise" (stations: categorize, plan-dispatch)' }],
  },
  {
    defect: 'a wire to an unknown step',
    spec: hotline({ steps: (steps) => replaced(steps, 2, { ...orderStep, inputs: { ...orderStep.inputs, category: '$steps.categry.category' } }) }),
    problems: [{ definition: jobType, field: 'recipe.steps[2].inputs.category', message: '$steps.categry.category: no step "categry" in the recipe' }],
  },
  {
    defect: "a wire to a field the station's output schema lacks",
    spec: hotline({ steps: (steps) => replaced(steps, 2, { ...orderStep, inputs: { ...orderStep.inputs, category: '$steps.category.kind' } }) }),
    problems: [
      {
        definition: jobType,
        field: 'recipe.steps[2].inputs.category',
        message: '$steps.category.kind: the output of step "category" has no field "kind" (fields: category, confidence)',
      },
    ],
  },
  {
    defect: "a wire to a fan-out step's field (its output is a list)",
    spec: hotline({ steps: (steps) => replaced(steps, 2, { ...orderStep, inputs: { ...orderStep.inputs, category: '$steps.followUps.category' } }) }),
    problems: [
      {
        definition: jobType,
        field: 'recipe.steps[2].inputs.category',
        message: '$steps.followUps.category: step "followUps" is a fan-out; its output is a list, wire it whole ($steps.followUps)',
      },
    ],
  },
  {
    defect: "a wire to a job-input field that doesn't exist",
    spec: hotline({ steps: (steps) => replaced(steps, 2, { ...orderStep, inputs: { ...orderStep.inputs, report: '$job.reporter' } }) }),
    problems: [{ definition: jobType, field: 'recipe.steps[2].inputs.report', message: '$job.reporter: the job input has no field "reporter" (fields: report, district, followUps)' }],
  },
  {
    defect: 'a string that is not a wire',
    spec: hotline({ steps: (steps) => replaced(steps, 3, { id: 'dispatch', action: 'dispatch-crew', proposal: 'steps.order' }) }),
    problems: [{ definition: jobType, field: 'recipe.steps[3].proposal', message: '"steps.order" is not a wire: expected $job.<field> or $steps.<stepId>.<field>' }],
  },
  {
    defect: 'a dependency cycle',
    spec: hotline({ steps: (steps) => replaced(steps, 0, { id: 'category', station: 'categorize', inputs: { report: '$steps.order.note' } }) }),
    problems: [{ definition: jobType, field: 'recipe.steps', message: 'the steps form a dependency cycle: category → order → category' }],
  },
  {
    defect: 'duplicate station names',
    spec: hotline({ stations: (stations) => [...stations, defineStation({ ...categorizeSpec, description: 'A second classifier under the same name.' })] }),
    problems: [{ definition: 'station "categorize"', field: 'name', message: 'two stations are named "categorize"; names must be unique' }],
  },
  {
    defect: 'duplicate step ids',
    spec: hotline({ steps: (steps) => replaced(steps, 3, { id: 'order', action: 'dispatch-crew', proposal: '$steps.order' }) }),
    // The wires read the first step of that id, so the duplicate is the one problem (no cycle through it).
    problems: [{ definition: jobType, field: 'recipe.steps[3].id', message: 'duplicate step id "order" (also recipe.steps[2])' }],
  },
  {
    defect: 'an action step without a defined action',
    spec: hotline({ steps: (steps) => replaced(steps, 3, { id: 'dispatch', action: 'dispatch', proposal: '$steps.order' }) }),
    problems: [{ definition: jobType, field: 'recipe.steps[3].action', message: 'unknown action "dispatch" (actions: dispatch-crew)' }],
  },
  {
    defect: "a station's confidence threshold above 1",
    spec: hotline({ categorize: { confidenceThreshold: 1.5 } }),
    problems: [{ definition: 'station "categorize"', field: 'confidenceThreshold', message: 'must be a number in [0, 1]; got 1.5' }],
  },
  {
    defect: "a policy's confidence threshold below 0",
    spec: hotline({ policy: (policy) => ({ ...policy, confidenceThresholds: { 'plan-dispatch': -0.1 } }) }),
    problems: [{ definition: jobType, field: 'policy.confidenceThresholds.plan-dispatch', message: 'must be a number in [0, 1]; got -0.1' }],
  },
  {
    defect: "a policy's confidence threshold for a station that does not exist",
    spec: hotline({ policy: (policy) => ({ ...policy, confidenceThresholds: { 'plan-dispatches': 0.6 } }) }),
    problems: [{ definition: jobType, field: 'policy.confidenceThresholds.plan-dispatches', message: 'unknown station "plan-dispatches"' }],
  },
  {
    defect: 'reviewers missing',
    spec: hotline({ policy: (policy) => ({ ...policy, approval: { ...policy.approval, reviewers: [] } }) }),
    problems: [{ definition: jobType, field: 'policy.approval.reviewers', message: "must list at least one reviewer (who may approve this job type's sensitive steps)" }],
  },
  {
    defect: 'a required station input not wired',
    spec: hotline({ steps: (steps) => replaced(steps, 2, { id: 'order', station: 'plan-dispatch', inputs: { report: '$job.report' } }) }),
    problems: [{ definition: jobType, field: 'recipe.steps[2].inputs.category', message: 'input "category" of station plan-dispatch is not wired' }],
  },
  {
    defect: 'a wire to an input the station does not have',
    spec: hotline({ steps: (steps) => replaced(steps, 2, { ...orderStep, inputs: { ...orderStep.inputs, caller: '$job.report' } }) }),
    problems: [{ definition: jobType, field: 'recipe.steps[2].inputs.caller', message: 'station plan-dispatch has no input "caller" (inputs: report, category, district)' }],
  },
  {
    defect: "onTimeout 'escalate' without escalation reviewers",
    spec: hotline({ policy: (policy) => ({ ...policy, approval: { ...policy.approval, escalationReviewers: [] } }) }),
    problems: [{ definition: jobType, field: 'policy.approval.escalationReviewers', message: "onTimeout 'escalate' needs at least one escalation reviewer" }],
  },
  {
    defect: "action settings failing the action's settings schema",
    spec: hotline({ policy: (policy) => ({ ...policy, actions: { 'dispatch-crew': { urgentPriority: 9 } } }) }),
    problems: [{ definition: jobType, field: 'policy.actions.dispatch-crew.urgentPriority', message: 'Too big: expected number to be <=5' }],
  },
  {
    defect: "settings of an action the recipe does not use, failing the action's settings schema (the snapshot parses them)",
    spec: hotline({ steps: (steps) => steps.slice(0, 3), policy: (policy) => ({ ...policy, actions: { 'dispatch-crew': { urgentPriority: 0 } } }) }),
    problems: [{ definition: jobType, field: 'policy.actions.dispatch-crew.urgentPriority', message: 'Too small: expected number to be >=1' }],
  },
  {
    defect: 'settings for an action that does not exist',
    spec: hotline({ policy: (policy) => ({ ...policy, actions: { ...policy.actions, 'dispatch-crews': {} } }) }),
    problems: [{ definition: jobType, field: 'policy.actions.dispatch-crews', message: 'unknown action "dispatch-crews"' }],
  },
  {
    defect: 'twoPersonActions naming an unknown action',
    spec: hotline({ policy: (policy) => ({ ...policy, approval: { ...policy.approval, twoPersonActions: ['dispatch-crews'] } }) }),
    problems: [{ definition: jobType, field: 'policy.approval.twoPersonActions[0]', message: 'unknown action "dispatch-crews"' }],
  },
  {
    defect: 'a confidence field rule naming a missing output field',
    spec: hotline({ categorize: { confidence: { from: 'field', field: 'certainty' } } }),
    problems: [{ definition: 'station "categorize"', field: 'confidence.field', message: 'the output schema has no field "certainty"' }],
  },
  {
    defect: 'a confidence field rule naming an output field that is not a number',
    spec: hotline({ categorize: { confidence: { from: 'field', field: 'category' } } }),
    problems: [{ definition: 'station "categorize"', field: 'confidence.field', message: 'output field "category" is not a number in [0, 1]' }],
  },
  {
    defect: 'a learnable label the output schema lacks',
    spec: hotline({ categorize: { learnable: { label: 'intent', text: 'report' } } }),
    problems: [{ definition: 'station "categorize"', field: 'learnable.label', message: 'the output schema has no field "intent"' }],
  },
  {
    defect: 'an offline classifier whose training file is a relative path',
    spec: hotline({ categorize: { local: localClassifier({ ...categorizeClassifier, trainingFile: 'data/reports.csv' }) } }),
    problems: [{ definition: 'station "categorize"', field: 'local.trainingFile', message: 'must be an absolute path (e.g. path.join(__dirname, \'data/labels.csv\')); got "data/reports.csv"' }],
  },
  {
    defect: 'an offline classifier with one label and no text function',
    spec: hotline({ categorize: { local: localClassifier({ ...categorizeClassifier, labels: ['pothole'], text: undefined as never }) } }),
    problems: [
      { definition: 'station "categorize"', field: 'local.labels', message: 'must list at least two labels (non-empty strings)' },
      { definition: 'station "categorize"', field: 'local.text', message: 'must be a function (input) => the text to classify' },
    ],
  },
  {
    defect: 'a local answer that is neither a function nor a classifier',
    spec: hotline({ categorize: { local: { model: 'classify-intent' } as never } }),
    problems: [{ definition: 'station "categorize"', field: 'local', message: 'must be a function (input, context) => { output, confidence? } or localClassifier({ name, trainingFile, labels, text, output })' }],
  },
  {
    defect: 'a fan-out step whose concurrency is 0',
    spec: hotline({ steps: (steps) => replaced(steps, 1, { id: 'followUps', station: 'categorize', each: '$job.followUps', inputs: { report: '$item' }, concurrency: 0 }) }),
    problems: [{ definition: jobType, field: 'recipe.steps[1].concurrency', message: 'must be an integer from 1 to 100' }],
  },
  {
    defect: 'a step that is not an object',
    spec: hotline({ steps: (steps) => [...steps, null as unknown as RecipeStep] }),
    problems: [{ definition: jobType, field: 'recipe.steps[4]', message: 'must be a step object: { id, station, inputs } or { id, action, proposal }' }],
  },
  {
    defect: 'confidence from one sample: agreement needs at least two',
    spec: hotline({ categorize: { confidence: { from: 'samples', k: 1 } } }),
    problems: [{ definition: 'station "categorize"', field: 'confidence.k', message: 'must be an integer from 2 to 20 (the number of answers compared); got 1' }],
  },
  {
    defect: 'confidence from the log-probabilities of a field the output does not have',
    spec: hotline({ categorize: { confidence: { from: 'logprobs', field: 'kind' } } }),
    problems: [{ definition: 'station "categorize"', field: 'confidence.field', message: 'the output schema has no field "kind"' }],
  },
  {
    defect: 'a learned scorer on a station with nothing learnable',
    spec: hotline({ categorize: { confidence: { from: 'scorer', id: 'category-scorer' }, learnable: undefined } }),
    problems: [{ definition: 'station "categorize"', field: 'confidence', message: "a learned scorer reads the station's `learnable` text and label fields: set `learnable`" }],
  },
  {
    defect: 'agreement with a cheaper tier that trusts a disagreement more than an agreement, on a field the output does not have',
    spec: hotline({ categorize: { confidence: { from: 'cheaper-tier', agree: 0.3, disagree: 0.6, otherwise: 2, field: 'kind' } } }),
    problems: [
      { definition: 'station "categorize"', field: 'confidence.otherwise', message: 'must be a number in [0, 1]' },
      { definition: 'station "categorize"', field: 'confidence', message: 'agree (0.3) must be above disagree (0.6): agreeing with a cheaper tier is the evidence' },
      { definition: 'station "categorize"', field: 'confidence.field', message: 'the output schema has no field "kind"' },
    ],
  },
  {
    defect: 'a router for a station the factory does not have, escalating to an unknown tier',
    spec: hotline({ policy: (policy) => ({ ...policy, router: { id: 'hotline', stations: ['categorise'], escalateTo: 'huge' as never } }) }),
    problems: [
      { definition: jobType, field: 'policy.router.escalateTo', message: 'must be one of small, medium, large' },
      { definition: jobType, field: 'policy.router.stations', message: 'unknown station "categorise"' },
    ],
  },
  {
    defect: 'an empty declared version',
    spec: hotline({ version: ' ' }),
    problems: [{ definition: 'factory', field: 'version', message: 'must be a non-empty string (change it whenever prompts or execute change)' }],
  },
];

describe('checkFactory', () => {
  it('passes the valid test factory and the support factory with no problems', () => {
    expect(checkFactory(hotline())).toEqual([]);
    expect(checkFactory(specOf(supportFactory))).toEqual([]);
  });

  it('lists at least ten broken factories, each with one defect', () => {
    expect(broken.length).toBeGreaterThanOrEqual(10);
    expect(new Set(broken.map((item) => item.defect)).size).toBe(broken.length);
  });

  it.each(broken)('$defect', ({ spec, problems }) => {
    expect(checkFactory(spec)).toEqual(problems);
  });
});

describe('defineFactory', () => {
  it('builds the valid factory with its definitions by name', () => {
    const factory = defineFactory(hotline());
    expect([...factory.stations.keys()]).toEqual(['categorize', 'plan-dispatch']);
    expect([...factory.actions.keys()]).toEqual(['dispatch-crew']);
    expect([...factory.jobTypes.keys()]).toEqual(['hotline-call']);
  });

  it('throws FactoryDefinitionError whose message lists every problem', () => {
    const spec = hotline({
      categorize: { confidenceThreshold: 2 },
      steps: (steps) => replaced(steps, 0, { ...categoryStep, station: 'categorise' }),
      policy: (policy) => ({ ...policy, approval: { ...policy.approval, reviewers: [] } }),
    });
    let thrown: unknown;
    try {
      defineFactory(spec);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(FactoryDefinitionError);
    const error = thrown as FactoryDefinitionError;
    expect(error.name).toBe('FactoryDefinitionError');
    expect(error.problems).toEqual(checkFactory(spec));
    expect(error.message).toBe(
      [
        'the factory has 3 problem(s):',
        '- station "categorize" → confidenceThreshold: must be a number in [0, 1]; got 2',
        '- job type "hotline-call" → recipe.steps[0].station: unknown station "categorise" (stations: categorize, plan-dispatch)',
        "- job type \"hotline-call\" → policy.approval.reviewers: must list at least one reviewer (who may approve this job type's sensitive steps)",
      ].join('\n'),
    );
  });

  it('formats a problem without a field as definition: message', () => {
    expect(formatProblem({ definition: 'factory', field: '', message: 'expected an object' })).toBe('factory: expected an object');
  });
});

describe('snapshotJobType', () => {
  const snapshot = (defect: Defect = {}) => snapshotJobType(defineFactory(hotline(defect)), 'hotline-call');

  it('is deterministic, and its version is <declared version>+<12 hex of the hash>', () => {
    const first = snapshot();
    const second = snapshot();
    expect(second.hash).toBe(first.hash);
    expect(second).toEqual(first);
    expect(first.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(first.version).toMatch(/^1\.0\.0\+[0-9a-f]{12}$/);
    expect(first.version).toBe(`1.0.0+${first.hash.slice(0, 12)}`);
  });

  it("changes its hash when a station's or the policy's threshold changes", () => {
    const base = snapshot().hash;
    expect(snapshot({ categorize: { confidenceThreshold: 0.8 } }).hash).not.toBe(base);
    expect(snapshot({ policy: (policy) => ({ ...policy, confidenceThresholds: { 'plan-dispatch': 0.65 } }) }).hash).not.toBe(base);
  });

  it('keeps its hash when only a prompt changes: code changes are what the declared version is for', () => {
    const base = snapshot();
    const reworded = snapshot({ categorize: { prompt: (input) => ({ system: 'Classify the report. Reply in JSON.', user: `Report: ${input.report}` }) } });
    expect(reworded.hash).toBe(base.hash);
    expect(reworded.version).toBe(base.version);
    const declared = snapshot({ version: '1.1.0', categorize: { prompt: (input) => ({ system: 'Classify the report.', user: input.report }) } });
    expect(declared.version).toMatch(/^1\.1\.0\+[0-9a-f]{12}$/);
    expect(declared.version).not.toBe(base.version);
  });
});

describe('training files, checked where the files are (worker start, `conveyor factory check`)', () => {
  it('names an offline classifier whose training file is missing, and no worker gets its activities', async () => {
    const missing = path.join(os.tmpdir(), `conveyor-no-such-reports-${process.pid}.csv`);
    const factory = defineFactory(hotline({ categorize: { local: localClassifier({ ...categorizeClassifier, trainingFile: missing }) } }));
    const problem = { definition: 'station "categorize"', field: 'local.trainingFile', message: `${missing} does not exist` };
    expect(trainingFileProblems(factory)).toEqual([problem]);
    expect(trainingFileProblems(supportFactory)).toEqual([]);
    const outbox = new Outbox(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-outbox-')), 'outbox.sqlite'));
    try {
      expect(() => conveyorActivities({ factory, gateway: createModelGateway({ cache: null, env: {} }), outbox })).toThrow(
        expect.objectContaining({ name: 'FactoryDefinitionError', problems: [problem] }) as Error,
      );
    } finally {
      await outbox.close();
    }
  });
});
