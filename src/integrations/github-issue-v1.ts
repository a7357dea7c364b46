import crypto from 'node:crypto';
import { signGithubEvent, verifyGithubSignature } from './github-signature';
import type { IntegrationDescriptor, Interpretation } from './types';

/** Weakest first: of two versions with the same `updated_at`, a deletion wins. */
const CHANGES = ['changed', 'deleted'] as const;

interface IssuesEvent {
  action?: unknown;
  issue?: { id?: unknown; updated_at?: unknown };
}

/** GitHub's issue ids are numbers: a key that is not one becomes a stable number of its own (for sample events). */
const issueId = (key: string): number =>
  /^[1-9]\d{0,14}$/.test(key) ? Number(key) : crypto.createHash('sha256').update(key).digest().readUIntBE(0, 6) + 1;

const isIsoTime = (v: unknown): v is string => typeof v === 'string' && Number.isFinite(Date.parse(v));

/**
 * GitHub issues, from a repository's (or organization's) `issues` webhook. GitHub sends the whole
 * issue with every action, and `updated_at` orders its versions; a `deleted` action carries the
 * issue as it last was, so at an equal `updated_at` the deletion wins. Every other event (`ping`
 * when the hook is added, or events the hook was not meant to send) is acknowledged and ignored.
 */
export const githubIssueV1: IntegrationDescriptor = {
  service: 'github_issue_v1',
  upstream: 'GitHub',
  resource: 'issue',
  remoteKeyColumn: 'github_id',
  timestampColumn: 'updated_at',
  resourcePointer: '/issue',
  columns: [
    { name: 'number', type: 'integer', pointer: '/number' },
    { name: 'title', type: 'text', pointer: '/title' },
    { name: 'state', type: 'text', pointer: '/state', index: true },
    { name: 'state_reason', type: 'text', pointer: '/state_reason' },
    { name: 'repository', type: 'text', pointer: '/repository/full_name', from: 'event', index: true },
    { name: 'user_login', type: 'text', pointer: '/user/login' },
    { name: 'html_url', type: 'text', pointer: '/html_url' },
    { name: 'comments', type: 'integer', pointer: '/comments' },
    { name: 'locked', type: 'boolean', pointer: '/locked' },
    { name: 'created_at', type: 'timestamptz', pointer: '/created_at', convert: 'iso-8601' },
    { name: 'closed_at', type: 'timestamptz', pointer: '/closed_at', convert: 'iso-8601' },
  ],
  precedence: CHANGES,
  secretExample: 'a secret of your choosing',
  checkSecret: (secret) => (secret.trim() !== secret || secret.length === 0 ? 'a GitHub webhook secret must not begin or end with spaces' : undefined),
  verify: verifyGithubSignature,
  interpret(body, { headers }): Interpretation {
    const event = headers['x-github-event'];
    if (typeof event !== 'string' || event === '') return { kind: 'invalid', message: 'missing X-GitHub-Event header' };
    if (event !== 'issues') return { kind: 'ignored', eventType: event };
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return { kind: 'invalid', message: 'expected a GitHub issues event object' };
    const { action, issue } = body as IssuesEvent;
    if (typeof action !== 'string') return { kind: 'invalid', message: 'the issues event has no "action"' };
    if (!issue || typeof issue !== 'object') return { kind: 'invalid', message: 'the issues event has no "issue"' };
    if (typeof issue.id !== 'number' || !Number.isSafeInteger(issue.id) || issue.id <= 0) return { kind: 'invalid', message: 'the issue has no valid "id"' };
    if (!isIsoTime(issue.updated_at)) return { kind: 'invalid', message: 'the issue has no valid "updated_at"' };
    const deleted = action === 'deleted';
    return { kind: 'record', record: { key: String(issue.id), ts: Date.parse(issue.updated_at), deleted, change: deleted ? 'deleted' : 'changed' } };
  },
  testEvent({ key, deleted, now, secret }) {
    // GitHub's times have whole seconds.
    const at = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const id = issueId(key);
    const repository = { id: 1, full_name: 'hooksync/test-events' };
    const issue = {
      id,
      number: id % 100_000,
      title: 'Test issue',
      state: 'open',
      state_reason: null,
      user: { login: 'hooksync-test' },
      html_url: `https://github.com/${repository.full_name}/issues/${id % 100_000}`,
      comments: 0,
      locked: false,
      created_at: at,
      updated_at: at,
      closed_at: null,
    };
    const body = JSON.stringify({ action: deleted ? 'deleted' : 'edited', issue, repository, sender: issue.user });
    return signGithubEvent(body, secret, 'issues');
  },
  setupSteps: (webhookUrl, id) => [
    `In the repository (or organization) on GitHub, open Settings → Webhooks → Add webhook. Payload URL: ${webhookUrl}; Content type: application/json; Secret: the one given as --webhook-secret (or set it later with: hooksync integrations update ${id} --webhook-secret …).`,
    'Under "Which events would you like to trigger this webhook?" choose "Let me select individual events" and tick only Issues. GitHub sends a ping at once; it is acknowledged and ignored.',
    `Then send data on with: hooksync httpsync create ${id}`,
  ],
};
