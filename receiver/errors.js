'use strict';

/**
 * Why a POST is not a page hooksync sent: `reason` is one of `missing_headers`, `bad_signature`,
 * `stale_timestamp` (all answered 401) or `invalid_page` (signed, but not a page: answered 400).
 */
class PageVerificationError extends Error {
  constructor(reason, message) {
    super(message);
    this.name = 'PageVerificationError';
    this.reason = reason;
    this.status = reason === 'invalid_page' ? 400 : 401;
  }
}

module.exports = { PageVerificationError };
