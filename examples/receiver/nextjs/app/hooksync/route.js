// A Next.js route handler (app/hooksync/route.js): the App Router gives it the Fetch Request with
// its body unread, as the signature needs. HOOKSYNC_SIGNING_SECRET in the app's environment.
import { createFetchHandler } from 'hooksync/receiver';

export const POST = createFetchHandler({
  secrets: (process.env.HOOKSYNC_SIGNING_SECRET ?? '').split(' ').filter(Boolean),
  async onPage(page, { pageId }) {
    // Your processing: e.g. upsert page.rows into your database.
    console.log(`page ${pageId}: ${page.rows.length} rows of ${page.table}`);
  },
});
