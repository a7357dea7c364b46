/**
 * Summarises V8 CPU profiles (`npm run bench -- --profile` writes them to bench-results/profiles/):
 * self time by package (or file for our own code) and the top functions.
 *
 *   node --import tsx bench/profile-summary.ts <file.cpuprofile|dir> [--top 25] [--window ingest-hooksync-64]
 *
 * --window keeps only the samples of one measured interval (windows.json, written beside the profiles).
 */
import fs from 'node:fs';
import path from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

function bucket(url: string): string {
  if (!url) return '(native/V8)';
  const clean = url.replace(/^file:\/\//, '');
  const nm = clean.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = clean.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (clean.startsWith('node:')) return clean;
  const m = /\/(src|bench|cli)\/(.*)$/.exec(clean);
  return m ? `${m[1]}/${m[2]}` : path.basename(clean);
}

function summarize(file: string, top: number, label = '', windows?: Array<{ fromUs: number; toUs: number }>): string {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  // Self time per node from samples and time deltas (more precise than hitCount); sample i
  // happened at startTime + the deltas up to i, on the same clock as the bench's windows.
  const self = new Map<number, number>();
  if (p.samples && p.timeDeltas) {
    let t = p.startTime;
    for (let i = 0; i < p.samples.length; i++) {
      t += p.timeDeltas[i] ?? 0;
      if (windows && !windows.some((w) => t >= w.fromUs && t <= w.toUs)) continue;
      self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i + 1] ?? 0));
    }
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0) || 1;
  const byBucket = new Map<string, number>();
  const byFn = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const fn = n.callFrame.functionName || '(anonymous)';
    if (fn === '(idle)') {
      idle += us;
      continue;
    }
    const b = ['(garbage collector)', '(program)'].includes(fn) ? fn : bucket(n.callFrame.url);
    byBucket.set(b, (byBucket.get(b) ?? 0) + us);
    const key = `${fn} ${bucket(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
  const lines = [
    `${label}${path.basename(file)}: ${(total / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s busy (${((busy / total) * 100).toFixed(0)}%)`,
    '  self time by package / file (share of busy time):',
    ...[...byBucket.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([b, us]) => `  ${pct(us)}  ${b}`),
    '  top functions:',
    ...[...byFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([f, us]) => `  ${pct(us)}  ${f}`),
  ];
  return lines.join('\n');
}

const argv = process.argv.slice(2);
const option = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const top = Number(option('--top') ?? 20);
const windowName = option('--window');
const targets = argv.filter((a, i) => !a.startsWith('--') && !['--top', '--window'].includes(argv[i - 1] ?? ''));
if (targets.length === 0) {
  process.stderr.write('usage: node --import tsx bench/profile-summary.ts <file.cpuprofile|dir> [--top N]\n');
  process.exit(2);
}
for (const t of targets) {
  const files = fs.statSync(t).isDirectory()
    ? fs.readdirSync(t).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(t, f))
    : [t];
  let names: Record<string, string> = {};
  try {
    names = JSON.parse(fs.readFileSync(path.join(fs.statSync(t).isDirectory() ? t : path.dirname(t), 'pids.json'), 'utf8'));
  } catch {
    // profiles from elsewhere
  }
  let window: Array<{ fromUs: number; toUs: number }> | undefined;
  if (windowName) {
    const windows = JSON.parse(fs.readFileSync(path.join(fs.statSync(t).isDirectory() ? t : path.dirname(t), 'windows.json'), 'utf8'));
    window = windows[windowName];
    if (!window) throw new Error(`no window ${windowName}; there are: ${Object.keys(windows).join(', ')}`);
  }
  for (const f of files) {
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile
    const [pid, thread] = path.basename(f).split('.').slice(3, 5);
    const label = names[pid!] ? `${names[pid!]}${thread === '0' ? '' : ` (thread ${thread})`}: ` : '';
    process.stdout.write(summarize(f, top, label, window) + '\n\n');
  }
}
