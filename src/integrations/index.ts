import { parsePointer } from './json-pointer';
import { converterOf } from './sql';
import { githubIssueV1 } from './github-issue-v1';
import { hmacV1 } from './hmac-v1';
import { standardWebhooksV1 } from './standard-webhooks-v1';
import { stripeCustomerV1 } from './stripe-customer-v1';
import type { IntegrationDescriptor } from './types';

export type { IntegrationDescriptor, IngestRecord } from './types';

/** A descriptor the shared code cannot serve fails here, at start, not on its first event. */
export function checkDescriptor(d: IntegrationDescriptor): void {
  if (!/^[a-z][a-z0-9_]{0,50}_v\d+$/.test(d.service)) throw new Error(`integration name ${d.service} must look like name_v1`);
  parsePointer(d.resourcePointer);
  const names = new Set([d.remoteKeyColumn, d.timestampColumn, 'pk', 'deleted', 'data']);
  if (names.size !== 5) throw new Error(`${d.service}: the key and timestamp columns need names of their own`);
  for (const c of d.columns) {
    if (names.has(c.name) || c.name.startsWith('_')) throw new Error(`${d.service}: column name ${c.name} is taken`);
    names.add(c.name);
    parsePointer(c.pointer);
    converterOf(c);
  }
  if (d.list) {
    for (const p of [d.list.itemsPointer, d.list.hasMorePointer, d.list.keyPointer]) parsePointer(p);
    if (!Number.isInteger(d.list.pageSize) || d.list.pageSize < 1) throw new Error(`${d.service}: the list API needs a page size`);
    if (!(d.list.timestampResolutionMs >= 1)) throw new Error(`${d.service}: the list API needs its timestamps' resolution`);
    new URL(d.list.path, d.list.defaultBase);
  }
  if (d.precedence.length === 0 || new Set(d.precedence).size !== d.precedence.length) {
    throw new Error(`${d.service}: precedence must name each kind of change once`);
  }
}

const registry = new Map<string, IntegrationDescriptor>();

/**
 * Adds a descriptor to the registry; a name declared twice, or a descriptor the shared code cannot
 * serve, is refused. The integrations below are registered when this module loads; a process that
 * embeds hooksync (or a test with an integration of its own) may register more before it serves.
 */
export function registerIntegration<C>(d: IntegrationDescriptor<C>): void {
  if (registry.has(d.service)) throw new Error(`integration ${d.service} is declared twice`);
  checkDescriptor(d as IntegrationDescriptor);
  registry.set(d.service, d as IntegrationDescriptor);
}

for (const d of [stripeCustomerV1, githubIssueV1, standardWebhooksV1, hmacV1]) registerIntegration(d);

export const integrations: ReadonlyMap<string, IntegrationDescriptor> = registry;

export function findDescriptor(service: string): IntegrationDescriptor | undefined {
  return integrations.get(service);
}

export function serviceNames(): string[] {
  return [...integrations.keys()];
}
