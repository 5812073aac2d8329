/**
 * Start-up cost of the `thingiq` command as an operator sees it: wall time of
 * `thingiq --version`, and of `thingiq start` from spawn to the "listening"
 * log line. Each figure is the median of RUNS runs after one warm-up run
 * (which also creates the development PKI). Usage:
 *   node --import tsx bench/start-time.ts [runs] [entry]
 * `entry` (default bin/thingiq.js) lets the same harness time another entry
 * point, e.g. one that loads the TypeScript sources through tsx.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RUNS = Number(process.argv[2] ?? 7);
const BIN = process.argv[3] ?? join(import.meta.dirname, '../bin/thingiq.js');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function runVersion(): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, '--version'], { stdio: 'ignore' });
  return new Promise((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`exit ${code}`)))));
}

function runStart(cwd: string): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, '--config', 'gateway.yaml', 'start'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let listenedAt = 0;
  const onData = (d: Buffer): void => {
    out += d.toString();
    if (!listenedAt && out.includes('"event":"listening"')) {
      listenedAt = performance.now() - t0;
      child.kill('SIGTERM');
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise((resolve, reject) => child.once('exit', (code) => (listenedAt ? resolve(listenedAt) : reject(new Error(`exit ${code}: ${out}`)))));
}

async function series(run: () => Promise<number>): Promise<number[]> {
  await run();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await run());
  return times;
}

const cwd = mkdtempSync(join(tmpdir(), 'thingiq-start-time-'));
writeFileSync(join(cwd, 'gateway.yaml'), [
  'mqtt: { host: 127.0.0.1, port: 0 }',
  'admin: { port: 0, mtlsPort: 0 }',
  'tenants: { demo: { apps: { dashboard: {} } } }',
  '',
].join('\n'));
try {
  const version = await series(runVersion);
  const start = await series(() => runStart(cwd));
  const fmt = (xs: number[]) => `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}, n ${xs.length})`;
  console.log(`thingiq --version: ${fmt(version)}`);
  console.log(`thingiq start to listening: ${fmt(start)}`);
} finally {
  rmSync(cwd, { recursive: true, force: true });
}
