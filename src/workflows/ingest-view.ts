import { formatDuration } from '../text/format';
import { forTemporalUi, mdCode } from '../text/markdown';
import type { ApplyResult, InboxView, IngestInput, IngestTotals } from '../contract/ingest';

/** Pure helpers of the ingest workflow: what the Temporal UI shows. Counts only, never an event. */

const events = (n: number) => (n === 1 ? '1 event' : `${n.toLocaleString('en-US')} events`);
const time = (iso: string) => iso.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC');

/** `upsert 37 events: 35 applied, 2 older discarded`, and dead letters when there were any. */
export function applySummary(r: Pick<ApplyResult, 'taken' | 'applied' | 'discarded' | 'deadLettered'>): string {
  return (
    `upsert ${events(r.taken)}: ${r.applied.toLocaleString('en-US')} applied, ${r.discarded.toLocaleString('en-US')} older discarded` +
    (r.deadLettered ? `, ${r.deadLettered.toLocaleString('en-US')} to the dead letters` : '')
  );
}

/** The summary of one apply activity, fixed when it is scheduled: it takes what the inbox holds, so it names where it was told to look. */
export function applyActivitySummary(shard: number, announced?: string): string {
  return `upsert the inbox of shard ${shard + 1}` + (announced ? ` (woken up to position ${announced})` : '');
}

export function inboxLine(inbox: InboxView | undefined): string {
  if (!inbox) return 'Inbox: not looked at yet';
  const at = ` (at ${time(inbox.at)})`;
  if (inbox.waiting === 0) return `Inbox: empty${at}`;
  const age = inbox.oldestAgeSeconds === null ? '' : `, the oldest ${formatDuration(inbox.oldestAgeSeconds * 1000)} old`;
  return `Inbox: ${events(inbox.waiting)} waiting${age}${at}`;
}

export interface Trouble {
  error: string;
  since: string;
  attempts: number;
}

export function ingestDetails(input: IngestInput, t: IngestTotals, lastApply: string, inbox: InboxView | undefined, trouble?: Trouble): string {
  return forTemporalUi(
    [
      `**Ingest** for \`${input.service}\` \`${input.integrationId}\`, shard ${input.shard + 1} of ${Math.max(input.shards, input.shard + 1)}`,
      '',
      `Last batch: ${lastApply}`,
      '',
      inboxLine(inbox),
      ...(trouble ? ['', `Retrying since ${time(trouble.since)} (${trouble.attempts} attempts) after: ${mdCode(trouble.error)}`] : []),
      '',
      '| taken from the inbox | applied | older discarded | dead letters | applies | wake-ups |',
      '|---:|---:|---:|---:|---:|---:|',
      `| ${t.taken} | ${t.applied} | ${t.discarded} | ${t.deadLettered} | ${t.applies} | ${t.wakeUps} |`,
    ].join('\n'),
  );
}
