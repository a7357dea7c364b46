#!/usr/bin/env node
'use strict';
// The image's HEALTHCHECK, for `hooksync api` and `hooksync worker` alike: healthy when this
// container's API answers /healthz on PORT, or its worker answers /healthz on
// HOOKSYNC_WORKER_METRICS_PORT. Each process serves only its own port, so whichever answers is the
// one running here; neither answering (or a 503 while stopping) is unhealthy.
const ports = [process.env.PORT || '8080', process.env.HOOKSYNC_WORKER_METRICS_PORT].filter(Boolean);

async function healthy(port) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(3000) });
    return res.ok;
  } catch {
    return false;
  }
}

(async () => {
  for (const port of ports) if (await healthy(port)) process.exit(0);
  process.exit(1);
})();
