/**
 * Headless Chromium for browser tests: the Debian package's binary (installed by
 * scripts/system-deps.sh, never downloaded), a fresh profile per launch, and no background traffic,
 * so a test sees only the pages it opens. `close()` also removes the throwaway profile.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const chromiumPath = process.env.CONVEYOR_CHROMIUM_PATH ?? '/usr/bin/chromium';

const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** True when the system Chromium is installed (tests skip with a reason otherwise). */
export function chromiumAvailable(): boolean {
  return fs.existsSync(chromiumPath);
}

export async function launchBrowser(options: { viewport?: { width: number; height: number } } = {}): Promise<TestBrowser> {
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    viewport: options.viewport ?? { width: 1440, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profileDir, { recursive: true, force: true });
    },
  };
}
