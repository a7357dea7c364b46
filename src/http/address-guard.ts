import dns from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { buildConnector } from 'undici';

/**
 * Where outgoing requests may go. A target URL is typed by a user, so without a check it could
 * reach the hooksync host itself, the private network behind it or a cloud metadata service
 * (SSRF). Only public unicast addresses are allowed, unless HOOKSYNC_ALLOWED_TARGET_HOSTS lists
 * the host name, the address or a range holding it. The check runs when a target is created or
 * changed and again on every connection, on the address actually connected to: DNS may answer
 * differently between the two (rebinding).
 */

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * Cloud metadata services (AWS IMDS and ECS task metadata, Azure's wire server, Alibaba, Oracle,
 * AWS IMDS over IPv6). Refused even when a listed range holds them or a listed host name resolves
 * to them; only the exact address, listed itself, lets one through.
 */
const METADATA = ['169.254.169.254', '169.254.170.2', '168.63.129.16', '100.100.100.200', '192.0.0.192', 'fd00:ec2::254'].map((a) =>
  ipaddr.parse(a).toNormalizedString(),
);

const RANGE_NAMES: Record<string, string> = {
  unspecified: 'the unspecified address',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address',
  loopback: 'a loopback address',
  carrierGradeNat: 'a carrier-grade NAT address (100.64.0.0/10)',
  private: 'a private address',
  uniqueLocal: 'a unique-local address (fc00::/7)',
  reserved: 'a reserved address',
};

export class AllowListError extends Error {
  override name = 'AllowListError';
}

/** HOOKSYNC_ALLOWED_TARGET_HOSTS, parsed: host names (exact), addresses and CIDR ranges. */
export interface AllowList {
  /** The text it was parsed from, normalized; '' when nothing is allowed beyond public addresses. */
  source: string;
  names: ReadonlySet<string>;
  addresses: ReadonlySet<string>;
  ranges: ReadonlyArray<[Address, number]>;
}

/** An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is the IPv4 address it maps: judged as that. */
function normalize(addr: Address): Address {
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? (addr as ipaddr.IPv6).toIPv4Address() : addr;
}

function parseAddress(text: string): Address | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  // ipaddr.isValid also takes forms like "1" or "0x7f.1"; only the strict forms are addresses here.
  if (!net.isIP(bare)) return undefined;
  return normalize(ipaddr.parse(bare));
}

export function parseAllowList(raw: string | undefined): AllowList {
  const names = new Set<string>();
  const addresses = new Set<string>();
  const ranges: Array<[Address, number]> = [];
  const entries = (raw ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  for (const entry of entries) {
    if (entry.includes('/')) {
      let range: [Address, number];
      try {
        range = ipaddr.parseCIDR(entry);
      } catch {
        throw new AllowListError(`"${entry}" is not a CIDR range (like 10.0.0.0/8 or fd00::/8)`);
      }
      const [base, bits] = range;
      ranges.push(base.kind() === 'ipv6' && (base as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96 ? [normalize(base), bits - 96] : range);
      continue;
    }
    const addr = parseAddress(entry);
    if (addr) {
      addresses.add(addr.toNormalizedString());
      continue;
    }
    const name = entry.toLowerCase().replace(/\.$/, '');
    if (!/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(name)) {
      throw new AllowListError(`"${entry}" is not a host name, an IP address or a CIDR range`);
    }
    names.add(name);
  }
  return { source: entries.join(','), names, addresses, ranges };
}

export class TargetRefusedError extends Error {
  override name = 'TargetRefusedError';
  readonly code = 'HOOKSYNC_TARGET_REFUSED';
  /** "10.0.0.1 is a private address" or "db.internal resolves to 10.0.0.1, a private address". */
  readonly why: string;

  constructor(host: string, address: string | undefined, reason: string) {
    const why = address ? `${host} resolves to ${address}, ${reason}` : `${host} is ${reason}`;
    super(`refused to connect: ${why}; list it in HOOKSYNC_ALLOWED_TARGET_HOSTS to allow it`);
    this.why = why;
  }
}

/** For an address a listed host name resolves to: refused only when it is a metadata address not listed itself. */
export function metadataRefusal(address: string, allow: AllowList): string | undefined {
  const addr = parseAddress(address);
  if (!addr) return 'not an IP address';
  const text = addr.toNormalizedString();
  return METADATA.includes(text) && !allow.addresses.has(text) ? 'a cloud metadata address' : undefined;
}

/** Why an address may not be connected to, or undefined when it may. */
export function refusalReason(address: string, allow: AllowList): string | undefined {
  const addr = parseAddress(address);
  if (!addr) return 'not an IP address';
  const text = addr.toNormalizedString();
  if (allow.addresses.has(text)) return undefined;
  if (METADATA.includes(text)) return 'a cloud metadata address';
  if (allow.ranges.some(([base, bits]) => base.kind() === addr.kind() && addr.match(base, bits))) return undefined;
  const range = addr.range();
  if (addr.kind() === 'ipv4') return range === 'unicast' ? undefined : (RANGE_NAMES[range] ?? `not a public address (${range})`);
  // IPv6: only global unicast (2000::/3) outside the special ranges. Everything else either stays
  // local or embeds an IPv4 address that could be anything (6to4, NAT64, Teredo, IPv4-compatible).
  const globalUnicast = addr.match(ipaddr.parse('2000::') as ipaddr.IPv6, 3);
  if (range === 'unicast' && globalUnicast) return undefined;
  return RANGE_NAMES[range] ?? `not a public address (${range === 'unicast' ? 'outside 2000::/3' : range})`;
}

type LookupAll = (hostname: string, options: dns.LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) => void;

export interface AddressGuardOptions {
  allow: AllowList;
  /** How host names are resolved; dns.lookup unless a test gives another. */
  lookup?: LookupAll;
}

export class AddressGuard {
  readonly allow: AllowList;
  private readonly resolveAll: LookupAll;

  constructor(opts: AddressGuardOptions) {
    this.allow = opts.allow;
    this.resolveAll = opts.lookup ?? ((host, options, cb) => dns.lookup(host, options, cb));
  }

  private nameAllowed(hostname: string): boolean {
    return this.allow.names.has(hostname.toLowerCase().replace(/\.$/, ''));
  }

  /** For an IP literal host: the refusal, if any. Names are judged by the addresses they resolve to. */
  private literalRefusal(hostname: string): TargetRefusedError | undefined {
    if (this.nameAllowed(hostname)) return undefined;
    const reason = refusalReason(hostname, this.allow);
    return reason ? new TargetRefusedError(hostname, undefined, reason) : undefined;
  }

  private addressesRefusal(hostname: string, addresses: dns.LookupAddress[]): TargetRefusedError | undefined {
    // A listed name allows the addresses it resolves to, but not a cloud metadata address: DNS is
    // not the listing's (a name can be pointed anywhere later), so only that exact address, listed
    // itself, lets one through.
    const judge = this.nameAllowed(hostname) ? metadataRefusal : refusalReason;
    // One internal address is enough to refuse the name: which one a connection takes is not ours to choose.
    for (const { address } of addresses) {
      const reason = judge(address, this.allow);
      if (reason) return new TargetRefusedError(hostname, address, reason);
    }
    return undefined;
  }

  /**
   * The create/update-time check. Resolves the host (a listed name too: it may resolve to a
   * metadata address) and refuses it if any address is not allowed. A name that does not resolve
   * passes here: the verification POST then fails with the DNS error.
   */
  async check(hostname: string): Promise<void> {
    const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
    if (net.isIP(host)) {
      const refused = this.literalRefusal(host);
      if (refused) throw refused;
      return;
    }
    const addresses = await new Promise<dns.LookupAddress[] | undefined>((resolve) =>
      this.resolveAll(host, { all: true }, (err, found) => resolve(err ? undefined : found)),
    );
    const refused = addresses && this.addressesRefusal(host, addresses);
    if (refused) throw refused;
  }

  /** A `lookup` for net/tls.connect that fails for addresses this guard refuses. */
  readonly lookup = (hostname: string, options: dns.LookupOptions, callback: (...args: any[]) => void): void => {
    this.resolveAll(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err);
      const refused = this.addressesRefusal(hostname, addresses);
      if (refused) return callback(refused);
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }));
      callback(null, first.address, first.family);
    });
  };

  /** An undici connector: IP literals are checked here (net.connect does not look them up), names in the lookup. */
  connector(opts: buildConnector.BuildOptions = {}): buildConnector.connector {
    const connect = buildConnector({ ...opts, lookup: this.lookup } as buildConnector.BuildOptions);
    return (options, callback) => {
      const refused = net.isIP(options.hostname) ? this.literalRefusal(options.hostname) : undefined;
      if (refused) {
        queueMicrotask(() => callback(refused, null));
        return;
      }
      return connect(options, callback);
    };
  }
}

let processGuard: AddressGuard | undefined;

/** The guard outgoing requests of this process use: from HOOKSYNC_ALLOWED_TARGET_HOSTS unless set. */
export function targetGuard(): AddressGuard {
  return (processGuard ??= new AddressGuard({ allow: parseAllowList(process.env.HOOKSYNC_ALLOWED_TARGET_HOSTS) }));
}

/** Tests give one with their own resolver; undefined goes back to the environment's. */
export function setTargetGuard(guard: AddressGuard | undefined): void {
  processGuard = guard;
}

/** Processes call it with their config's list (which may come from a running `hooksync dev`). */
export function allowTargets(allow: AllowList | undefined): void {
  if (allow && targetGuard().allow.source !== allow.source) processGuard = new AddressGuard({ allow });
}
