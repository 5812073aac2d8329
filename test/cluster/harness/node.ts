/**
 * One gateway process of the cluster: `node bin/thingiq.js --config <file>
 * start` on compiled dist, as an operator runs it. Started, killed (-9),
 * stopped (SIGTERM, a drain) and restarted on the same ports and data.
 */
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Managed, waitUntil } from './processes.ts';

export const BIN = join(import.meta.dirname, '../../../bin/thingiq.js');

export interface NodePorts {
  readonly mqtt: number;
  readonly admin: number;
  readonly adminMtls: number;
}

export class GatewayNode {
  #proc: Managed | undefined;
  /** Output of every run of this node, oldest first (a restart keeps the earlier ones). */
  readonly runs: Managed[] = [];
  readonly configFile: string;

  constructor(readonly name: string, readonly dir: string, readonly ports: NodePorts, config: Record<string, unknown>, readonly caPem: string) {
    this.configFile = join(dir, `${name}.yaml`);
    writeFileSync(this.configFile, stringify(config));
  }

  get process(): Managed {
    if (!this.#proc) throw new Error(`${this.name} was never started`);
    return this.#proc;
  }

  get pid(): number {
    return this.process.child.pid ?? 0;
  }

  /** Spawns the process and waits until /readyz answers 200. */
  async start(timeoutMs = 120_000): Promise<void> {
    const proc = new Managed(this.name, process.execPath, [BIN, '--config', this.configFile, 'start'], { cwd: this.dir });
    this.#proc = proc;
    this.runs.push(proc);
    let exited = false;
    void proc.exited.then(() => { exited = true; });
    await waitUntil(`${this.name} ready`, async () => {
      if (exited) throw new Error(`${this.name} exited before it was ready:\n${proc.output().slice(-4000)}`);
      return (await this.readyz()) === 200;
    }, timeoutMs, 100).catch((err: Error) => {
      if (exited) throw new Error(`${this.name} exited before it was ready:\n${proc.output().slice(-4000)}`);
      throw new Error(`${err.message}; its output:\n${proc.output().slice(-4000)}`);
    });
  }

  /** GET /readyz on the admin listener (verified TLS): the status, or 0 when nothing answers. */
  readyz(): Promise<number> {
    return new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port: this.ports.admin, path: '/readyz', ca: this.caPem, servername: 'localhost', timeout: 2000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(0));
      req.end();
    });
  }

  /** kill -9: no drain, no goodbye; returns once the process is gone. */
  async kill(): Promise<void> {
    await this.#proc?.stop('SIGKILL');
  }

  /** SIGTERM: the gateway drains in-flight messages and exits; resolves with its exit code. */
  async terminate(): Promise<number | null> {
    return (await this.process.stop('SIGTERM')).code;
  }

  get running(): boolean {
    return this.#proc?.running ?? false;
  }

  /** Log events of this node's current run. */
  events(event: string): Record<string, unknown>[] {
    return this.#proc?.events(event) ?? [];
  }

  output(): string {
    return this.runs.map((r) => r.output()).join('\n');
  }
}

export { waitUntil };
