import type { Logger } from '../log';
import type { ServiceDeps } from '../services/deps';
import { ingestSettings } from '../temporal/ingest-wake';
import { InboxWriter } from './inbox-writer';
import { IngestWakeups } from './ingest-wakeups';

export interface Ingest {
  inbox: InboxWriter;
  /** After the HTTP server stopped taking requests: lets groups commit and sends owed wake-ups. */
  close(): Promise<void>;
}

/** The API's half of ingest: the inbox writer, and the wake-ups it owes the ingest workflows. */
export function createIngest(deps: ServiceDeps, logger: Logger): Ingest {
  const wakeups = new IngestWakeups({ client: deps.temporal.client, settings: ingestSettings(deps.config), logger });
  const inbox = new InboxWriter({
    pool: deps.pool,
    shards: deps.config.HOOKSYNC_INGEST_SHARDS,
    onCommitted: (ref, upTo, rows, idle) => wakeups.committed(ref, upTo, rows, idle),
  });
  return {
    inbox,
    async close() {
      await inbox.close();
      await wakeups.close();
    },
  };
}
