import type pg from 'pg';
import { ConfigError, type Config } from '../config';
import { resealSecrets, sealedSecretsExist } from '../db/secrets';
import type { Logger } from '../log';
import { dbError, ServiceError } from './errors';
import { createKeyring, type Keyring } from '../secrets/keyring';

/** The keyring HOOKSYNC_ENCRYPTION_KEY describes (validated by the config already); undefined without one. */
export const keyringOf = (config: Pick<Config, 'HOOKSYNC_ENCRYPTION_KEY'>): Keyring | undefined =>
  config.HOOKSYNC_ENCRYPTION_KEY ? createKeyring(config.HOOKSYNC_ENCRYPTION_KEY) : undefined;

export const MISSING_KEY =
  'the database holds encrypted secrets, but HOOKSYNC_ENCRYPTION_KEY is not set: give this process the key they were sealed with (base64 of 32 bytes; see README, "Secrets at rest")';

/**
 * Before a process uses secrets: without a key, refuse once sealed values exist (it could read
 * none of them, and would write new ones in clear). With a key and `sealClear` (the api and the
 * worker), values an older version left in clear are sealed now.
 *
 * With `startUnreachable` (the servers), a database that cannot be reached now does not stop the
 * start (the API reports it at /readyz, deliveries retry): the check and the sealing wait for the
 * next start, and a keyless process meanwhile fails, and retries, what needs a sealed secret.
 */
export async function prepareKeyring(
  config: Config,
  pool: pg.Pool,
  opts: { sealClear?: boolean; startUnreachable?: boolean; logger?: Logger } = {},
): Promise<Keyring | undefined> {
  const keyring = keyringOf(config);
  try {
    if (!keyring) {
      if (await sealedSecretsExist(pool)) throw new ConfigError(MISSING_KEY);
      return undefined;
    }
    if (opts.sealClear) {
      const counts = await resealSecrets(pool, keyring, { onlyClear: true });
      const sealed = counts.filter((c) => c.sealed > 0);
      if (sealed.length > 0) opts.logger?.info({ sealed: Object.fromEntries(sealed.map((c) => [c.column, c.sealed])) }, 'secrets stored in clear are now encrypted');
    }
    return keyring;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const e = dbError(err);
    if (opts.startUnreachable && e instanceof ServiceError && e.code === 'unavailable') {
      opts.logger?.warn({ err: e.message }, 'could not check the stored secrets against HOOKSYNC_ENCRYPTION_KEY now; starting anyway');
      return keyring;
    }
    throw e;
  }
}
