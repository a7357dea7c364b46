import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type pg from 'pg';
import { ROOT } from './httpsync';

/**
 * The examples of examples/receiver/, each started as its file shows, on HTTPS with the tests'
 * certificate (hooksync delivers to https only); `port` starts one again where it was, as after
 * a restart with the signing secret.
 */

export interface ReceivedPage {
  pageId: string;
  rows: any[];
  table: string;
}

export interface RunningExample {
  /** https://user:password@127.0.0.1:<port>/hooksync (the examples ignore Basic Auth: the signature is their proof). */
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface ExampleOptions {
  secrets: string | string[];
  /** Told each page the example processed. */
  onPage(page: ReceivedPage): void | Promise<void>;
  /** The application's database (the node:http example keeps its rows and page ids there). */
  pool: pg.Pool;
  port?: number;
}

export interface Example {
  name: string;
  start(opts: ExampleOptions): Promise<RunningExample>;
}

const DIR = path.join(ROOT, 'examples', 'receiver');
const load = (file: string): Promise<any> => import(pathToFileURL(path.join(DIR, file)).href);
const tls = () => ({ cert: fs.readFileSync(process.env.HOOKSYNC_TEST_TLS_CERT!), key: fs.readFileSync(process.env.HOOKSYNC_TEST_TLS_KEY!) });
const pageOf = (page: any, pageId: string): ReceivedPage => ({ pageId, rows: page.rows, table: page.table });

async function listen(handler: (req: http.IncomingMessage, res: http.ServerResponse) => unknown, port = 0): Promise<RunningExample> {
  const server = https.createServer(tls(), (req, res) => void handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return running((server.address() as AddressInfo).port, async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
}

const running = (port: number, close: () => Promise<void>): RunningExample => ({ url: `https://receiver:Pw-example-4Kq9@127.0.0.1:${port}/hooksync`, port, close });

/** What Next.js does for a route handler: the request as a Fetch Request, the Response written back. */
function asNodeHandler(route: (request: Request) => Promise<Response>) {
  return async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    const response = await route(new Request(`https://127.0.0.1${req.url}`, { method: req.method, headers, body: Buffer.concat(chunks) }));
    res.writeHead(response.status, Object.fromEntries(response.headers)).end(Buffer.from(await response.arrayBuffer()));
  };
}

export const EXAMPLES: Example[] = [
  {
    name: 'node:http with pgStore',
    async start({ secrets, onPage, pool, port }) {
      const { createHandler, saveCustomers } = await load('node-http.mjs');
      const handler = createHandler({
        secrets,
        pool,
        onPage: async (page: any, ctx: { pageId: string }) => {
          await saveCustomers(page, ctx);
          await onPage(pageOf(page, ctx.pageId));
        },
      });
      return listen(handler, port);
    },
  },
  {
    name: 'Express',
    async start({ secrets, onPage, port }) {
      const { createApp } = await load('express.mjs');
      return listen(createApp({ secrets, onPage: (page: any, { pageId }: { pageId: string }) => onPage(pageOf(page, pageId)) }), port);
    },
  },
  {
    name: 'Koa',
    async start({ secrets, onPage, port }) {
      const { createApp } = await load('koa.mjs');
      return listen(createApp({ secrets, onPage: (page: any, { pageId }: { pageId: string }) => onPage(pageOf(page, pageId)) }).callback(), port);
    },
  },
  {
    name: 'Fastify',
    async start({ secrets, onPage, port }) {
      const { createApp } = await load('fastify.mjs');
      const app = createApp({ secrets, onPage: (page: any, { pageId }: { pageId: string }) => onPage(pageOf(page, pageId)) }, { https: tls() });
      await app.listen({ port: port ?? 0, host: '127.0.0.1' });
      return running((app.server.address() as AddressInfo).port, () => app.close());
    },
  },
  {
    name: 'Next.js route handler (through createFetchHandler, without Next)',
    async start({ secrets, onPage, port }) {
      // The route reads its secret from the environment when it is loaded, as a deployment does;
      // its onPage logs each page, which is what is observed here.
      const file = path.join(DIR, 'nextjs', 'app', 'hooksync', 'route.js');
      process.env.HOOKSYNC_SIGNING_SECRET = Array.isArray(secrets) ? secrets.join(' ') : secrets;
      delete require.cache[require.resolve(file)];
      const { POST } = require(file) as { POST: (request: Request) => Promise<Response> };
      delete process.env.HOOKSYNC_SIGNING_SECRET;
      const logged = new Map<string, number>();
      const log = console.log;
      console.log = (...args: unknown[]) => {
        const m = /^page (\S+): (\d+) rows of (\S+)$/.exec(String(args[0]));
        if (!m) return log(...args);
        logged.set(m[1]!, Number(m[2]));
      };
      const server = await listen(async (req, res) => {
        await asNodeHandler(POST)(req, res);
        for (const [pageId, n] of logged) await onPage({ pageId, rows: Array.from({ length: n }), table: '' });
        logged.clear();
      }, port);
      return {
        ...server,
        close: async () => {
          console.log = log;
          await server.close();
        },
      };
    },
  },
];
