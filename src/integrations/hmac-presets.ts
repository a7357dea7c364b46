/**
 * hmac_v1's presets: how each vendor signs its webhooks and where its payloads keep the key, the
 * version time and the deletion. Options given at creation override any of these. Each preset is
 * tested against the vendor's documented signing rule (test/integrations-hmac.test.ts).
 */

/** A deletion told by a header or a payload field whose value ends with one of `ends_with`; not expressible as `--deleted`. */
export interface DeletedWhen {
  header?: string;
  pointer?: string;
  ends_with: string[];
  /** Where a deletion's version time is, when its payload has no `timestamp` (Shopify's holds only the id). */
  version_header?: string;
  version_pointer?: string;
}

export interface PresetSettings {
  signature_header: string;
  algorithm: 'sha256' | 'sha1' | 'sha512';
  encoding: 'hex' | 'base64';
  signature_prefix: string;
  signed_payload: string;
  timestamp_header: string | null;
  tolerance: number | null;
  remote_key: string;
  timestamp: string;
  deleted: string | null;
  deleted_when: DeletedWhen | null;
}

/** How `send-test-event` shapes a preset's sample (not settings: nothing the user chooses). */
export interface PresetSample {
  /** Integer keys are sent as JSON numbers, as the vendor sends them. */
  numericKey?: boolean;
  /** The version time as Unix seconds rather than ISO-8601. */
  epochSeconds?: boolean;
  /** The signature timestamp header as ISO-8601 rather than Unix seconds. */
  isoTimestampHeader?: boolean;
  /** Values for `deleted_when` (a topic or an event type). */
  changedValue?: string;
  deletedValue?: string;
}

export interface Preset {
  settings: PresetSettings;
  sample: PresetSample;
}

const BODY_ONLY = { signature_prefix: '', signed_payload: '{body}', timestamp_header: null, tolerance: null } as const;

export const PRESETS = {
  // shopify.dev, "Verify webhooks": base64 of HMAC-SHA256 of the raw body under the app's client secret.
  // A `…/delete` topic's payload holds only the id: the deletion's time is X-Shopify-Triggered-At.
  shopify: {
    settings: {
      ...BODY_ONLY,
      signature_header: 'x-shopify-hmac-sha256',
      algorithm: 'sha256',
      encoding: 'base64',
      remote_key: '/id',
      timestamp: '/updated_at',
      deleted: null,
      deleted_when: { header: 'x-shopify-topic', ends_with: ['/delete'], version_header: 'x-shopify-triggered-at' },
    },
    sample: { numericKey: true, changedValue: 'products/update', deletedValue: 'products/delete' },
  },
  // Linear's webhook docs: Linear-Signature is the hex HMAC-SHA256 of the raw body; `action` is create, update or remove.
  linear: {
    settings: {
      ...BODY_ONLY,
      signature_header: 'linear-signature',
      algorithm: 'sha256',
      encoding: 'hex',
      remote_key: '/data/id',
      timestamp: '/data/updatedAt',
      deleted: '/action=remove',
      deleted_when: null,
    },
    sample: {},
  },
  // Intercom's webhook docs: X-Hub-Signature is sha1=<hex HMAC-SHA1 of the body> under the app's client secret.
  // Its times are Unix seconds; a `….deleted` topic's item may lack updated_at, the notification's created_at is its time.
  intercom: {
    settings: {
      ...BODY_ONLY,
      signature_header: 'x-hub-signature',
      algorithm: 'sha1',
      encoding: 'hex',
      signature_prefix: 'sha1=',
      remote_key: '/data/item/id',
      timestamp: '/data/item/updated_at',
      deleted: null,
      deleted_when: { pointer: '/topic', ends_with: ['.deleted'], version_pointer: '/created_at' },
    },
    sample: { epochSeconds: true, changedValue: 'contact.updated', deletedValue: 'contact.deleted' },
  },
  // developer.zendesk.com, "Verifying webhook authenticity": base64(HMAC-SHA256(TIMESTAMP + BODY)), the
  // timestamp (ISO-8601) in X-Zendesk-Webhook-Signature-Timestamp. Event webhooks carry the resource's
  // id as `detail.id` and the event's time as `time` (every event type has it; not every `detail` has
  // an updated_at); `type` names the event, e.g. zen:event-type:ticket.soft_deleted or user.deleted.
  // (An older page of Zendesk's writes (BODY)(TIMESTAMP), and its example vector is signed that way;
  // --signed-payload '{body}{timestamp}' verifies it: test/integrations-hmac.test.ts shows both.)
  zendesk: {
    settings: {
      signature_header: 'x-zendesk-webhook-signature',
      algorithm: 'sha256',
      encoding: 'base64',
      signature_prefix: '',
      signed_payload: '{timestamp}{body}',
      timestamp_header: 'x-zendesk-webhook-signature-timestamp',
      tolerance: 300,
      remote_key: '/detail/id',
      timestamp: '/time',
      deleted: null,
      deleted_when: { pointer: '/type', ends_with: ['.deleted', '_deleted'] },
    },
    sample: { isoTimestampHeader: true, changedValue: 'zen:event-type:ticket.status_changed', deletedValue: 'zen:event-type:ticket.soft_deleted' },
  },
} satisfies Record<string, Preset>;

export type PresetName = keyof typeof PRESETS;

export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
