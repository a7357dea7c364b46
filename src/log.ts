import pino from 'pino';
import { prettyFactory } from 'pino-pretty';

const stderr = pino.destination({ fd: 2, sync: false });
let prettify: ((line: string) => string) | undefined;

/**
 * Where log lines go: stderr, as JSON lines (for log collectors), or as lines a person reads once
 * `prettyLogs()` was called.
 */
const destination = {
  write: (line: string) => stderr.write(prettify ? prettify(line) : line),
  flush: (cb: (err?: Error) => void) => stderr.flush(cb),
  flushSync: () => stderr.flushSync(),
};

/**
 * One structured logger. Logs go to stderr so `--json` output on stdout stays one clean document.
 * The redact list is a second line of defence: secrets are not logged on purpose anywhere.
 */
export const logger = pino(
  {
    level: process.env.LOG_LEVEL ?? 'info',
    base: { service: 'hooksync' },
    redact: {
      paths: ['url', '*.url', 'webhookSecret', '*.webhookSecret', 'webhook_secret', '*.webhook_secret', 'password', '*.password', 'signing_secret', '*.signing_secret', 'signingSecret', '*.signingSecret', 'headers.authorization', '*.headers.authorization'],
      censor: '[redacted]',
    },
  },
  destination,
);

/**
 * From now on, log lines for a person at a terminal (`hooksync dev`): time, level, message and
 * fields (in colour where the terminal has it). `hooksync api` and `hooksync worker` always log JSON.
 */
export function prettyLogs(): void {
  prettify = prettyFactory({ translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' });
}

/** Writes out what is buffered, now: for a process about to exit (the CLI). */
export function flushLogs(): void {
  try {
    destination.flushSync();
  } catch {
    // not open yet (nothing logged) or stderr gone: nothing to write
  }
}

export type Logger = typeof logger;
