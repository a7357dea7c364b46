import { SingleBar } from 'cli-progress';
import type { ServiceDeps } from '../src/services/deps';
import { targetInfo } from '../src/services/targets';
import { renderInfo } from './render';

/**
 * `httpsync status --watch`: redraws the info view every interval; while a backlog drains, a
 * progress bar shows how much of it has been delivered. Ctrl-C stops cleanly.
 */
export async function watchStatus(deps: ServiceDeps, id: string, intervalSeconds: number): Promise<void> {
  let stopped = false;
  let wake: () => void = () => {};
  const stop = () => {
    stopped = true;
    wake();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const out = process.stdout;
  const bar = new SingleBar(
    { format: 'backlog  [{bar}] {percentage}% | {value}/{total} rows | {rate} rows/min', hideCursor: true, clearOnComplete: false, stream: out, noTTYOutput: true, notTTYSchedule: intervalSeconds * 1000 },
  );
  // The bar's total is the backlog when draining started plus what arrived since.
  let drain: { startDelivered: number; total: number } | undefined;
  try {
    while (!stopped) {
      const info = await targetInfo(deps, id);
      const delivered = info.rows_delivered;
      if (info.rows_waiting > 0 && !drain) drain = { startDelivered: delivered, total: info.rows_waiting };
      if (drain) drain.total = Math.max(drain.total, delivered - drain.startDelivered + info.rows_waiting);
      out.write(out.isTTY ? '\x1b[H\x1b[2J' : '\n');
      out.write(`hooksync httpsync status ${id}: ${new Date().toISOString()} (Ctrl-C to stop)\n`);
      out.write(renderInfo(info) + '\n');
      if (drain) {
        const done = delivered - drain.startDelivered;
        bar.start(drain.total, done, { rate: info.rows_per_minute ?? '–' });
        bar.update(done, { rate: info.rows_per_minute ?? '–' });
        bar.render();
        bar.stop();
        if (info.rows_waiting === 0) drain = undefined;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, intervalSeconds * 1000);
      });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    out.write('\n');
  }
}
