// Types of hooksync/receiver (the kit is plain JavaScript: no TypeScript loader needed).
import type { IncomingMessage, ServerResponse } from 'node:http';

/** One page of an HTTP Sync delivery: the POST body. */
export interface Page<Row = Record<string, unknown>> {
  /** The rows' newest versions, in the order they changed; `[]` only in the verification POST. */
  rows: Row[];
  integration_id: string;
  integration_service: string;
  table: string;
  /** ISO-8601 time the page was made. */
  sync_timestamp: string;
}

/** `whsec_…` as `httpsync create` prints it, or several (the new and the old one during a rotation). */
export type Secrets = string | readonly string[];

/** Node's `req.headers`, a plain object, or a Fetch `Headers`. */
export type HeadersLike = Record<string, string | string[] | undefined> | { get(name: string): string | null };

export type PageVerificationReason = 'missing_headers' | 'bad_signature' | 'stale_timestamp' | 'invalid_page';

export class PageVerificationError extends Error {
  readonly reason: PageVerificationReason;
  /** 401, or 400 for `invalid_page` (signed, but not a page). */
  readonly status: 400 | 401;
  constructor(reason: PageVerificationReason, message: string);
}

/**
 * Verifies a POST (Standard Webhooks, 5 minutes' tolerance) against the raw body as it arrived;
 * returns the page or throws a PageVerificationError.
 */
export function verifyPage<Row = Record<string, unknown>>(rawBody: string | Uint8Array, headers: HeadersLike, secrets: Secrets): Page<Row>;

/** Where processed page ids are recorded. `once` runs `process` unless `pageId` is recorded, and records it once `process` resolves. */
export interface PageStore<Client = undefined> {
  once(pageId: string, process: (client: Client) => Promise<void>): Promise<'processed' | 'duplicate'>;
}

/** In this process's memory (the default); the oldest of more than `max` (100,000) ids are forgotten. */
export function memoryStore(options?: { max?: number }): PageStore<undefined>;

/** What pgStore needs of a `pg` client (a `PoolClient`). */
export interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<{ rowCount: number | null; command: string }>;
  release(err?: Error | boolean): void;
}

/**
 * Page ids in a PostgreSQL table (created if missing; default `hooksync_received_pages`), recorded
 * in the transaction `onPage` runs in on `client`: a page is processed exactly once per receiver.
 */
export function pgStore<Client extends PgClientLike = PgClientLike>(options: { pool: PgPoolLike<Client>; table?: string }): PageStore<Client>;

/** What pgStore needs of a `pg` Pool (the callback form is there so that `Client` is inferred from pg's overloads). */
export interface PgPoolLike<Client> {
  connect(): Promise<Client>;
  connect(callback: (...args: any[]) => void): void;
  query(text: string): Promise<unknown>;
}

export interface PageContext<Client> {
  /** `webhook-id`: the same on every retry of the page. */
  pageId: string;
  /** pgStore's client, in the transaction that records the page; undefined with memoryStore. */
  client: Client;
}

export interface ReceiverOptions<Row, Client> {
  secrets: Secrets;
  /** Processes a page; the answer is 204 once it resolves, 500 if it throws (the page comes again). */
  onPage(page: Page<Row>, context: PageContext<Client>): unknown;
  store?: PageStore<Client>;
  /** Told when onPage throws (default: console.error). */
  onError?(error: unknown, context: { pageId: string }): void;
  /** Larger bodies are answered 413 (default 64 MiB). */
  maxBodyBytes?: number;
}

/** A node:http handler (Express, Koa's `ctx.req, ctx.res`): mount it where no JSON body parser ran. */
export function createReceiver<Row = Record<string, unknown>, Client = undefined>(
  options: ReceiverOptions<Row, Client>,
): (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** A `Request → Response` handler: Next.js route handlers, Deno, Bun. */
export function createFetchHandler<Row = Record<string, unknown>, Client = undefined>(
  options: ReceiverOptions<Row, Client>,
): (request: Request) => Promise<Response>;

/** The answer for any server: `(rawBody, headers) → { status, body }` (body: JSON to send, or null). */
export function createPageHandler<Row = Record<string, unknown>, Client = undefined>(
  options: Omit<ReceiverOptions<Row, Client>, 'maxBodyBytes'>,
): (rawBody: string | Uint8Array, headers: HeadersLike) => Promise<{ status: number; body: { error: string; message?: string } | null }>;
