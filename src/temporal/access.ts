import fs from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import type { Config } from '../config';

/** How to reach a Temporal server that wants TLS, mTLS or an API key (Temporal Cloud, a TLS cluster). */
export interface TemporalAccess {
  tls?: TLSConfig;
  apiKey?: string;
}

type AccessSettings = Pick<
  Config,
  'TEMPORAL_TLS' | 'TEMPORAL_TLS_CERT' | 'TEMPORAL_TLS_KEY' | 'TEMPORAL_TLS_CA' | 'TEMPORAL_TLS_SERVER_NAME' | 'TEMPORAL_API_KEY'
>;

/**
 * The TLS and API key options of the configuration, for the client and the worker alike. TLS is on
 * when asked for, when any certificate is given, and with an API key (which must not travel in the
 * clear). Certificates and keys are file paths or the PEM text itself (as secret stores hand them out).
 */
export function temporalAccess(cfg: AccessSettings): TemporalAccess {
  const access: TemporalAccess = {};
  if (cfg.TEMPORAL_API_KEY) access.apiKey = cfg.TEMPORAL_API_KEY;
  const wantsTls = cfg.TEMPORAL_TLS || !!(cfg.TEMPORAL_TLS_CERT || cfg.TEMPORAL_TLS_KEY || cfg.TEMPORAL_TLS_CA || cfg.TEMPORAL_TLS_SERVER_NAME || cfg.TEMPORAL_API_KEY);
  if (!wantsTls) return access;
  const tls: TLSConfig = {};
  if (cfg.TEMPORAL_TLS_CA) tls.serverRootCACertificate = pem('TEMPORAL_TLS_CA', cfg.TEMPORAL_TLS_CA);
  if (cfg.TEMPORAL_TLS_CERT && cfg.TEMPORAL_TLS_KEY) {
    tls.clientCertPair = { crt: pem('TEMPORAL_TLS_CERT', cfg.TEMPORAL_TLS_CERT), key: pem('TEMPORAL_TLS_KEY', cfg.TEMPORAL_TLS_KEY) };
  }
  if (cfg.TEMPORAL_TLS_SERVER_NAME) tls.serverNameOverride = cfg.TEMPORAL_TLS_SERVER_NAME;
  access.tls = tls;
  return access;
}

/** PEM text as given, or read from the file it names; the error names the variable, never its value. */
function pem(variable: string, value: string): Buffer {
  if (value.includes('-----BEGIN ')) return Buffer.from(value.replace(/\\n/g, '\n'));
  let text: Buffer;
  try {
    text = fs.readFileSync(value);
  } catch (err) {
    throw new Error(`${variable}: cannot read ${value} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give a file path or the PEM text`);
  }
  if (!text.includes('-----BEGIN ')) throw new Error(`${variable}: ${value} is not a PEM file`);
  return text;
}
