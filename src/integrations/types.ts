import type { IncomingHttpHeaders } from 'node:http';
import type { z } from 'zod';

export type ColumnType = 'text' | 'bigint' | 'integer' | 'boolean' | 'timestamptz' | 'numeric';

/**
 * How a JSON value becomes a column value, inside PostgreSQL (see `sql.ts`). Each one yields NULL
 * for a value it cannot read, so a denormalized column never makes a record unappliable.
 * `epoch-seconds` and `iso-8601` make a timestamptz; the others are the column type's own.
 */
export type Converter = 'text' | 'bigint' | 'integer' | 'boolean' | 'numeric' | 'epoch-seconds' | 'iso-8601';

/**
 * A denormalized column: copied out of the event so receivers and SQL users need not dig in
 * `data`. Declared as data (a JSON pointer and a converter), so the apply extracts it in SQL.
 */
export interface ColumnSpec {
  name: string;
  type: ColumnType;
  /** RFC 6901 JSON pointer, e.g. `/address/city`. */
  pointer: string;
  /** What the pointer is relative to: the resource (default) or the whole event (an envelope field). */
  from?: 'resource' | 'event';
  /** Default: the column type's own (text, bigint, integer, boolean, numeric); required for timestamptz. */
  convert?: Converter;
  index?: boolean;
}

/**
 * One upstream change, as the API stores it in the inbox beside the verified body. The resource
 * itself stays in the body: the apply reads it (and the columns) from there, inside PostgreSQL.
 */
export interface IngestRecord {
  /** The remote key (e.g. Stripe's `cus_…`). */
  key: string;
  /** The upstream's own timestamp for this version, ms since epoch; it decides which version wins. */
  ts: number;
  deleted: boolean;
  /** The kind of change, one of the descriptor's `precedence`: it decides ties of equal `ts`. */
  change: string;
  /** The upstream's id of this event (redeliveries repeat it); used when the descriptor de-duplicates. */
  eventId?: string;
}

export type VerifyFailure = 'missing_signature' | 'malformed_signature' | 'bad_signature' | 'stale_signature' | 'no_secret';

export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure; message: string };

/** What the API does with a verified, parsed body. */
export type Interpretation =
  | { kind: 'record'; record: IngestRecord }
  | { kind: 'ignored'; eventType: string }
  | { kind: 'invalid'; message: string };

/** What an integration instance brings to its descriptor's hooks. */
export interface InstanceContext<Config = unknown> {
  headers: IncomingHttpHeaders;
  /** The instance's settings, as its descriptor's `config` schema validated them at creation. */
  config: Config;
  /**
   * The body as the upstream sent it (UTF-8 JSON text), for what the parsed body cannot hold
   * exactly: an integer key beyond 2^53 (Shopify's ids) loses digits as a JavaScript number.
   */
  rawBody?: string;
}

/**
 * An integration is data: how to verify a request, how to read the change out of the event, where
 * the resource and the columns sit in it, and which kind of change wins a tie. The shared code
 * (`sql.ts`, the inbox and its apply) owns the algorithm.
 */
export interface IntegrationDescriptor<Config = unknown> {
  /** Name with a version suffix, e.g. `stripe_customer_v1`; also the table name's prefix. */
  service: string;
  /** Human names, for CLI output. */
  upstream: string;
  resource: string;
  remoteKeyColumn: string;
  /** The column holding the upstream timestamp that orders versions. */
  timestampColumn: string;
  /** RFC 6901 pointer to the resource in the event (the row's `data`); '' is the whole event. */
  resourcePointer: string;
  columns: ColumnSpec[];
  /**
   * Kinds of change from weakest to strongest: of two versions with the same upstream timestamp
   * the stronger wins, whatever their order of arrival (Stripe: created, updated, deleted).
   */
  precedence: readonly string[];
  /** Redeliveries carry the same event id: an id applied before (within the window) is not applied again. */
  dedupe?: { windowDays: number };
  /** Per-instance settings (e.g. JSON pointers to the key), validated when an instance is created. */
  config?: z.ZodType<Config>;
  /** How the webhook secret looks, for help texts (e.g. `whsec_…`). */
  secretExample: string;
  /**
   * How a secret is checked before it is stored: by default it must start with `secretExample`'s
   * prefix (the part before `…`). Returns a reason when the secret cannot be one of this upstream's.
   */
  checkSecret?(secret: string): string | undefined;
  /**
   * On the raw bytes, before anything is parsed; may be asynchronous (a library that only offers a
   * promise). `config` is the instance's settings (hmac_v1: which header, which algorithm).
   */
  verify(rawBody: Buffer, headers: IncomingHttpHeaders, secret: string | null, config: Config): VerifyResult | Promise<VerifyResult>;
  interpret(body: unknown, instance: InstanceContext<Config>): Interpretation;
  /** What to tell the user after creating an instance. */
  setupSteps(webhookUrl: string, integrationId: string): string[];
  /** The upstream's list API, for backfills; without it the integration cannot be backfilled. */
  list?: ListApi;
  /**
   * A sample event of this upstream for the resource `key`, whose version time is `now`, signed
   * exactly as the upstream signs with `secret` (`integrations send-test-event`): what arrives at
   * the webhook endpoint is indistinguishable from the upstream's own.
   */
  testEvent(input: { key: string; deleted: boolean; now: Date; config: Config; secret: string }): { body: string; headers: Record<string, string> };
}

/**
 * An upstream's list API as data, for `integrations backfill`: pages of resources in a stable
 * order, each page asked for with the key of the last resource of the one before (Stripe's
 * `starting_after`). Each listed resource is upserted like a webhook's, its version time the time
 * it was fetched.
 */
export interface ListApi {
  /** Where the API is unless `--api-base` says otherwise, e.g. https://api.stripe.com. */
  defaultBase: string;
  /** Path of the list, e.g. /v1/customers. */
  path: string;
  /** Query parameter for the page size, and the size asked for. */
  limitParam: string;
  pageSize: number;
  /** Query parameter carrying the last key of the previous page (absent on the first page). */
  afterParam: string;
  /** RFC 6901 pointers into the page: the array of resources, and the flag that more pages follow. */
  itemsPointer: string;
  hasMorePointer: string;
  /** RFC 6901 pointer to the remote key inside a resource. */
  keyPointer: string;
  /** Sent as `Authorization: Bearer <key>`. What a key looks like, for checks and help texts. */
  apiKeyPattern: RegExp;
  apiKeyExample: string;
  /**
   * The resolution of the upstream's own timestamps (Stripe: whole seconds). A fetch time is
   * rounded down to it, so that a change made in the same tick as the fetch, which the list may
   * not show yet, wins the tie against the listed copy (a listed copy is weaker than any webhook).
   */
  timestampResolutionMs: number;
  /** Extra request headers (an API version, say). */
  headers?: Record<string, string>;
}
