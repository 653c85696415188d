/**
 * City hotline: calls to a city's non-emergency line, as a team outside Conveyor writes its factory —
 * with the package's public exports only.
 *
 *   classify-call (small)         urgency and department, from a classifier trained on data/calls-labelled.csv
 *   extract-details (medium)      where it is and what happened
 *   write-dispatch-note (large)   the note the department's crew reads
 *   file-ticket (action)          files the ticket in the ticketing system as a signed webhook (receiver.ts
 *                                 is one) — after a dispatcher approves a high-urgency call, or a call the
 *                                 classifier was unsure of
 *
 * Offline every station answers without a network: the classifier the engine trains from the labelled
 * file, and this file's own rules and template for the other two. With OPENAI_BASE_URL (or another
 * provider in a models file) the same stations run on real models, with the prompts below.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineFactory, defineJobType, defineStation, localClassifier, webhookAction, z } from 'conveyor';

const here = path.dirname(fileURLToPath(import.meta.url));

export const departments = ['roads', 'water', 'noise', 'sanitation'] as const;
export const urgencies = ['low', 'high'] as const;
type Department = (typeof departments)[number];
type Urgency = (typeof urgencies)[number];
/** The classifier's labels: `<department>-<urgency>`, e.g. `water-high`. */
const categories = departments.flatMap((department) => urgencies.map((urgency) => `${department}-${urgency}`));

const call = z.object({ transcript: z.string().trim().min(1).max(20_000), caller: z.string().optional() });

const classified = z.object({
  category: z.string().min(1),
  department: z.enum(departments),
  urgency: z.enum(urgencies),
  confidence: z.number().min(0).max(1),
});

const classifyCall = defineStation({
  name: 'classify-call',
  description: 'Rates the urgency of a call and picks the department that handles it.',
  input: z.object({ transcript: z.string().min(1) }),
  output: classified,
  defaultTier: 'small',
  confidenceThreshold: 0.6,
  confidence: { from: 'field', field: 'confidence' },
  maxOutputTokens: 80,
  learnable: { label: 'category', text: 'transcript' },
  local: localClassifier<{ transcript: string }, z.infer<typeof classified>>({
    name: 'hotline-category',
    trainingFile: path.join(here, 'data', 'calls-labelled.csv'),
    labels: categories,
    modelFileOption: 'hotlineModelFile',
    text: (input) => input.transcript,
    output: ({ label, confidence }) => {
      const [department, urgency] = label.split('-') as [Department, Urgency];
      return { category: label, department, urgency, confidence };
    },
  }),
  prompt: (input) => ({
    system:
      `You triage calls to a city's non-emergency line. Answer as JSON: category ("<department>-<urgency>"), ` +
      `department (${departments.join(' | ')}), urgency (low | high: high when people, homes or traffic are at risk now), confidence in [0, 1].`,
    user: input.transcript,
  }),
});

const details = z.object({ location: z.string().min(1), incident: z.string().min(1) });

/** Offline: the place named after "on", "at", "in", "by", "outside" or "near", and the call's first sentence. */
function detailsByRules(transcript: string): z.infer<typeof details> {
  const place = /\b(?:on|at|in|by|outside|near|across|under)\s+((?:the\s+)?[a-z0-9' ]+?(?:street|road|avenue|lane|drive|court|grove|square|park|bridge|junction|station|highway ramp|car park|alley|school|hospital|clinic|library|estate))\b/i.exec(transcript);
  const incident = transcript.split(/(?<=[.!?])\s/)[0]!.trim();
  return { location: place?.[1]?.trim() ?? 'not given', incident: incident.length > 160 ? `${incident.slice(0, 159)}…` : incident };
}

const extractDetails = defineStation({
  name: 'extract-details',
  description: 'Finds where the incident is and says what happened in one line.',
  input: z.object({ transcript: z.string().min(1) }),
  output: details,
  defaultTier: 'medium',
  confidenceThreshold: 0.5,
  confidence: { from: 'model', otherwise: 0.9 },
  maxOutputTokens: 120,
  local: (input) => ({ output: detailsByRules(input.transcript), modelVersion: 'hotline-details-rules@1' }),
  prompt: (input) => ({
    system: 'From a call to the city, extract as JSON: location (the street or place, or "not given") and incident (one line).',
    user: input.transcript,
  }),
});

const noteInput = z.object({ department: z.enum(departments), urgency: z.enum(urgencies), location: z.string(), incident: z.string() });
const note = z.object({ title: z.string().min(1).max(120), body: z.string().min(1).max(2_000) });

const writeDispatchNote = defineStation({
  name: 'write-dispatch-note',
  description: "Writes the note the department's crew reads.",
  input: noteInput,
  output: note,
  defaultTier: 'large',
  confidenceThreshold: 0.5,
  confidence: { from: 'model', otherwise: 0.9 },
  maxOutputTokens: 400,
  local: (input) => ({
    output: {
      title: `${input.urgency === 'high' ? 'URGENT ' : ''}${input.department}: ${input.location}`,
      body: `Caller reports: ${input.incident}\nLocation: ${input.location}\nPriority: ${input.urgency}.`,
    },
    modelVersion: 'hotline-note-template@1',
  }),
  prompt: (input) => ({
    system: `Write a dispatch note for the ${input.department} crew as JSON: title (under 120 characters), body (what, where, how urgent).`,
    user: JSON.stringify(input),
  }),
});

const ticket = z.object({ department: z.enum(departments), urgency: z.enum(urgencies), location: z.string(), note });

// The ticketing system's webhook: HOTLINE_TICKETS_URL, signed with the whsec_… secret in HOTLINE_TICKETS_SECRET.
// Every retry carries the same webhook-id (<jobId>:file), so the receiver files each ticket once.
const fileTicket = webhookAction({
  name: 'file-ticket',
  description: "Files the ticket in the department's queue.",
  proposal: ticket,
  url: process.env.HOTLINE_TICKETS_URL ?? 'http://127.0.0.1:8787/tickets',
  secretEnv: 'HOTLINE_TICKETS_SECRET',
  settings: z.object({ reviewHighUrgency: z.boolean().default(true), minClassifyConfidence: z.number().min(0).max(1).default(0.75) }),
  sensitivity: (proposal, settings, job) => {
    if (proposal.urgency === 'high' && settings.reviewHighUrgency) return `a high-urgency ${proposal.department} call: a dispatcher checks it before the crew is sent`;
    const confidence = job.confidences.classify;
    if (typeof confidence === 'number' && confidence < settings.minClassifyConfidence) {
      return `the call was classified with confidence ${confidence.toFixed(2)}, below ${settings.minClassifyConfidence}: a dispatcher checks the department`;
    }
    return undefined;
  },
});

const hotlineCall = defineJobType({
  name: 'hotline-call',
  description: 'classify (small) → details (medium) → dispatch note (large) → file the ticket, after a dispatcher approves when urgent or unsure',
  input: call,
  recipe: {
    steps: [
      { id: 'classify', station: 'classify-call', inputs: { transcript: '$job.transcript' } },
      { id: 'details', station: 'extract-details', inputs: { transcript: '$job.transcript' } },
      {
        id: 'note',
        station: 'write-dispatch-note',
        inputs: { department: '$steps.classify.department', urgency: '$steps.classify.urgency', location: '$steps.details.location', incident: '$steps.details.incident' },
      },
      {
        id: 'file',
        action: 'file-ticket',
        proposal: { department: '$steps.classify.department', urgency: '$steps.classify.urgency', location: '$steps.details.location', note: '$steps.note' },
      },
    ],
  },
  policy: {
    budgetUsd: 0.05,
    approval: { reviewers: ['dispatcher', 'supervisor'], escalationReviewers: ['supervisor'], timeoutMs: 4 * 60 * 60_000, onTimeout: 'escalate' },
    actions: { 'file-ticket': { reviewHighUrgency: true, minClassifyConfidence: 0.75 } },
  },
  summarize: (input) => `hotline: ${input.transcript.slice(0, 60)}`,
});

export default defineFactory({
  name: 'city-hotline',
  version: '1.0.0',
  stations: [classifyCall, extractDetails, writeDispatchNote],
  actions: [fileTicket],
  jobTypes: [hotlineCall],
});
