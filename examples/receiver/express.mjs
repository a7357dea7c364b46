// Express: the receiver is a (req, res) handler. No express.json() before it: it verifies the
// body's bytes as they arrived.
//   HOOKSYNC_SIGNING_SECRET=whsec_… node examples/receiver/express.mjs
import express from 'express';
import { pathToFileURL } from 'node:url';
import { createReceiver } from 'hooksync/receiver';

export function createApp({ secrets, onPage, store }) {
  const app = express();
  app.post('/hooksync', createReceiver({ secrets, onPage, store }));
  return app;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const onPage = async (page, { pageId }) => console.log(`page ${pageId}: ${page.rows.length} rows of ${page.table}`);
  createApp({ secrets: process.env.HOOKSYNC_SIGNING_SECRET, onPage }).listen(Number(process.env.PORT ?? 3000));
}
