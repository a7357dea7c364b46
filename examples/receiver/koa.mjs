// Koa: hand the request to the receiver (Koa does not parse bodies unless a middleware does).
//   HOOKSYNC_SIGNING_SECRET=whsec_… node examples/receiver/koa.mjs
import Koa from 'koa';
import { pathToFileURL } from 'node:url';
import { createReceiver } from 'hooksync/receiver';

export function createApp({ secrets, onPage, store }) {
  const receiver = createReceiver({ secrets, onPage, store });
  const app = new Koa();
  app.use(async (ctx, next) => {
    if (ctx.path !== '/hooksync') return next();
    ctx.respond = false; // the receiver writes the answer itself
    await receiver(ctx.req, ctx.res);
  });
  return app;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const onPage = async (page, { pageId }) => console.log(`page ${pageId}: ${page.rows.length} rows of ${page.table}`);
  createApp({ secrets: process.env.HOOKSYNC_SIGNING_SECRET, onPage }).listen(Number(process.env.PORT ?? 3000));
}
