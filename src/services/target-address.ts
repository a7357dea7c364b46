import { targetGuard, TargetRefusedError } from '../http/address-guard';
import type { TargetUrl } from '../http/target-url';
import { ServiceError } from './errors';

/**
 * Refuses a target URL whose host is, or resolves to, an address outgoing requests may not reach
 * (loopback, private, link-local, metadata…) before anything is sent or saved. Connections check
 * again, since DNS may answer differently later.
 */
export async function checkTargetAddress(url: TargetUrl): Promise<void> {
  try {
    await targetGuard().check(new URL(url.endpoint).hostname);
  } catch (err) {
    if (err instanceof TargetRefusedError) throw new ServiceError(
        'target_refused',
        `the target URL ${url.masked} is refused: ${err.why}, which targets may not reach; list it in HOOKSYNC_ALLOWED_TARGET_HOSTS to allow it`,
      );
    throw err;
  }
}
