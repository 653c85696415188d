/**
 * Specification of the local provider: the CSV parser, the entity extractors, the classifier's
 * accuracy floors (demo data and a BANKING77 subset), the saved-model format, the built-in factory's
 * offline answerers (classifiers and rules) against their station schemas, and `conveyor train`.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ZodType } from 'zod';
import { modelSpecSchema, type ModelSpec } from '../domain/models';
import {
  actionDocumentSchema,
  assessRiskOutputSchema,
  checkRelevanceOutputSchema,
  classifyIntentOutputSchema,
  draftReplyOutputSchema,
  extractCallInfoOutputSchema,
  extractEntitiesOutputSchema,
  proposedActionSchema,
} from '../factories/support/schemas';
import type { ProviderRequest } from '../providers/port';
import { localClassifier } from '../factory/define';
import { createLocalProvider, countTokens, InvalidLocalInputError, InvalidModelFileError, UnknownLocalModelError, UnsupportedSkillError } from '../providers/local';
import { CsvParseError, parseCsv, parseCsvRecords } from '../providers/local/csv';
import { extractEntities } from '../factories/support/offline/entities';
import { demoDataFile } from '../factories/support/offline';
import { supportStations } from '../factories/support/stations';
import { classifyText, predictProbabilities } from '../providers/local/classifier';
import { loadLabelledFile, resolveSharedDataDir } from '../providers/local/dataset';
import { loadClassifier, parseClassifier, saveClassifier, serializeClassifier } from '../providers/local/model-file';
import { trainSizedClassifier } from '../providers/local/model-store';
import { splitHeldOut } from '../providers/local/prng';
import { scoreOnHeldOut, trainCommand } from '../cli/train';
import { sharedDataMissing } from './support/prerequisites';

const temporaryDir = mkdtempSync(path.join(os.tmpdir(), 'conveyor-local-models-'));
const demoDataFiles = { intent: demoDataFile('support-intents.csv'), relevance: demoDataFile('call-snippets.csv') };
const demoIntents = loadLabelledFile(demoDataFiles.intent);

function localModel(providerModel: string, options: Record<string, unknown> = {}): ModelSpec {
  return modelSpecSchema.parse({
    id: providerModel,
    provider: 'local',
    providerModel,
    tier: 'small',
    inputPricePerMTokUsd: 0,
    outputPricePerMTokUsd: 0,
    contextWindow: 8192,
    structuredOutput: true,
    options,
  });
}

/** A request for a built-in station, answered the way its definition's `local` says; `plan` has none. */
function request(station: string, input: unknown, model = localModel('local-medium')): ProviderRequest {
  const local = supportStations.find((candidate) => candidate.name === station)?.local;
  return { model, ...(local ? { local } : {}), input, system: '', prompt: '', jsonSchema: {}, schemaName: station, temperature: 0 };
}

describe('CSV parser (RFC 4180)', () => {
  it('reads quoted fields with commas, doubled quotes and line breaks', () => {
    const csv = 'text,label\r\n"Hello, world",greeting\r\n"She said ""refund"" twice",refund\n"line one\nline two",multi\n';
    expect(parseCsv(csv)).toEqual([
      ['text', 'label'],
      ['Hello, world', 'greeting'],
      ['She said "refund" twice', 'refund'],
      ['line one\nline two', 'multi'],
    ]);
  });

  it('keeps empty fields, ignores a byte-order mark and needs no final line break', () => {
    expect(parseCsv('\uFEFFa,b,c\n,,\n"",x,')).toEqual([
      ['a', 'b', 'c'],
      ['', '', ''],
      ['', 'x', ''],
    ]);
  });

  it('rejects an unterminated quote and a stray quote, naming the line', () => {
    expect(() => parseCsv('a,b\n"open,1\n')).toThrow(new CsvParseError('unterminated quoted field starting on line 2'));
    expect(() => parseCsv('a,b\nsay "hi",1\n')).toThrow(/stray double quote .* line 2/);
    expect(() => parseCsv('"closed"x,1')).toThrow(/after a closing quote/);
  });

  it('maps rows to records by header and rejects rows with the wrong number of fields', () => {
    expect(parseCsvRecords('text,label\nhi,greeting\n').records).toEqual([{ text: 'hi', label: 'greeting' }]);
    expect(() => parseCsvRecords('text,label\nhi,greeting,extra\n')).toThrow(/3 fields, the header has 2/);
  });
});

describe('entity extraction', () => {
  it('reads an order hash id, a dollar amount, a written date, an international phone and an email', () => {
    const text =
      'Hi, my order #A12345 arrived broken. I paid $1,249.99 on 12 March 2026. Call me on +1 (415) 555-0132 or mail jane.doe@example.com';
    expect(extractEntities(text).entities).toEqual({
      orderIds: ['A12345'],
      amounts: [{ value: 1249.99, currency: 'USD' }],
      dates: ['2026-03-12'],
      emails: ['jane.doe@example.com'],
      phones: ['+14155550132'],
    });
  });

  it('reads "order <number>" and prefixed ids, euro amounts either side of the number, and a US numeric date', () => {
    const { entities, confidence } = extractEntities('Order 123456789 was charged twice: 45,50 € and EUR 12.00. Reference ORD-2024-0042, placed 03/12/2026.');
    expect(entities.orderIds).toEqual(['123456789', 'ORD-2024-0042']);
    expect(entities.amounts).toEqual([
      { value: 45.5, currency: 'EUR' },
      { value: 12, currency: 'EUR' },
    ]);
    expect(entities.dates).toEqual(['2026-03-12']);
    expect(entities.phones).toEqual([]);
    expect(confidence).toBeLessThanOrEqual(0.7); // 03/12 could be either day-month order
  });

  it('skips impossible dates, reads pounds, US-style written dates, and national and international phones', () => {
    const { entities } = extractEntities('I was billed £20 on 2026-02-30 and 15 USD on March 5th, 2026; ring 020 7946 0958 or +44 20 7946 0958.');
    expect(entities).toEqual({
      orderIds: [],
      amounts: [
        { value: 20, currency: 'GBP' },
        { value: 15, currency: 'USD' },
      ],
      dates: ['2026-03-05'],
      emails: [],
      phones: ['02079460958', '+442079460958'],
    });
  });

  it('reads European dotted dates, currency words and k suffixes, and does not take plain counts for phones', () => {
    const { entities } = extractEntities('order number: 77812, refund 30 dollars please, delivered 25.12.2025. Budget $50k. I asked 100 200 300 times.');
    expect(entities).toEqual({
      orderIds: ['77812'],
      amounts: [
        { value: 30, currency: 'USD' },
        { value: 50000, currency: 'USD' },
      ],
      dates: ['2025-12-25'],
      emails: [],
      phones: [],
    });
  });
});

describe('text classifier', () => {
  it('classifies held-out demo support messages at 90% or better', () => {
    const { train, heldOut } = splitHeldOut(demoIntents, 0.25, 11);
    const { accuracy } = scoreOnHeldOut(trainSizedClassifier(train, 'medium'), heldOut);
    expect(accuracy).toBeGreaterThanOrEqual(0.9);
  });

  it('is deterministic: the same data and seed give the same weights', () => {
    const first = trainSizedClassifier(demoIntents, 'small');
    const second = trainSizedClassifier(demoIntents, 'small');
    expect(Buffer.from(first.weights.buffer).equals(Buffer.from(second.weights.buffer))).toBe(true);
    expect(first.temperature).toBe(second.temperature);
  });

  const banking77Dir = path.join(resolveSharedDataDir(), 'banking77');
  it.skipIf(sharedDataMissing('banking77/train.csv', 'banking77/test.csv'))('keeps its BANKING77 accuracy on a 3000/500 subset, medium above small, with honest confidence', () => {
    const columns = { textColumn: 'text', labelColumn: 'category' };
    const train = splitHeldOut(loadLabelledFile(path.join(banking77Dir, 'train.csv'), columns), 0.3, 1).heldOut;
    const test = splitHeldOut(loadLabelledFile(path.join(banking77Dir, 'test.csv'), columns), 500 / 3080, 1).heldOut;
    const medium = trainSizedClassifier(train, 'medium');
    const small = trainSizedClassifier(train, 'small');
    const mediumScore = scoreOnHeldOut(medium, test);
    const smallScore = scoreOnHeldOut(small, test);
    // Measured 0.836 / 0.92 (medium) and 0.776 (small); floors leave a margin for platform noise only.
    expect(mediumScore.accuracy).toBeGreaterThanOrEqual(0.8);
    expect(mediumScore.accuracyAtTop80).toBeGreaterThanOrEqual(0.89);
    expect(smallScore.accuracy).toBeGreaterThanOrEqual(0.73);
    expect(mediumScore.accuracy).toBeGreaterThan(smallScore.accuracy);
    const meanConfidence = test.reduce((sum, example) => sum + classifyText(medium, example.text).confidence, 0) / test.length;
    expect(Math.abs(meanConfidence - mediumScore.accuracy)).toBeLessThan(0.06);
  });
});

describe('saved model files', () => {
  const model = trainSizedClassifier(demoIntents, 'medium');

  it('round-trips: a loaded model gives exactly the same probabilities', () => {
    const file = path.join(temporaryDir, 'intent.json');
    saveClassifier(file, model, 'intent', { note: 'test' });
    const loaded = loadClassifier(file);
    expect(loaded.task).toBe('intent');
    expect(loaded.training).toEqual({ note: 'test' });
    for (const example of demoIntents.slice(0, 40)) {
      expect(Array.from(predictProbabilities(loaded.model, example.text))).toEqual(Array.from(predictProbabilities(model, example.text)));
    }
  });

  it('rejects bad files with a typed error that names the problem', () => {
    const valid = JSON.parse(serializeClassifier(model, 'intent')) as Record<string, unknown> & { weights: Record<string, unknown> };
    const variant = (change: (copy: typeof valid) => void): string => {
      const copy = structuredClone(valid);
      change(copy);
      return JSON.stringify(copy);
    };
    expect(() => loadClassifier(path.join(temporaryDir, 'missing.json'))).toThrow(InvalidModelFileError);
    expect(() => parseClassifier('{not json', 'm.json')).toThrow(/m\.json: not JSON/);
    expect(() => parseClassifier(variant((copy) => (copy.formatVersion = 99)), 'm.json')).toThrow(/format version 99 is not supported/);
    expect(() => parseClassifier(variant((copy) => (copy.format = 'pickle')), 'm.json')).toThrow(/format is "pickle"/);
    expect(() => parseClassifier(variant((copy) => delete copy.temperature), 'm.json')).toThrow(/field temperature/);
    expect(() => parseClassifier(variant((copy) => (copy.weights.levels = Buffer.from([1, 2, 3]).toString('base64'))), 'm.json')).toThrow(
      /weights\.levels holds 3 values/,
    );
    const error = (() => {
      try {
        parseClassifier(variant((copy) => (copy.labels = ['only-one'])), 'm.json');
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(InvalidModelFileError);
    expect((error as Error).name).toBe('InvalidModelFileError');
  });
});

describe('the local provider answering the built-in stations', () => {
  const provider = createLocalProvider();
  const ticket = 'Hi, I want a refund for order #A10482. The blender arrived cracked and I paid $640 for it. Jane';
  const entities = extractEntities(ticket).entities;
  const transcript = [
    'Rep: Thanks for joining, this is Sam from Conveyor.',
    "Dana (Acme Logistics): Hi Sam, I'm Dana Whitfield from Acme Logistics. Sorry, my dog is barking.",
    'Dana (Acme Logistics): Our agents copy tracking numbers by hand, it is slow and error-prone.',
    'Dana (Acme Logistics): We looked at Zendesk and Salesforce but both felt heavy. Our budget is around $40,000 for the first year.',
    "Rep: Next step: I'll send a proposal by Friday and we'll schedule a pilot with your support team.",
  ].join('\n');
  const callInfo = {
    customer: 'Dana Whitfield (Acme Logistics)',
    painPoints: ['Our agents copy tracking numbers by hand, it is slow and error-prone.'],
    nextSteps: ["I'll send a proposal by Friday."],
    competitors: ['Zendesk', 'Salesforce'],
    budgetUsd: 40000,
  };
  const risk = { level: 'high' as const, reasons: ['amount of about $640 is at least $500'] };
  const reply = { subject: 'Your refund request', body: 'Hi Jane, ...' };

  const cases: [string, unknown, ZodType][] = [
    ['classify-intent', { text: ticket }, classifyIntentOutputSchema],
    ['extract-entities', { text: ticket }, extractEntitiesOutputSchema],
    ['assess-risk', { text: ticket, intent: 'refund_request', entities }, assessRiskOutputSchema],
    ['draft-reply', { text: ticket, intent: 'refund_request', entities, customerName: 'Jane' }, draftReplyOutputSchema],
    ['propose-action', { intent: 'refund_request', entities, risk, reply }, proposedActionSchema],
    ['check-relevance', { transcript }, checkRelevanceOutputSchema],
    ['extract-call-info', { transcript }, extractCallInfoOutputSchema],
    ['write-action-document', { transcript, info: callInfo }, actionDocumentSchema],
  ];
  it.each(cases)('%s answers with output valid against its station schema, a confidence, usage and a version', async (station, input, schema) => {
    const response = await provider.generate(request(station, input));
    expect(schema.safeParse(response.json).success).toBe(true);
    expect(JSON.parse(response.text)).toEqual(response.json);
    expect(response.confidence).toBeGreaterThan(0);
    expect(response.confidence).toBeLessThanOrEqual(1);
    expect(response.usage?.inputTokens).toBeGreaterThan(0);
    expect(response.usage?.outputTokens).toBe(countTokens(response.text));
    expect(response.modelVersion).toMatch(/@\d/);
  });

  it('classifies a refund ticket as refund_request on every tier, with different models per tier', async () => {
    const versions = new Set<string>();
    for (const name of ['local-small', 'local-medium', 'local-large']) {
      const response = await provider.generate(request('classify-intent', { text: ticket }, localModel(name)));
      expect((response.json as { intent: string }).intent).toBe('refund_request');
      versions.add(response.modelVersion ?? '');
    }
    expect(versions.size).toBe(3);
  });

  it('proposes a refund with the order id and the amount, converted to USD when needed', async () => {
    const euroEntities = extractEntities('Refund €80 for order #A10482 please').entities;
    const response = await provider.generate(
      request('propose-action', { intent: 'damaged_item', entities: euroEntities, risk: { level: 'low', reasons: [] }, reply }),
    );
    expect(response.json).toMatchObject({ action: 'refund', orderId: 'A10482', amountUsd: 88, message: reply.body });
  });

  it('flags legal threats and chargebacks as high risk and then proposes no automated action', async () => {
    const text = 'Refund order #A10482 now or my lawyer will hear about it and I will file a chargeback.';
    const assessed = await provider.generate(request('assess-risk', { text, intent: 'refund_request', entities: extractEntities(text).entities }));
    expect(assessed.json).toEqual({ level: 'high', reasons: ['legal threat ("lawyer")', 'chargeback or payment dispute ("chargeback")'] });
    const proposed = await provider.generate(
      request('propose-action', { intent: 'refund_request', entities: extractEntities(text).entities, risk: assessed.json, reply }),
    );
    expect((proposed.json as { action: string }).action).toBe('none');
  });

  it('extracts the customer, pain points, competitors, budget and next steps from a call', async () => {
    const response = await provider.generate(request('extract-call-info', { transcript }));
    expect(response.json).toEqual({
      customer: 'Dana Whitfield (Acme Logistics)',
      painPoints: ['Our agents copy tracking numbers by hand, it is slow and error-prone.'],
      nextSteps: ["Next step: I'll send a proposal by Friday and we'll schedule a pilot with your support team."],
      competitors: ['Salesforce', 'Zendesk'],
      budgetUsd: 40000,
    });
  });

  it('tells small talk from a relevant call snippet', async () => {
    const relevance = async (text: string) => (await provider.generate(request('check-relevance', { transcript: text }))).json as { relevant: boolean };
    expect((await relevance('Our budget for a new support tool is about thirty thousand and we need it before the summer.')).relevant).toBe(true);
    expect((await relevance('Sorry, can you hear me? My camera is frozen again.')).relevant).toBe(false);
  });

  it('refuses what it cannot do with typed, non-retryable errors', async () => {
    await expect(provider.generate(request('plan', { goal: 'x' }))).rejects.toBeInstanceOf(UnsupportedSkillError);
    await expect(provider.generate(request('classify-intent', { text: 'hi' }, localModel('gpt-9')))).rejects.toThrow(
      new UnknownLocalModelError('model gpt-9: providerModel "gpt-9" is not a local model; use one of local-small, local-medium, local-large'),
    );
    await expect(provider.generate(request('classify-intent', { body: 'hi' }))).rejects.toThrow(InvalidLocalInputError);
  });

  it('loads a model file named in the model options, and refuses one whose labels are not support intents', async () => {
    const file = path.join(temporaryDir, 'options-intent.json');
    saveClassifier(file, trainSizedClassifier(demoIntents, 'small'), 'intent');
    const response = await provider.generate(request('classify-intent', { text: ticket }, localModel('local-medium', { modelFile: file })));
    expect((response.json as { intent: string }).intent).toBe('refund_request');
    const foreign = path.join(temporaryDir, 'foreign.json');
    saveClassifier(foreign, trainSizedClassifier(loadLabelledFile(demoDataFiles.relevance), 'small'), 'relevance');
    await expect(provider.generate(request('classify-intent', { text: ticket }, localModel('local-medium', { modelFile: foreign })))).rejects.toThrow(
      /may only use the labels .*; it has irrelevant, relevant/,
    );
  });

  it('caches default models under modelDir and reuses them', async () => {
    const modelDir = path.join(temporaryDir, 'models');
    const first = await createLocalProvider({ modelDir }).generate(request('classify-intent', { text: ticket }));
    expect(existsSync(path.join(modelDir, 'intent-medium.json'))).toBe(true);
    const second = await createLocalProvider({ modelDir }).generate(request('classify-intent', { text: ticket }));
    expect(second.modelVersion).toBe(first.modelVersion);
    expect(second.confidence).toBe(first.confidence);
  });
});

describe("a factory's own classifier", () => {
  // Each label has words of its own, repeated across its rows: a classifier that learned anything tells them apart.
  const rows = ['pothole in the road', 'deep pothole near the school', 'pothole on main street', 'the road has a big pothole']
    .flatMap((text) => [`${text},road`])
    .concat(['streetlight is out', 'the streetlight flickers all night', 'broken streetlight on the corner', 'dark streetlight by the park'].map((text) => `${text},light`));
  const trainingFile = path.join(temporaryDir, 'reports.csv');
  writeFileSync(trainingFile, `text,label\n${Array.from({ length: 10 }, () => rows).flat().join('\n')}\n`);
  const categorize = localClassifier<{ report: string }, { category: string; confidence: number }>({
    name: 'report-category',
    trainingFile,
    labels: ['road', 'light'],
    modelFileOption: 'categoryModelFile',
    text: (input) => input.report,
    output: ({ label, confidence }) => ({ category: label, confidence }),
  });
  const ask = (input: unknown, model = localModel('local-small')) =>
    createLocalProvider().generate({ model, local: categorize, input, system: '', prompt: '', jsonSchema: {}, schemaName: 'categorize', temperature: 0 });

  it('trains from the file its definition names and answers with its own output and version', async () => {
    const response = await ask({ report: 'There is a pothole outside number 12' });
    expect(response.json).toEqual({ category: 'road', confidence: response.confidence });
    expect(response.confidence).toBeGreaterThan(0.5);
    expect(response.modelVersion).toMatch(/^report-category-lr@1:[0-9a-f]+$/);
    expect(((await ask({ report: 'the streetlight at the corner is out' })).json as { category: string }).category).toBe('light');
  });

  it('loads the saved model its option names, refuses one with other labels, and names a missing input or file', async () => {
    const saved = path.join(temporaryDir, 'report-category.json');
    saveClassifier(saved, trainSizedClassifier(loadLabelledFile(trainingFile), 'small'), 'report-category');
    const fromFile = await ask({ report: 'pothole' }, localModel('local-small', { categoryModelFile: saved }));
    expect(fromFile.modelVersion).toMatch(/^report-category-lr@1:/);
    const foreign = path.join(temporaryDir, 'relevance-as-category.json');
    saveClassifier(foreign, trainSizedClassifier(loadLabelledFile(demoDataFiles.relevance), 'small'), 'relevance');
    await expect(ask({ report: 'pothole' }, localModel('local-small', { categoryModelFile: foreign }))).rejects.toThrow(
      /a report-category model may only use the labels road, light; it has irrelevant, relevant/,
    );
    await expect(ask({ text: 'pothole' })).rejects.toThrow(
      new InvalidLocalInputError('input of station categorize: the classifier "report-category" found no text to classify (got undefined)'),
    );
    const missing = localClassifier({ ...categorize, trainingFile: path.join(temporaryDir, 'nowhere.csv') });
    await expect(
      createLocalProvider().generate({ model: localModel('local-small'), local: missing, input: { report: 'x' }, system: '', prompt: '', jsonSchema: {}, schemaName: 'categorize', temperature: 0 }),
    ).rejects.toThrow(`classifier "report-category": its training file ${path.join(temporaryDir, 'nowhere.csv')} does not exist`);
  });
});

describe('conveyor train', () => {
  const capture = () => {
    const lines = { stdout: [] as string[], stderr: [] as string[] };
    return { lines, out: { stdout: (s: string) => lines.stdout.push(s), stderr: (s: string) => lines.stderr.push(s) } };
  };
  const csvPath = path.join(temporaryDir, 'tickets.csv');
  writeFileSync(csvPath, readFileSync(demoDataFiles.intent, 'utf8').replace(/^text,label/, 'message,"intent, as labelled"'));

  it('trains from CSV with custom columns and prints a JSON summary', async () => {
    const { lines, out } = capture();
    const modelPath = path.join(temporaryDir, 'trained.json');
    const code = await trainCommand(
      ['--data', csvPath, '--text-column', 'message', '--label-column', 'intent, as labelled', '--model-size', 'small', '--out', modelPath, '--json'],
      out,
    );
    expect(code).toBe(0);
    const summary = JSON.parse(lines.stdout.join('')) as Record<string, unknown>;
    expect(summary).toMatchObject({ n: 480, trainSize: 432, testSize: 48, out: modelPath });
    expect(summary.labels).toHaveLength(10);
    expect(summary.accuracy).toBeGreaterThanOrEqual(0.85);
    expect(summary.accuracyAtTop80).toBeGreaterThanOrEqual(summary.accuracy as number);
    expect(loadClassifier(modelPath).model.labels).toEqual(summary.labels);
  });

  it('trains from JSONL', async () => {
    const jsonlPath = path.join(temporaryDir, 'tickets.jsonl');
    writeFileSync(jsonlPath, demoIntents.map((example) => JSON.stringify(example)).join('\n'));
    const { lines, out } = capture();
    expect(await trainCommand(['--data', jsonlPath, '--out', path.join(temporaryDir, 'jsonl.json'), '--json'], out)).toBe(0);
    expect(JSON.parse(lines.stdout.join(''))).toMatchObject({ n: 480 });
  });

  const emptyCsv = path.join(temporaryDir, 'empty.csv');
  writeFileSync(emptyCsv, 'text,label\n');
  const badInputs: [string, string[], RegExp][] = [
    ['a missing file', ['--data', path.join(temporaryDir, 'nope.csv'), '--out', 'x.json'], /data file not found: .*nope\.csv/],
    ['a missing column', ['--data', csvPath, '--out', 'x.json'], /no column "text" \(columns: "message", "intent, as labelled"\)/],
    ['empty data', ['--data', emptyCsv, '--out', 'x.json'], /no rows with both a text and a label/],
    ['an unknown flag', ['--data', csvPath, '--out', 'x.json', '--epochs', '3'], /Unknown option '--epochs'/],
    ['no --out', ['--data', csvPath], /missing --out/],
    ['a bad model size', ['--data', csvPath, '--out', 'x.json', '--model-size', 'huge'], /--model-size must be small, medium or large, not "huge"/],
  ];
  it.each(badInputs)('exits with code 2 on %s, naming the problem', async (_what, argv, message) => {
    const { lines, out } = capture();
    expect(await trainCommand(argv, out)).toBe(2);
    expect(lines.stderr.join('\n')).toMatch(message);
    expect(lines.stdout).toEqual([]);
  });
});

describe('token counting', () => {
  it('counts word runs and punctuation marks', () => {
    expect(countTokens('Refund order #A12345, please!')).toBe(7); // Refund order # A12345 , please !
    expect(countTokens('')).toBe(0);
  });
});
