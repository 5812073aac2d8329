/**
 * mqtt-packet's `debug` loggers (src/broker/quiet-debug.ts): off unless DEBUG
 * names them when the process starts, and then the real logger writes. Each
 * case runs in a fresh process, because the choice is made when mqtt-packet
 * loads, as in production.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CHILD = join(import.meta.dirname, 'children', 'packet-debug.ts');

function runChild(debug: string | undefined): Promise<{ out: { parsed: number; quiet: string[] }; stderr: string }> {
  const env = { ...process.env };
  delete env['DEBUG'];
  if (debug !== undefined) env['DEBUG'] = debug;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`child exited ${code}: ${stderr}`));
      resolve({ out: JSON.parse(stdout.trim()) as { parsed: number; quiet: string[] }, stderr });
    });
  });
}

describe('mqtt-packet debug loggers', () => {
  it('without DEBUG, the parser and the writer get the do-nothing logger, and packets still parse', async () => {
    const { out, stderr } = await runChild(undefined);
    expect(out.parsed).toBe(1);
    expect([...out.quiet].sort()).toEqual(['mqtt-packet:parser', 'mqtt-packet:writeToStream']);
    expect(stderr).not.toContain('mqtt-packet:');
  });

  it('DEBUG naming the parser keeps its real logger, which writes; the writer stays quiet', async () => {
    const { out, stderr } = await runChild('mqtt-packet:parser');
    expect(out.parsed).toBe(1);
    expect(out.quiet).toEqual(['mqtt-packet:writeToStream']);
    expect(stderr).toContain('mqtt-packet:parser');
  });
});
