import ipaddr from 'ipaddr.js';

/** A target URL carries Basic Auth credentials in its user info; these helpers keep them contained. */

/**
 * HOOKSYNC_ALLOW_HTTP: plain http nowhere (production), everywhere (`1`), or only to this machine
 * (`loopback`, what `hooksync dev` sets: localhost, 127.0.0.0/8 and ::1).
 */
export type AllowHttp = boolean | 'loopback';

/** Whether a plain-http URL to `hostname` (as URL.hostname has it: IPv6 in brackets) is allowed. */
export function plainHttpAllowed(hostname: string, allow: AllowHttp): boolean {
  if (allow !== 'loopback') return allow;
  const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (host === 'localhost') return true;
  if (!ipaddr.isValid(host)) return false;
  const addr = ipaddr.parse(host);
  return addr.kind() === 'ipv4' ? addr.range() === 'loopback' : addr.toNormalizedString() === '0:0:0:0:0:0:0:1';
}

/** Why a plain-http URL was refused, for error messages. */
export function plainHttpRefusal(allow: AllowHttp): string {
  return allow === 'loopback'
    ? 'plain http only to localhost, 127.0.0.0/8 and ::1 (HOOKSYNC_ALLOW_HTTP=loopback, as `hooksync dev` runs), or anywhere with HOOKSYNC_ALLOW_HTTP=1'
    : 'plain http only when the server runs with HOOKSYNC_ALLOW_HTTP=1';
}

export interface TargetUrl {
  /** The URL without user info: what is requested. */
  endpoint: string;
  /** `Basic …` from the user info. */
  authorization: string;
  /** `https://***:***@host/path`, safe to print and to store in Temporal. */
  masked: string;
  host: string;
}

export class TargetUrlError extends Error {
  override name = 'TargetUrlError';
}

export function parseTargetUrl(raw: string, opts: { allowHttp: AllowHttp }): TargetUrl {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new TargetUrlError('not a valid URL (expected https://user:password@host/path)');
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && plainHttpAllowed(u.hostname, opts.allowHttp))) {
    throw new TargetUrlError(
      u.protocol === 'http:'
        ? `the URL must use https (${plainHttpRefusal(opts.allowHttp)})`
        : `the URL must use https, not ${u.protocol.replace(':', '')}`,
    );
  }
  if (!u.username || !u.password) {
    throw new TargetUrlError('the URL must carry Basic Auth credentials, like https://user:password@host/path');
  }
  const user = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  u.hash = '';
  const endpoint = u.toString();
  // `https://host` reads better than `https://host/` when the path is empty.
  const shown = u.pathname === '/' && !u.search ? endpoint.slice(0, -1) : endpoint;
  return {
    endpoint,
    authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64'),
    masked: shown.replace(/^(https?:\/\/)/, '$1***:***@'),
    host: u.host,
  };
}

/** Masks whatever is stored, even a URL that would no longer parse. */
export function maskUrl(raw: string): string {
  try {
    return parseTargetUrl(raw, { allowHttp: true }).masked;
  } catch {
    return raw.replace(/\/\/[^@/]*@/, '//***:***@');
  }
}
