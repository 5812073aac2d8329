/**
 * The content digest's cost on the event loop: `createHmac` per message
 * against contentDigester (two one-shot `crypto.hash` calls over scratch
 * buffers holding the key pads), alternated three times. Per call: wall time,
 * CPU (user + system, every thread) and the time V8's collector paused the
 * thread (perf_hooks 'gc' entries), with 200 digests kept alive as in-flight
 * messages keep theirs. Each createHmac object is a native handle the
 * young-generation collector processes in its pause.
 * `node --import tsx bench/digest-cost.ts [calls] [payload bytes]`
 */
import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { contentDigester } from '../src/keys/content-digest.ts';

const calls = Number(process.argv[2] ?? 300_000);
const bytes = Number(process.argv[3] ?? 64);
const secret = createSecretKey(randomBytes(32));
const variants: Record<string, (p: Buffer) => Buffer> = {
  'createHmac per call': (p) => createHmac('sha256', secret).update(p).digest().subarray(0, 16),
  contentDigester: contentDigester(secret),
};
const payload = randomBytes(bytes);
let gcMs = 0;
new PerformanceObserver((list) => { for (const e of list.getEntries()) gcMs += e.duration; }).observe({ entryTypes: ['gc'] });

async function run(name: string, digest: (p: Buffer) => Buffer): Promise<void> {
  const kept: Buffer[] = [];
  await new Promise((r) => setTimeout(r, 50));
  gcMs = 0;
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) {
    kept.push(digest(payload));
    if (kept.length > 200) kept.shift();
    if (i % 1000 === 0) await new Promise(setImmediate);
  }
  const wall = performance.now() - t0;
  const used = process.cpuUsage(cpu);
  await new Promise((r) => setTimeout(r, 50));
  const per = (x: number): string => (x / calls).toFixed(2);
  console.log(`${name.padEnd(20)} wall ${per(wall * 1000)} µs  CPU ${per(used.user + used.system)} µs  GC pause ${per(gcMs * 1000)} µs per call`);
}

for (let round = 0; round < 3; round++) for (const [name, digest] of Object.entries(variants)) await run(name, digest);
