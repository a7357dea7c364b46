import { getTarget, lockSigningSecret, storeSigningSecrets, type TargetRow } from '../db/targets';
import { withTransaction } from '../db/pool';
import { generateSigningSecret, SIGNING_OVERLAP_MS, signingSecretsOf } from '../delivery/signature';
import { KeyringError } from '../secrets/keyring';
import { openOptional, sealSecret } from '../secrets/stored';
import type { ServiceDeps } from './deps';
import { ServiceError } from './errors';
import { dbError } from './errors';
import { view, type TargetView } from './target-view';

/** A target's signing secrets: the ones it signs with now, and their rotation. */

/** The secrets a target signs with now; a key that does not open them is the operator's to fix. */
export function signingSecrets(deps: ServiceDeps, t: TargetRow): string[] {
  try {
    return signingSecretsOf(t, deps.keyring);
  } catch (err) {
    if (err instanceof KeyringError) throw new ServiceError('unavailable', `the signing secret of ${t.id} cannot be read: ${err.message}`);
    throw err;
  }
}

export interface RotatedSigningSecretView extends TargetView {
  /** The new Standard Webhooks secret (whsec_…): shown once, here. */
  signing_secret: string;
  /** Until then the previous secret signs too (a second signature); null when there was none. */
  previous_secret_expires_at: string | null;
}

/**
 * `rotate-signing-secret`: a new secret signs every POST from now on; the one it replaces signs
 * beside it (a second signature in `webhook-signature`) for a day, so receivers can switch over
 * without losing a page. Rotating again within the day drops the oldest. The delivery activity
 * reads the secrets after every page, so no workflow needs to be told.
 */
export async function rotateSigningSecret(deps: ServiceDeps, id: string): Promise<RotatedSigningSecretView> {
  const secret = generateSigningSecret();
  const expires = await withTransaction(deps.pool, async (db) => {
    const stored = await lockSigningSecret(db, id);
    if (!stored) throw new ServiceError('not_found', `no HTTP Sync target ${id}`);
    let previous: string | null;
    try {
      previous = openOptional(deps.keyring, 'sync_targets.signing_secret', id, stored.signing_secret);
    } catch (err) {
      throw new ServiceError('unavailable', `the current signing secret of ${id} cannot be read: ${(err as Error).message}`);
    }
    const previousExpiresAt = previous === null ? null : new Date(Date.now() + SIGNING_OVERLAP_MS);
    await storeSigningSecrets(db, id, {
      current: sealSecret(deps.keyring, 'sync_targets.signing_secret', id, secret),
      previous: previous === null ? null : sealSecret(deps.keyring, 'sync_targets.signing_secret_previous', id, previous),
      previousExpiresAt,
    });
    return previousExpiresAt;
  }).catch((err) => {
    throw dbError(err);
  });
  const t = (await getTarget(deps.pool, id).catch((err) => {
    throw dbError(err);
  }))!;
  return { ...view(t), signing_secret: secret, previous_secret_expires_at: expires?.toISOString() ?? null };
}
