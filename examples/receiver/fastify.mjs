// Fastify parses JSON bodies itself; keep the bytes instead (the signature covers them) and give
// them to createPageHandler, which answers for any framework.
//   HOOKSYNC_SIGNING_SECRET=whsec_… node examples/receiver/fastify.mjs
import Fastify from 'fastify';
import { pathToFileURL } from 'node:url';
import { createPageHandler } from 'hooksync/receiver';

export function createApp({ secrets, onPage, store }, fastifyOptions = {}) {
  const handlePage = createPageHandler({ secrets, onPage, store });
  const app = Fastify(fastifyOptions);
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: 64 * 1024 * 1024 }, (request, body, done) => done(null, body));
  app.post('/hooksync', async (request, reply) => {
    const { status, body } = await handlePage(request.body, request.headers);
    return reply.code(status).send(body ?? undefined);
  });
  return app;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const onPage = async (page, { pageId }) => console.log(`page ${pageId}: ${page.rows.length} rows of ${page.table}`);
  await createApp({ secrets: process.env.HOOKSYNC_SIGNING_SECRET, onPage }).listen({ port: Number(process.env.PORT ?? 3000) });
}
