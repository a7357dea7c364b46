import type { ServiceDeps } from '../src/services/deps';
import type { Resources } from '../test/support/services';
import type { CpuMeter } from './cpu';
import type { Receiver } from './receiver';

/** What every phase measures with: the running stack, the receiver, the CPU meter, the log. */
export interface Bench {
  /** The service layer in this process (createIntegration, createTarget…), on the bench database. */
  deps: ServiceDeps;
  res: Resources;
  databaseUrl: string;
  apiUrl: string;
  receiver: Receiver;
  cpu: CpuMeter;
  logDir: string;
  log: (msg: string) => void;
}
