/**
 * `npm start` as an operator (or a process supervisor) runs it: a signal sent
 * to npm's own process must reach the gateway, which drains and exits, so no
 * gateway is left holding the MQTT port.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

const ROOT = join(import.meta.dirname, '../..');

/** Direct children of a process, from /proc (Linux). */
function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (which may contain spaces): state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) kids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return kids;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function npmStartThenSignal(signal: NodeJS.Signals): Promise<{ code: number | null; out: string; gatewayPid: number; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'thingiq-npm-start-'));
  writeFileSync(join(dir, 'gateway.yaml'), stringify({
    mqtt: { host: '127.0.0.1', port: 0 }, admin: { port: 0, mtlsPort: 0 },
    pkiDir: join(dir, 'certs'), dataDir: join(dir, 'data'), tenants: { demo: { apps: { dashboard: {} } } },
  }));
  const npm = spawn('npm', ['start', '--', '--config', join(dir, 'gateway.yaml')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((r) => npm.once('exit', (code) => r(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /"event":"listening","port":(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    };
    npm.stdout.on('data', onData);
    npm.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`npm start exited ${code}: ${out}`)));
  });
  const gatewayPid = childrenOf(npm.pid!)[0]!;
  expect(gatewayPid).toBeGreaterThan(0);
  npm.kill(signal);
  const code = await exited;
  // npm returns once its child is gone; give the kernel a moment to release the socket.
  for (let i = 0; i < 50 && isAlive(gatewayPid); i++) await new Promise((r) => setTimeout(r, 100));
  return { code, out, gatewayPid, port };
}

describe('npm start', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('%s to the npm process drains the gateway, which exits and frees its port', async (signal) => {
    const { out, gatewayPid, port } = await npmStartThenSignal(signal);
    expect(isAlive(gatewayPid)).toBe(false);
    expect(out).toContain(`"event":"stopping","signal":"${signal}"`);
    expect(out).toContain('"event":"closed"');
    expect(await portRefuses(port)).toBe(true);
  }, 120_000);
});
