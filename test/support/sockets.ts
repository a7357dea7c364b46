import type net from 'node:net';

/**
 * Joins two sockets both ways (a proxy's client and its upstream), keeping both in `open` while
 * they live, so the proxy can cut every connection at once; an error on either closes both.
 */
export function splice(client: net.Socket, upstream: net.Socket, open: Set<net.Socket>): void {
  for (const s of [client, upstream]) {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => {
      client.destroy();
      upstream.destroy();
    });
  }
  client.pipe(upstream);
  upstream.pipe(client);
}
