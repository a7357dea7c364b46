import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import type { Logger } from '../log';

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * What the SDK's bundler says when the worker bundles the workflow code at start-up (the sources,
 * not a prebuilt bundle): the bundle's size and webpack's report of every module in it. Of use
 * when debugging the bundle, noise in the log of a starting worker.
 */
export function isBundlerReport(message: string): boolean {
  return message === 'Workflow bundle created' || /\bwebpack [\d.]+ compiled\b/.test(message);
}

/**
 * The Temporal SDK's logs (worker, workflow and activity loggers) as pino JSON. Their metadata
 * (workflowId, activityType, …) becomes fields, so a target's lines carry its workflow id.
 */
export function temporalLogger(log: Logger): TemporalLogger {
  const write = (level: LogLevel, message: string, meta?: LogMetadata) => {
    const pinoLevel = level === 'INFO' && isBundlerReport(message) ? 'debug' : LEVELS[level];
    if (!log.isLevelEnabled(pinoLevel)) return;
    // The task token is an opaque credential for completing the activity: of no use in a log line.
    const { taskToken: _token, ...fields } = meta ?? {};
    log[pinoLevel](fields, message);
  };
  return {
    log: write,
    trace: (m, meta) => write('TRACE', m, meta),
    debug: (m, meta) => write('DEBUG', m, meta),
    info: (m, meta) => write('INFO', m, meta),
    warn: (m, meta) => write('WARN', m, meta),
    error: (m, meta) => write('ERROR', m, meta),
  };
}
