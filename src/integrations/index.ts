import { stripeCustomerV1 } from './stripe-customer-v1';
import type { IntegrationDescriptor } from './types';

export type { IntegrationDescriptor, IngestRecord } from './types';

function registry(descriptors: IntegrationDescriptor[]): ReadonlyMap<string, IntegrationDescriptor> {
  const map = new Map<string, IntegrationDescriptor>();
  for (const d of descriptors) {
    if (map.has(d.service)) throw new Error(`integration ${d.service} is declared twice`);
    if (!/^[a-z][a-z0-9_]{0,50}_v\d+$/.test(d.service)) throw new Error(`integration name ${d.service} must look like name_v1`);
    map.set(d.service, d);
  }
  return map;
}

export const integrations = registry([stripeCustomerV1]);

export function findDescriptor(service: string): IntegrationDescriptor | undefined {
  return integrations.get(service);
}

export function serviceNames(): string[] {
  return [...integrations.keys()];
}
