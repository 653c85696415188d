/**
 * What an operator sees in the Temporal Web UI (served by the suite's embedded server), in a real
 * headless browser: a refund waiting for approval is found by filtering on ConveyorStatus, opens, and
 * shows the summary the workflow set on every activity call and Conveyor's search attributes. Its models
 * answer in process, so its model calls are local activities: their summaries ride on the markers that
 * record them, which the UI lists under User Metadata → Events with Metadata.
 * Screenshots land in test-output/ui-*.png.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { defaultPayloadConverter } from '@temporalio/common';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Page } from 'playwright-core';
import type { ConveyorClient } from '../client';
import { bundleConveyorWorkflows } from '../workers/worker';
import { launchBrowser, type TestBrowser } from './support/browser';
import { eventually, startWorker, testClient, testSettings, uniqueId, type RunningWorker } from './support/temporal';
import { chromiumMissing, missing } from './support/prerequisites';

const uiUrl = inject('temporalUiUrl');
const outputDir = path.resolve('test-output');
const spaTimeoutMs = 30_000;

let bundle: WorkflowBundleWithSourceMap;
let worker: RunningWorker;
let client: ConveyorClient;
let browser: TestBrowser;
let jobId: string;
/** The summaries the workflow attached to its activity calls (regular and local), read back from the history. */
let activitySummaries: string[];

async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(outputDir, { recursive: true });
  await page.screenshot({ path: path.join(outputDir, `ui-${name}.png`), fullPage: true });
}

/** The UI's workflow list, filtered by a visibility query exactly as the UI writes it in its own URL. */
function workflowListUrl(query: string): string {
  return `${uiUrl}/namespaces/${encodeURIComponent(inject('temporalNamespace'))}/workflows?query=${encodeURIComponent(query)}`;
}

const waitingQuery = () => `ConveyorStatus="awaiting_approval" AND WorkflowId="${jobId}"`;

async function openWaitingJob(page: Page): Promise<void> {
  await page.goto(workflowListUrl(waitingQuery()));
  const link = page.getByRole('link', { name: jobId, exact: true }).first();
  await link.waitFor({ state: 'visible', timeout: spaTimeoutMs });
  await link.click();
  await page.waitForURL(new RegExp(`/workflows/${jobId}/[0-9a-f-]+/history`), { timeout: spaTimeoutMs });
}

describe.skipIf(chromiumMissing() || missing('the Temporal Web UI', Boolean(uiUrl), 'the embedded server serves one; for a cluster set CONVEYOR_UI_URL'))('the Temporal Web UI in a browser', () => {
  beforeAll(async () => {
    bundle = await bundleConveyorWorkflows();
    const settings = testSettings(uniqueId('ui'));
    worker = await startWorker({ settings, bundle });
    client = await testClient(settings);
    jobId = uniqueId('ui-refund');
    await client.startJob({
      id: jobId,
      type: 'support-ticket',
      input: { text: 'I want a full refund of $849.00 for the laptop from order #F90001. It stopped working after two days.' },
    });
    // The UI reads the same visibility store: wait until the job is findable there.
    await eventually(async () => {
      for await (const execution of client.temporal.workflow.list({ query: waitingQuery() })) return execution;
      return undefined;
    }, 60_000);

    activitySummaries = [];
    const history = await client.temporal.workflow.getHandle(jobId).fetchHistory();
    for (const event of history.events ?? []) {
      const summary = event.userMetadata?.summary;
      if ((event.activityTaskScheduledEventAttributes || event.markerRecordedEventAttributes?.markerName === 'core_local_activity') && summary) {
        activitySummaries.push(defaultPayloadConverter.fromPayload<string>(summary));
      }
    }
    browser = await launchBrowser();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await client?.jobHandle(jobId).terminate('ui test finished').catch(() => undefined);
    await client?.close();
    await worker?.stop();
  });

  it('the job carries a "station · model (tier)" summary on each model call of its own, and names the opening steps its start answered', async () => {
    const modelCalls = activitySummaries.filter((summary) => / · \S+ \((small|medium|large)\)/.test(summary));
    const stations = modelCalls.map((summary) => summary.split(' · ')[0]);
    expect(stations).toEqual(expect.arrayContaining(['assess-risk', 'draft-reply', 'propose-action']));
    // The steps that read only the job's input were answered ahead by its start (engine v3): its summary
    // says so, and the job's details in the UI list every call with its model and tier.
    expect(activitySummaries.filter((summary) => summary.startsWith('start support-ticket:') && summary.includes('opening local steps'))).toHaveLength(1);
    const metadata = await client.temporal.workflow.getHandle(jobId).query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    for (const station of ['classify-intent', 'extract-entities', 'assess-risk', 'draft-reply', 'propose-action']) expect(metadata.currentDetails).toMatch(new RegExp(`: ${station} → \\S+ \\((small|medium|large)\\)`));
  });

  it('lists the job when filtered by ConveyorStatus = "awaiting_approval"', async () => {
    const page = await browser.context.newPage();
    try {
      await page.goto(workflowListUrl(waitingQuery()));
      const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: jobId, exact: true }) });
      await row.waitFor({ state: 'visible', timeout: spaTimeoutMs });
      await expect(row.innerText()).resolves.toMatch(/Running[\s\S]*factoryJobWorkflow/);
      await page.getByText('"awaiting_approval"').first().waitFor({ state: 'visible', timeout: spaTimeoutMs });
      await screenshot(page, 'list');

      // The same filter on a status the job does not have must not list it: the filter is real.
      await page.goto(workflowListUrl(`ConveyorStatus="completed" AND WorkflowId="${jobId}"`));
      await page.getByText('There are no results for the applied filters').first().waitFor({ state: 'visible', timeout: spaTimeoutMs });
      await expect(page.getByRole('link', { name: jobId, exact: true }).count()).resolves.toBe(0);
    } finally {
      await page.close();
    }
  });

  it('opens the job and shows every activity summary in its event history', async () => {
    const page = await browser.context.newPage();
    try {
      await openWaitingJob(page);
      await page.getByRole('heading', { name: 'Event History' }).waitFor({ state: 'visible', timeout: spaTimeoutMs });
      // The start (which answered intent and entities ahead) and the three later model calls.
      expect(activitySummaries.length).toBeGreaterThanOrEqual(4);
      await screenshot(page, 'history');
      // Local activities' summaries are listed with the events that carry metadata.
      await page.getByRole('link', { name: 'User Metadata' }).or(page.getByRole('tab', { name: 'User Metadata' })).first().click({ timeout: spaTimeoutMs });
      for (const summary of activitySummaries) {
        await page.getByText(summary, { exact: false }).first().waitFor({ state: 'visible', timeout: spaTimeoutMs });
      }
      await screenshot(page, 'history-events');
    } finally {
      await page.close();
    }
  });

  it("shows Conveyor's search attributes on the job", async () => {
    const page = await browser.context.newPage();
    try {
      await openWaitingJob(page);
      await page.getByRole('link', { name: 'Search Attributes' }).or(page.getByRole('tab', { name: 'Search Attributes' })).first().click({ timeout: spaTimeoutMs });
      await page.getByText('indexedFields').first().waitFor({ state: 'visible', timeout: spaTimeoutMs });
      const shown = await page.locator('main').innerText();
      expect(shown).toMatch(/"ConveyorStatus":\s*"awaiting_approval"/);
      expect(shown).toMatch(/"ConveyorJobType":\s*"support-ticket"/);
      expect(shown).toMatch(/"ConveyorTopTier":\s*"(small|medium|large)"/);
      expect(shown).toMatch(/"ConveyorCostUsd":\s*0\.\d+/);
      await screenshot(page, 'search-attributes');
    } finally {
      await page.close();
    }
  });
});
