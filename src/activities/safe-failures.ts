import { ApplicationFailure } from '@temporalio/common';
import { pgErrorIn, pgErrorText } from '../db/pg-error';

/**
 * An activity's error becomes a Temporal failure with its message, stack and causes, which for a
 * PostgreSQL error quote the data (src/db/pg-error.ts). Thrown from here, such an error is its
 * safe text only, with the type and retry of the failure it came in.
 */
export function withoutPgData(err: unknown): unknown {
  const pgErr = pgErrorIn(err);
  if (!pgErr) return err;
  const outer = err instanceof ApplicationFailure ? err : undefined;
  const failure = ApplicationFailure.create({
    message: outer && outer.message !== pgErr.message ? `${outer.message.split(':')[0]}: ${pgErrorText(pgErr)}` : pgErrorText(pgErr),
    type: outer?.type ?? 'DatabaseError',
    nonRetryable: outer?.nonRetryable ?? false,
    details: outer?.details ?? undefined,
  });
  // Its own stack would only name the lines of this file.
  failure.stack = `ApplicationFailure: ${failure.message}`;
  return failure;
}

/** The same activities, each throwing its PostgreSQL errors without their data. */
export function safeFailures<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw withoutPgData(err);
      }
    };
  }
  return wrapped as T;
}
