/**
 * Where a target allocated: aggregates a `.heapprofile` written with
 * BENCH_HEAP_PROF (bench/targets/target-messages.ts) by allocating function
 * and by package or gateway folder, as bytes per message when given the
 * window's message count.
 *
 *   node --import tsx bench/alloc-report.ts <file.heapprofile> [messages]
 */
import { readFileSync } from 'node:fs';

interface Frame { functionName: string; url: string; lineNumber: number }
interface Node { callFrame: Frame; selfSize: number; children: Node[] }
interface Sample { size: number; nodeId: number }
interface Profile { head: Node & { id: number }; samples: Sample[] }

function component(url: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return `npm: ${pkg[1]}`;
  const own = /\/(?:dist|src)\/([^/]+)\//.exec(url);
  if (own) return `gateway: ${own[1]}`;
  if (url.startsWith('node:')) return `node: ${url.slice(5).split('/').slice(0, 2).join('/')}`;
  return url === '' ? 'native / V8' : 'other';
}

const [file, messagesArg] = process.argv.slice(2);
if (!file) throw new Error('usage: alloc-report.ts <file.heapprofile> [messages]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byFn = new Map<string, number>();
const byComponent = new Map<string, number>();
let total = 0;
const walk = (n: Node): void => {
  if (n.selfSize > 0) {
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|dist|src)\//, '$1/')}:${f.lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + n.selfSize);
    const c = component(f.url);
    byComponent.set(c, (byComponent.get(c) ?? 0) + n.selfSize);
    total += n.selfSize;
  }
  for (const c of n.children) walk(c);
};
walk(profile.head);
const messages = Number(messagesArg ?? 0);
const fmt = (bytes: number): string => (messages > 0 ? `${(bytes / messages).toFixed(0).padStart(7)} B/msg` : `${(bytes / 1024).toFixed(0).padStart(9)} KiB`);
const top = (m: Map<string, number>, n: number): void => {
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`  ${fmt(v)} ${(100 * v / total).toFixed(1).padStart(5)} %  ${k}`);
};
console.log(`sampled allocation ${fmt(total)} in all`);
console.log('by component:');
top(byComponent, 20);
console.log('by function:');
top(byFn, 40);
