import pino from 'pino';

/**
 * One structured logger. Logs go to stderr so `--json` output on stdout stays one clean document.
 * The redact list is a second line of defence: secrets are not logged on purpose anywhere.
 */
const destination = pino.destination({ fd: 2, sync: false });

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

/** Writes out what is buffered, now: for a process about to exit (the CLI). */
export function flushLogs(): void {
  try {
    destination.flushSync();
  } catch {
    // not open yet (nothing logged) or stderr gone: nothing to write
  }
}

export type Logger = typeof logger;
