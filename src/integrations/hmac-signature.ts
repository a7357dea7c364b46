import crypto from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { HmacConfig } from './hmac-config';
import type { VerifyResult } from './types';

type SignatureSettings = Pick<HmacConfig, 'signature_header' | 'algorithm' | 'encoding' | 'signature_prefix' | 'signed_payload' | 'timestamp_header' | 'tolerance'>;

const DIGEST_BYTES = { sha1: 20, sha256: 32, sha512: 64 } as const;
const FORMAT = { hex: /^[0-9a-fA-F]+$/, base64: /^[A-Za-z0-9+/]+={0,2}$/ } as const;

const header = (headers: IncomingHttpHeaders, name: string) => {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
};

/** The bytes the sender signs: the template with the timestamp header's value and the exact body. */
function signedBytes(template: string, rawBody: Buffer, timestamp: string | undefined): Buffer {
  const [before, after] = template.split('{body}') as [string, string];
  const fill = (s: string) => Buffer.from(s.replace('{timestamp}', timestamp ?? ''), 'utf8');
  return Buffer.concat([fill(before), rawBody, fill(after)]);
}

/** The digest the sender would send, unencoded. */
export function hmacDigest(s: SignatureSettings, secret: string, rawBody: Buffer, timestamp?: string): Buffer {
  return crypto.createHmac(s.algorithm, secret).update(signedBytes(s.signed_payload, rawBody, timestamp)).digest();
}

/** The signature header's value, as the sender makes it (`send-test-event`). */
export function hmacSignature(s: SignatureSettings, secret: string, rawBody: Buffer, timestamp?: string): string {
  return s.signature_prefix + hmacDigest(s, secret, rawBody, timestamp).toString(s.encoding);
}

/** A signature timestamp in ms: Unix seconds (digits) or ISO-8601 (Zendesk's), else undefined. */
export function signatureTime(v: string): number | undefined {
  if (/^\d{1,12}$/.test(v)) return Number(v) * 1000;
  if (!/^\d{4}-\d{2}-\d{2}T/.test(v)) return undefined;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Any HMAC signature of the raw body (with a timestamp when the template holds one), compared in
 * constant time on the decoded bytes. A timestamp farther than the tolerance from now is refused,
 * so a captured request cannot be replayed later.
 */
export function verifyHmac(s: SignatureSettings, rawBody: Buffer, headers: IncomingHttpHeaders, secret: string | null, now = Date.now()): VerifyResult {
  const given = header(headers, s.signature_header);
  const timestamped = s.signed_payload.includes('{timestamp}');
  const timestamp = timestamped && s.timestamp_header ? header(headers, s.timestamp_header) : undefined;
  if (!given) return { ok: false, reason: 'missing_signature', message: `missing ${s.signature_header} header` };
  if (timestamped && !timestamp) return { ok: false, reason: 'missing_signature', message: `missing ${s.timestamp_header} header` };
  if (!secret) {
    return { ok: false, reason: 'no_secret', message: 'this integration has no webhook secret yet; set it with `hooksync integrations update <id> --webhook-secret …`' };
  }
  const encoded = given.trim();
  if (!encoded.startsWith(s.signature_prefix)) return { ok: false, reason: 'malformed_signature', message: `${s.signature_header} does not start with ${s.signature_prefix}` };
  const text = encoded.slice(s.signature_prefix.length);
  const bytes = FORMAT[s.encoding].test(text) ? Buffer.from(text, s.encoding) : undefined;
  if (!bytes || bytes.length !== DIGEST_BYTES[s.algorithm]) {
    return { ok: false, reason: 'malformed_signature', message: `${s.signature_header} is not the ${s.encoding} of an HMAC-${s.algorithm.toUpperCase()}` };
  }
  if (timestamp !== undefined) {
    const at = signatureTime(timestamp);
    if (at === undefined) return { ok: false, reason: 'malformed_signature', message: `${s.timestamp_header} is neither Unix seconds nor an ISO-8601 time` };
    if (Math.abs(now - at) > (s.tolerance ?? 300) * 1000) {
      return { ok: false, reason: 'stale_signature', message: `${s.timestamp_header} is more than ${s.tolerance ?? 300} seconds away from now` };
    }
  }
  const expected = hmacDigest(s, secret, rawBody, timestamp);
  return crypto.timingSafeEqual(bytes, expected) ? { ok: true } : { ok: false, reason: 'bad_signature', message: `${s.signature_header} does not match the payload` };
}
