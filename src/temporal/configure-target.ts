import { randomUUID } from 'node:crypto';
import { isGrpcServiceError, type Client } from '@temporalio/client';
import { configureUpdate } from '../contract/messages';
import { httpSyncWorkflowId } from '../contract/names';
import type { TargetChange, TargetSettings } from '../contract/httpsync';

/**
 * New settings reach a target's workflow as the `configure` update, under an id chosen before the
 * change is stored: Temporal answers a repeated update id with the first outcome (within a run),
 * so the service and self-repair can send it again until one of them hears the answer.
 */

/** gRPC's status codes UNAVAILABLE and DEADLINE_EXCEEDED. */
const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;

export const newUpdateId = () => `configure-${randomUUID()}`;

/** How long a caller waits for the workflow to apply a change. */
export const CONFIGURE_DEADLINE_MS = 10_000;

/**
 * How long a pending change is left to the call that made it before self-repair sends it: past
 * that call's deadline and its undo, so the two never send different settings under one id.
 */
export const PENDING_CHANGE_GRACE_MS = CONFIGURE_DEADLINE_MS + 5_000;

/** Sends `change` under `updateId`; resolves once the workflow has applied it. */
export async function sendConfigure(client: Client, targetId: string, change: TargetChange, updateId: string, deadlineMs = CONFIGURE_DEADLINE_MS): Promise<TargetSettings> {
  return client.withDeadline(Date.now() + deadlineMs, () =>
    client.workflow.getHandle(httpSyncWorkflowId(targetId)).executeUpdate(configureUpdate, { args: [change], updateId }),
  );
}

/**
 * Whether a failed send never got as far as a Temporal server (UNAVAILABLE, or a deadline that
 * passed before the call had a connection). Any other failure, a deadline that passed while the
 * call was at the server above all, leaves open whether the workflow applied the change.
 */
export function neverReachedTemporal(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if (!isGrpcServiceError(e)) continue;
    if (e.code === GRPC_UNAVAILABLE) return true;
    // A deadline that passed while the call still waited for a connection (refused again and
    // again, as when the server is down): grpc-js says so itself ("Deadline exceeded after …"),
    // naming the peer only once a call has one. The server's own deadline ("context deadline
    // exceeded") means the call got there.
    const details = e.details ?? e.message ?? '';
    return e.code === GRPC_DEADLINE_EXCEEDED && /^Deadline exceeded/.test(details) && !/remote_addr=/.test(details);
  }
  return false;
}
