import crypto from 'node:crypto';
import path from 'node:path';
import { stripeCustomerV1 } from '../src/integrations/stripe-customer-v1';
import type { ServiceDeps } from '../src/services/deps';
import { createIntegration } from '../src/services/integrations';
import { createTarget } from '../src/services/targets';
import { nextMessage, spawnNode, type Child } from '../test/support/children';
import { childEnv, withApplicationName, type Resources } from '../test/support/services';
import type { CpuMeter } from './cpu';
import type { LoadCommand, LoadReport } from './loadgen';
import type { Receiver } from './receiver';

/** What every phase measures with: the running stack, the receiver, the CPU meter, the log. */
export interface Bench {
  /** The service layer in this process (createIntegration, createTarget…), on the bench database. */
  deps: ServiceDeps;
  res: Resources;
  databaseUrl: string;
  apiUrl: string;
  metricsUrl: string;
  receiver: Receiver;
  cpu: CpuMeter;
  logDir: string;
  log: (msg: string) => void;
  /** The load generator, in its own process. */
  loadgen: Loadgen;
}

/** bench/<name>.ts in a process of its own, on the bench database, its CPU followed, stopped with the stack. */
export function spawnBaseline(b: Bench, name: string, env: Record<string, string> = {}, ipc = false): Child {
  const child = spawnNode({
    name,
    args: ['--import', 'tsx', path.join(__dirname, `${name}.ts`)],
    env: childEnv({ ...env, DATABASE_URL: withApplicationName(b.databaseUrl, name) }),
    logDir: b.logDir,
    ipc,
  });
  b.res.add(name, () => child.stop());
  b.cpu.track(name, child.pid);
  return child;
}

/** A Stripe customer integration of its own, with a fresh signing secret. */
export async function stripeIntegration(b: Bench) {
  const secret = `whsec_${crypto.randomBytes(24).toString('base64url')}`;
  return { secret, integration: await createIntegration(b.deps, { service: stripeCustomerV1.service, webhookSecret: secret }) };
}

/** A target delivering to the receiver; an interval target syncs at once, then hourly. */
export function receiverTarget(b: Bench, integrationId: string, pageSize: number, mode: 'interval' | 'on_insert') {
  return createTarget(b.deps, integrationId, { url: b.receiver.url, periodSeconds: 3600, pageSize, timeoutSeconds: 60, mode });
}

export type Loadgen = Awaited<ReturnType<typeof startLoadgen>>;

/** bench/loadgen.ts in its own process (its CPU followed as `loadgen`, counted for neither system). */
export async function startLoadgen(b: Pick<Bench, 'res' | 'cpu' | 'logDir' | 'databaseUrl'>) {
  const child = spawnBaseline(b as Bench, 'loadgen', {}, true);
  await nextMessage(child, (m) => (m?.ready ? true : undefined), 60_000);
  let seq = 0;
  return {
    child,
    /** One run of senders; resolves with its report once the last answer is in. */
    run(cmd: LoadCommand, timeoutMs = 15 * 60_000): Promise<LoadReport> {
      const id = ++seq;
      const answered = nextMessage<LoadReport | Promise<never>>(
        child,
        (m) => (m?.id !== id ? undefined : m.error ? Promise.reject(new Error(`loadgen: ${m.error}`)) : m.result),
        timeoutMs,
      );
      child.proc.send({ id, run: cmd });
      return answered as Promise<LoadReport>;
    },
  };
}

/** A wall-clock time (epoch ms) from another process as this process's performance.now(). */
export const localTime = (epochMs: number) => epochMs - performance.timeOrigin;
