/** The one error shape of the service layer; the API sends it as `{code, detail}`, the CLI prints `detail`. */
export type ServiceErrorCode = 'invalid' | 'not_found' | 'verification_failed' | 'target_refused' | 'unavailable' | 'conflict';

const STATUS: Record<ServiceErrorCode, number> = {
  invalid: 400,
  not_found: 404,
  verification_failed: 422,
  target_refused: 422,
  unavailable: 503,
  conflict: 409,
};

export class ServiceError extends Error {
  override name = 'ServiceError';
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
  ) {
    super(message);
  }
  get status(): number {
    return STATUS[this.code];
  }
}

/** Database or Temporal unreachable: the caller may retry; nothing was changed. */
export function unavailable(what: string, err: unknown): ServiceError {
  return new ServiceError('unavailable', `${what} is unreachable: ${(err as Error)?.message ?? err}`);
}

/** A database error as the service layer answers it: unreachable (503) when the connection failed, else as it is. */
export function dbError(err: unknown): Error {
  if (err instanceof ServiceError) return err;
  const code = (err as { code?: string }).code;
  // Connection-level failures have no SQLSTATE (ECONNREFUSED…) or class 08 / 57P.
  if (!code || /^(08|57P)/.test(code) || /^E[A-Z]+$/.test(code)) return unavailable('PostgreSQL', err);
  return err as Error;
}
