import assert from 'node:assert/strict';
import type dns from 'node:dns';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { AddressGuard, AllowListError, parseAllowList, refusalReason, TargetRefusedError } from '../../src/http/address-guard';
import { postPage } from '../../src/http/post-page';
import { parseTargetUrl } from '../../src/http/target-url';

/** A resolver that answers from a table (which a test may change, as DNS rebinding does). */
function fakeDns(table: Record<string, string[]>) {
  const calls: string[] = [];
  const lookup = (host: string, _opts: dns.LookupAllOptions, cb: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) => {
    calls.push(host);
    const found = table[host];
    if (!found) return cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }), []);
    cb(null, found.map((address) => ({ address, family: net.isIP(address) })));
  };
  return { table, calls, lookup };
}

describe('which addresses targets may reach', () => {
  const none = parseAllowList(undefined);
  const refused: Array<[string, RegExp]> = [
    ['127.0.0.1', /loopback/],
    ['127.0.0.2', /loopback/],
    ['::1', /loopback/],
    ['10.1.2.3', /private/],
    ['172.16.0.1', /private/],
    ['192.168.1.1', /private/],
    ['169.254.1.1', /link-local/],
    ['fe80::1', /link-local/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['100.127.255.254', /carrier-grade NAT/],
    ['fc00::1', /unique-local/],
    ['fd12:3456::1', /unique-local/],
    ['169.254.169.254', /metadata/],
    ['169.254.170.2', /metadata/],
    ['fd00:ec2::254', /metadata/],
    ['168.63.129.16', /metadata/],
    ['100.100.100.200', /metadata/],
    ['::ffff:127.0.0.1', /loopback/],
    ['::ffff:10.0.0.1', /private/],
    ['::ffff:169.254.169.254', /metadata/],
    ['0.0.0.0', /unspecified/],
    ['::', /unspecified/],
    ['224.0.0.1', /multicast/],
    ['ff02::1', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['240.0.0.1', /reserved/],
    ['192.0.2.10', /reserved/],
    ['2001:db8::1', /reserved/],
    // IPv6 forms that embed an IPv4 address: 6to4, NAT64, IPv4-compatible.
    ['2002:7f00:1::1', /6to4/],
    ['64:ff9b::a00:1', /rfc6052/],
    ['::7f00:1', /not a public address/],
  ];
  for (const [address, why] of refused) {
    test(`${address} is refused (${why.source})`, () => {
      assert.match(refusalReason(address, none) ?? 'allowed', why);
    });
  }

  test('public unicast addresses are allowed, also IPv4-mapped', () => {
    for (const address of ['93.184.216.34', '8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '2a00:1450:4001::200e', '::ffff:8.8.8.8']) {
      assert.equal(refusalReason(address, none), undefined, address);
    }
  });

  test('HOOKSYNC_ALLOWED_TARGET_HOSTS: exact host names, addresses and CIDR ranges', () => {
    const allow = parseAllowList(' receiver.internal, 127.0.0.2 ,10.8.0.0/16,fd00:1::/32,::ffff:192.168.0.0/112, Other.Example. ');
    assert.deepEqual([...allow.names].sort(), ['other.example', 'receiver.internal']);
    assert.equal(refusalReason('127.0.0.2', allow), undefined);
    assert.match(refusalReason('127.0.0.3', allow)!, /loopback/);
    assert.equal(refusalReason('10.8.200.1', allow), undefined);
    assert.match(refusalReason('10.9.0.1', allow)!, /private/);
    assert.equal(refusalReason('fd00:1::5', allow), undefined);
    assert.equal(refusalReason('::ffff:10.8.0.1', allow), undefined, 'a mapped address is its IPv4 address');
    assert.equal(refusalReason('192.168.7.7', allow), undefined, 'a mapped range is its IPv4 range');
  });

  test('a metadata address is let through only by its exact address, never by a range holding it', () => {
    assert.match(refusalReason('169.254.169.254', parseAllowList('169.254.0.0/16'))!, /metadata/);
    assert.equal(refusalReason('169.254.1.1', parseAllowList('169.254.0.0/16')), undefined);
    assert.equal(refusalReason('169.254.169.254', parseAllowList('169.254.169.254')), undefined);
  });

  test('entries that are neither names, addresses nor ranges are refused with the entry named', () => {
    for (const bad of ['10.0.0.0/33', 'not a host', 'http://x.example', '*.example.com', 'a..b']) {
      assert.throws(() => parseAllowList(bad), (err: Error) => err instanceof AllowListError && err.message.includes(bad));
    }
    assert.equal(parseAllowList(' , ,').source, '');
  });
});

describe('the create-time check', () => {
  const dnsTable = fakeDns({
    'internal.test': ['10.0.0.1'],
    'metadata.test': ['169.254.169.254'],
    'mixed.test': ['93.184.216.34', '10.0.0.1'],
    'v6.test': ['fd00:ec2::254'],
    'public.test': ['93.184.216.34', '2606:4700:4700::1111'],
    'allowed.test': ['10.0.0.9'],
  });
  const guard = new AddressGuard({ allow: parseAllowList('allowed.test'), lookup: dnsTable.lookup });
  const refusedWith = async (host: string, message: RegExp) => {
    await assert.rejects(guard.check(host), (err: Error) => err instanceof TargetRefusedError && message.test(err.message));
  };

  test('refuses a name resolving to a private, metadata or unique-local address, even one of several', async () => {
    await refusedWith('internal.test', /internal\.test resolves to 10\.0\.0\.1, a private address; list it in HOOKSYNC_ALLOWED_TARGET_HOSTS/);
    await refusedWith('metadata.test', /169\.254\.169\.254, a cloud metadata address/);
    await refusedWith('mixed.test', /mixed\.test resolves to 10\.0\.0\.1/);
    await refusedWith('v6.test', /fd00:ec2::254, a cloud metadata address/);
  });

  test('refuses IP literals without asking DNS, brackets or not', async () => {
    const before = dnsTable.calls.length;
    await refusedWith('127.0.0.2', /127\.0\.0\.2 is a loopback address/);
    await refusedWith('[::1]', /::1 is a loopback address/);
    await refusedWith('0.0.0.0', /unspecified/);
    assert.equal(dnsTable.calls.length, before);
  });

  test('lets public names, listed names and unresolvable names pass (the POST reports the DNS error)', async () => {
    await guard.check('public.test');
    await guard.check('ALLOWED.test');
    await guard.check('nowhere.test');
  });

  test('a listed name that resolves to a metadata address is refused, unless that exact address is listed (a range holding it does not count)', async () => {
    const metadataTable = fakeDns({
      'imds.test': ['169.254.169.254'],
      'ecs.test': ['169.254.170.2'],
      'imds6.test': ['fd00:ec2::254'],
      'alibaba.test': ['100.100.100.200'],
      'mapped.test': ['::ffff:169.254.169.254'],
      'inside.test': ['10.0.0.9'],
    });
    const names = 'imds.test,ecs.test,imds6.test,alibaba.test,mapped.test,inside.test';
    const refused = async (g: AddressGuard, host: string, address: string) => {
      await assert.rejects(g.check(host), (err: Error) => err instanceof TargetRefusedError && err.message.includes(`${host} resolves to ${address}, a cloud metadata address`));
      // At connection time too (the name may start resolving there later).
      const lookedUp = await new Promise<unknown>((resolve) => g.lookup(host, {}, (err) => resolve(err)));
      assert.ok(lookedUp instanceof TargetRefusedError, `${host} at connection time`);
    };
    const byName = new AddressGuard({ allow: parseAllowList(names), lookup: metadataTable.lookup });
    await refused(byName, 'imds.test', '169.254.169.254');
    await refused(byName, 'ecs.test', '169.254.170.2');
    await refused(byName, 'imds6.test', 'fd00:ec2::254');
    await refused(byName, 'alibaba.test', '100.100.100.200');
    await refused(byName, 'mapped.test', '::ffff:169.254.169.254');
    await byName.check('inside.test');
    const byRange = new AddressGuard({ allow: parseAllowList(`${names},169.254.0.0/16,fd00::/8,100.64.0.0/10`), lookup: metadataTable.lookup });
    await refused(byRange, 'imds.test', '169.254.169.254');
    await refused(byRange, 'imds6.test', 'fd00:ec2::254');
    const exact = new AddressGuard({ allow: parseAllowList(`${names},169.254.169.254,fd00:ec2::254`), lookup: metadataTable.lookup });
    await exact.check('imds.test');
    await exact.check('imds6.test');
    await exact.check('mapped.test');
    await refused(exact, 'ecs.test', '169.254.170.2');
  });
});

describe('postPage: the address guard on every connection, no redirects, no echoed body', () => {
  const servers: http.Server[] = [];
  after(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  /** A plain HTTP server on `host` that answers with `reply` and closes each connection (so each POST connects anew). */
  async function server(host: string, reply: (res: http.ServerResponse) => void) {
    const seen: string[] = [];
    const s = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      res.setHeader('connection', 'close');
      reply(res);
    });
    await new Promise<void>((resolve) => s.listen(0, host, resolve));
    servers.push(s);
    return { seen, port: (s.address() as AddressInfo).port };
  }
  const url = (host: string, port: number, path = '/sync') => parseTargetUrl(`http://u:p@${host}:${port}${path}`, { allowHttp: true });

  test('an allowed address is reached; a refused one is never connected to', async () => {
    const ok = await server('127.0.0.1', (res) => res.writeHead(200).end());
    const internal = await server('127.0.0.2', (res) => res.writeHead(200).end());
    const guard = new AddressGuard({ allow: parseAllowList('127.0.0.1') });
    const good = await postPage(url('127.0.0.1', ok.port), '{}', {}, 5_000, undefined, guard);
    assert.deepEqual([good.ok, good.status], [true, 200]);
    const bad = await postPage(url('127.0.0.2', internal.port), '{}', {}, 5_000, undefined, guard);
    assert.equal(bad.ok, false);
    assert.equal(bad.refused, true);
    assert.match(bad.error!, /^refused to connect: 127\.0\.0\.2 is a loopback address; list it in HOOKSYNC_ALLOWED_TARGET_HOSTS/);
    assert.deepEqual(internal.seen, [], 'nothing reached the internal server');
  });

  test('DNS rebinding: a name that resolved to an allowed address and now to metadata is refused at connect', async () => {
    const receiver = await server('127.0.0.1', (res) => res.writeHead(204).end());
    const dnsTable = fakeDns({ 'rebind.test': ['127.0.0.1'] });
    const guard = new AddressGuard({ allow: parseAllowList('127.0.0.1'), lookup: dnsTable.lookup });
    const target = url('rebind.test', receiver.port);
    await guard.check('rebind.test');
    assert.equal((await postPage(target, '{}', {}, 5_000, undefined, guard)).ok, true);
    dnsTable.table['rebind.test'] = ['169.254.169.254'];
    const refused = await postPage(target, '{}', {}, 5_000, undefined, guard);
    assert.equal(refused.refused, true);
    assert.match(refused.error!, /rebind\.test resolves to 169\.254\.169\.254, a cloud metadata address/);
    assert.equal(receiver.seen.length, 1, 'only the first POST arrived');
    // Several addresses (as happy eyeballs asks for): one refused one refuses the name.
    dnsTable.table['rebind.test'] = ['127.0.0.1', '10.0.0.1'];
    assert.equal((await postPage(target, '{}', {}, 5_000, undefined, guard)).refused, true);
    dnsTable.table['rebind.test'] = ['127.0.0.1'];
    assert.equal((await postPage(target, '{}', {}, 5_000, undefined, guard)).ok, true);
    assert.equal(receiver.seen.length, 2);
  });

  test('a failure shows the status and its reason phrase, never the body the host answered', async () => {
    const failing = await server('127.0.0.1', (res) => res.writeHead(500, 'Custom Phrase From Host', { 'content-type': 'text/plain' }).end('root:x:0:0 SECRET-INTERNAL-DATA'));
    const guard = new AddressGuard({ allow: parseAllowList('127.0.0.1') });
    const out = await postPage(url('127.0.0.1', failing.port), '{}', {}, 5_000, undefined, guard);
    assert.equal(out.error, `HTTP 500 Internal Server Error from 127.0.0.1:${failing.port}`);
    assert.ok(!JSON.stringify(out).includes('SECRET') && !JSON.stringify(out).includes('Custom'));
  });

  test('redirects are not followed', async () => {
    const elsewhere = await server('127.0.0.1', (res) => res.writeHead(200).end());
    const redirecting = await server('127.0.0.1', (res) => res.writeHead(307, { location: `http://127.0.0.1:${elsewhere.port}/stolen` }).end());
    const guard = new AddressGuard({ allow: parseAllowList('127.0.0.1') });
    const out = await postPage(url('127.0.0.1', redirecting.port), '{}', {}, 5_000, undefined, guard);
    assert.equal(out.ok, false);
    assert.equal(out.status, 307);
    assert.equal(out.error, `HTTP 307 Temporary Redirect from 127.0.0.1:${redirecting.port} (redirects are not followed)`);
    assert.deepEqual(elsewhere.seen, []);
  });
});
