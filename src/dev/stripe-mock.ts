import path from 'node:path';
import fs from 'node:fs';
import { buildIntoPlace, findGo, goInstall } from './go-build';
import { findOnPath, isExecutable } from './child-processes';
import { cacheDir } from './temporal-server';

/**
 * stripe-mock, Stripe's own mock of its API (built from its OpenAPI description), for the backfill
 * tests: $STRIPE_MOCK_PATH, `stripe-mock` on PATH, the cached build, or else a Go build of the
 * pinned version into the cache (`go install`, through the Go module proxy only).
 */

export const STRIPE_MOCK_VERSION = 'v0.203.0';
const MODULE = 'github.com/stripe/stripe-mock';

export async function findStripeMock(log: (msg: string) => void): Promise<string | undefined> {
  const fromEnv = process.env.STRIPE_MOCK_PATH;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    log(`STRIPE_MOCK_PATH=${fromEnv} is not an executable; looking elsewhere`);
  }
  const onPath = findOnPath('stripe-mock');
  if (onPath) return onPath;
  const dir = path.join(cacheDir(), `stripe-mock-${STRIPE_MOCK_VERSION}`);
  const cached = path.join(dir, 'stripe-mock');
  if (isExecutable(cached)) return cached;
  const go = findGo();
  if (!go) return undefined;
  log(`Building stripe-mock ${STRIPE_MOCK_VERSION} with Go into ${dir}…`);
  const built = await buildIntoPlace(dir, (into) => goInstall(go, [`${MODULE}@${STRIPE_MOCK_VERSION}`], into, `stripe-mock ${STRIPE_MOCK_VERSION}`, log), log);
  return built && fs.existsSync(cached) ? cached : undefined;
}
