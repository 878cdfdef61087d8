/**
 * Real Chromium for the browser e2e tests: the Debian `chromium` package driven by playwright-core
 * (never a downloaded browser). Missing Chromium fails the suite in CI (`CI` set to anything but
 * '', 'false' or '0') and skips it elsewhere, with the install hint. `isCI` is what every harness
 * (redis.ts, haproxy.ts) asks; playwright-core is loaded only by `launchBrowser`, so the suites that
 * import this module for `isCI` alone (the Redis engine tests, the benchmarks) do not pay for it.
 */
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_INSTALL_HINT = 'chromium is not installed: apt-get install -y chromium';

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

/** Whether we run in CI: `CI` set and not empty, 'false' or '0' (CI=false is how one says "not CI"). */
export function isCI(env: Record<string, string | undefined> = process.env): boolean {
  const ci = env.CI?.trim().toLowerCase();
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

/** For `describe.skipIf(skipWithoutChromium())`: false when Chromium is there; throws in CI; true (skip) otherwise. */
export function skipWithoutChromium(): boolean {
  if (chromiumAvailable()) return false;
  if (isCI()) throw new Error(`${CHROMIUM_INSTALL_HINT} (required in CI)`);
  console.warn(`skipping browser tests: ${CHROMIUM_INSTALL_HINT}`);
  return true;
}

export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
