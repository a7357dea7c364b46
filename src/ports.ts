import net from 'node:net';

/** Local ports: which is free, and whether one can be listened on (dev servers, tests, the worker's private metrics port). */

/** undefined when the port can be listened on, 'in-use', or another reason. */
export function probePort(host: string, port: number): Promise<undefined | 'in-use' | string> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRINUSE' ? 'in-use' : err.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
