import { SingleBar } from 'cli-progress';
import type { Services } from '../src/api/operations';
import { ServiceError } from '../src/services/errors';
import type { TargetInfo } from '../src/services/target-info';
import { formatDuration } from '../src/text/format';
import { renderInfo } from './render';

const CSI = '\x1b[';
const HIDE_CURSOR = `${CSI}?25l`;
const SHOW_CURSOR = `${CSI}?25h`;
const HOME = `${CSI}H`;
const CLEAR_SCREEN = `${CSI}2J`;
const CLEAR_LINE_END = `${CSI}K`;
const CLEAR_SCREEN_END = `${CSI}J`;

/** Rows per minute over the samples (the last 15 s of this drain); undefined until there are a few seconds of them. */
function rateOf(samples: Array<[number, number]>): number | undefined {
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (!first || !last || last[0] - first[0] < 2_000) return undefined;
  return Math.max(0, ((last[1] - first[1]) / (last[0] - first[0])) * 60_000);
}

/** The bar's last field: how long the backlog still takes, or why it does not move. */
function timeLeft(waiting: number, rate: number | undefined, info: TargetInfo): string {
  if (waiting === 0) return 'done';
  if (info.paused) return 'paused';
  if (info.state === 'retrying') return 'retrying';
  if (rate) return `about ${formatDuration((waiting / rate) * 60_000)} left`;
  return info.state === 'waiting' ? 'waiting for the next sync' : 'starting';
}

/**
 * `httpsync status --watch`: redraws the info view every interval (in place on a terminal; one
 * view after another through a pipe) and, while rows are waiting, a cli-progress bar of the
 * backlog draining. Ctrl-C (SIGINT) or SIGTERM ends it cleanly: the cursor is shown again and the
 * command exits 0. A target deleted meanwhile ends it with an error.
 */
export async function watchStatus(services: Services, id: string, everySeconds: number): Promise<void> {
  // --interval 0 would query as fast as it can; once a second is as fresh as anyone reads.
  const intervalSeconds = Math.max(1, everySeconds);
  const out = process.stdout;
  const tty = Boolean(out.isTTY);
  let stopped = false;
  let wake: () => void = () => {};
  const stop = () => {
    stopped = true;
    wake();
  };
  // A closed pipe (`… | head`) ends the watch as quietly as Ctrl-C.
  const onOutputError = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') stop();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  out.on('error', onOutputError);

  const bar = new SingleBar({
    // {rate} and {left} are ours: the rate from the database's page-by-page progress, not from
    // the bar's updates, which come once per redraw.
    format: 'backlog [{bar}] {percentage}% | {value}/{total} rows | {rate} | {left}',
    barCompleteChar: '█',
    barIncompleteChar: '░',
    barsize: 30,
    stream: out,
    // The frame is ours: the bar draws when we say (forceRedraw, after each view), never on its own
    // timer in a pipe, and leaves the cursor and line wrapping to us.
    forceRedraw: true,
    noTTYOutput: true,
    notTTYSchedule: 3_600_000,
    hideCursor: false,
    linewrap: true,
    gracefulExit: false,
    clearOnComplete: false,
  });
  let barActive = false;
  // The bar's 100% is the backlog when draining started plus whatever arrived since.
  let drain: { startDelivered: number; total: number } | undefined;
  const samples: Array<[number, number]> = [];

  const write = (text: string) => {
    if (!out.writable) return;
    out.write(text);
  };
  const draw = (lines: string[]) => {
    // Over the previous frame: each line cleared to its end, and whatever is below it, so a
    // shorter frame leaves nothing of the last one behind.
    if (tty) write(HOME + lines.join('\n').split('\n').map((l) => l + CLEAR_LINE_END).join('\n') + '\n' + CLEAR_SCREEN_END);
    else write(lines.join('\n') + '\n');
  };

  if (tty) write(HIDE_CURSOR + CLEAR_SCREEN);
  try {
    while (!stopped) {
      const header = `hooksync httpsync status ${id} · ${new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} · every ${intervalSeconds} s · Ctrl-C to stop`;
      let info: TargetInfo | undefined;
      // The bar follows the database's page-by-page record: the workflow's figures (what `info`
      // shows) move only when a delivery activity returns, every few seconds while a backlog drains.
      let live: { delivered: number; waiting: number } | undefined;
      let problem: string | undefined;
      try {
        const params = { params: { id } };
        const [i, p] = await Promise.all([services.call('getTarget', params), services.call('getTargetProgress', params)]);
        [info, live] = [i, { delivered: p.rows_delivered, waiting: p.rows_waiting }];
      } catch (err) {
        // Gone for good: end with the error. Anything else (the database restarting): keep trying.
        if (err instanceof ServiceError && err.code === 'not_found') throw err;
        problem = (err as Error).message;
      }
      if (stopped) break;
      if (!info || problem) {
        draw([header, '', `could not read the target (${problem ?? 'unknown error'}); trying again in ${intervalSeconds} s`]);
      } else {
        draw([header, '', renderInfo(info, { width: tty ? out.columns : undefined })]);
        if (live) {
          if (live.waiting > 0 && !drain) {
            drain = { startDelivered: live.delivered, total: live.waiting };
            // The rate of this drain: not diluted by the idle time before it.
            samples.length = 0;
          }
          samples.push([Date.now(), live.delivered]);
          while (samples.length > 2 && samples[0]![0] < Date.now() - 15_000) samples.shift();
          if (drain) {
            const done = Math.max(0, live.delivered - drain.startDelivered);
            drain.total = Math.max(drain.total, done + live.waiting, 1);
            const rate = rateOf(samples) ?? info.rows_per_minute ?? undefined;
            const payload = {
              rate: rate === undefined ? '– rows/min' : `${Math.round(rate).toLocaleString('en-US')} rows/min`,
              left: timeLeft(live.waiting, rate, info),
            };
            if (!barActive) {
              bar.start(drain.total, Math.min(done, drain.total), payload);
              barActive = true;
            } else {
              bar.setTotal(drain.total);
              bar.update(Math.min(done, drain.total), payload);
              bar.render();
            }
            if (live.waiting === 0) {
              // Drained: the bar ends at 100% and the next view goes without it.
              bar.update(drain.total, payload);
              bar.stop();
              barActive = false;
              drain = undefined;
              if (tty) write(HIDE_CURSOR);
            }
          }
        }
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalSeconds * 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (stopped) wake();
      });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    if (barActive) bar.stop();
    if (tty) write(SHOW_CURSOR);
    write('\n');
    out.off('error', onOutputError);
  }
}
