import assert from 'node:assert/strict';
import { test } from 'node:test';
import { neverReachedTemporal } from '../../src/temporal/configure-target';

// Whether a failed `configure` update surely never reached Temporal decides between undoing the
// change and keeping it pending for self-repair (services/target-signals.ts): a wrong "never
// reached" would leave the old settings in the database and the new ones in the workflow.

const grpcError = (code: number, details: string) => Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
const wrapped = (cause: Error) => Object.assign(new Error('Workflow Update failed'), { cause });

test('a refused connection, or a deadline passed while the call still waited for one: never reached', () => {
  assert.equal(neverReachedTemporal(wrapped(grpcError(14, 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1.'))), true);
  assert.equal(neverReachedTemporal(wrapped(grpcError(4, 'Deadline exceeded after 0.007s,waiting for metadata filters'))), true);
  assert.equal(neverReachedTemporal(wrapped(grpcError(4, 'Deadline exceeded after 9.9s,name resolution: 0.001s,Waiting for LB pick'))), true);
});

test('a deadline that passed at the server, or while the call was on a connection, leaves it open', () => {
  // The server's own deadline (a worker that does not answer the update in time).
  assert.equal(neverReachedTemporal(wrapped(grpcError(4, 'context deadline exceeded'))), false);
  assert.equal(neverReachedTemporal(wrapped(grpcError(4, 'Deadline exceeded after 10.001s,LB pick: 0.001s,remote_addr=127.0.0.1:7233'))), false);
  assert.equal(neverReachedTemporal(wrapped(grpcError(13, 'internal error'))), false);
  assert.equal(neverReachedTemporal(new Error('something else')), false);
});
