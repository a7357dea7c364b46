import type { IncomingHttpHeaders } from 'node:http';

export type ColumnType = 'text' | 'bigint' | 'integer' | 'boolean' | 'timestamptz' | 'numeric';

/** A denormalized column: copied out of the resource so receivers and SQL users need not dig in `data`. */
export interface ColumnSpec {
  name: string;
  type: ColumnType;
  from: (resource: Record<string, unknown>) => unknown;
  index?: boolean;
}

/** One upstream change, reduced to what the upsert needs. Travels through Temporal, so keep it plain. */
export interface IngestRecord {
  /** The remote key (e.g. Stripe's `cus_…`). */
  key: string;
  /** The upstream's own timestamp for this version, ms since epoch; it decides which version wins. */
  ts: number;
  deleted: boolean;
  resource: Record<string, unknown>;
}

export type VerifyFailure = 'missing_signature' | 'malformed_signature' | 'bad_signature' | 'stale_signature' | 'no_secret';

export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure; message: string };

/** What the API does with a verified, parsed body. */
export type Interpretation =
  | { kind: 'record'; record: IngestRecord }
  | { kind: 'ignored'; eventType: string }
  | { kind: 'invalid'; message: string };

/**
 * An integration is data: how to verify a request, how to read the resource out of the event,
 * which columns to keep. The shared code in `sql.ts` and the ingest path own the algorithm.
 */
export interface IntegrationDescriptor {
  /** Name with a version suffix, e.g. `stripe_customer_v1`; also the table name's prefix. */
  service: string;
  /** Human names, for CLI output. */
  upstream: string;
  resource: string;
  remoteKeyColumn: string;
  /** The column holding the upstream timestamp that orders versions. */
  timestampColumn: string;
  columns: ColumnSpec[];
  /** How the webhook secret looks, for help texts (e.g. `whsec_…`). */
  secretExample: string;
  verify(rawBody: Buffer, headers: IncomingHttpHeaders, secret: string | null): VerifyResult;
  interpret(body: unknown): Interpretation;
  /** What to tell the user after creating an instance. */
  setupSteps(webhookUrl: string, integrationId: string): string[];
}
