/** What a PostgreSQL error says about what to do next, and how much of it may be repeated elsewhere. */

const sqlState = (err: unknown) => (err as { code?: string }).code ?? '';

/**
 * SQLSTATE class 22 (data exception), 23 (integrity constraint violation) and 54 (program limit
 * exceeded, e.g. a row or an index entry too large): the record is at fault and retrying won't
 * help; anything else (locks, timeouts, connections) will pass.
 */
export const isDataError = (err: unknown) => /^(22|23|54)/.test(sqlState(err));

/** No SQLSTATE, or class 08/57P: the connection itself failed, and the client cannot be used again. */
export const isConnectionError = (err: unknown) => !/^[0-9A-Z]{5}$/.test(sqlState(err)) || /^(08|57P)/.test(sqlState(err));
