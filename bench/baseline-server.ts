import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What the ingest baselines share besides their handler: listen on PORT (0: any) on 127.0.0.1,
 * say so on stdout (`<name> listening on <port>`, which the bench waits for), and stop on SIGTERM
 * or SIGINT after `close` (their pool). A failed start ends the process with its error.
 */
export function serveBaseline(name: string, start: () => Promise<{ handler: http.RequestListener; close: () => Promise<void> }>): void {
  const run = async () => {
    const { handler, close } = await start();
    const server = http.createServer(handler);
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve) => server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', resolve));
    process.stdout.write(`${name} listening on ${(server.address() as AddressInfo).port}\n`);
    const stop = () => {
      server.close();
      server.closeIdleConnections();
      void close().finally(() => process.exit(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  };
  run().catch((err) => {
    process.stderr.write(`${name}: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
