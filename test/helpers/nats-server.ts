/**
 * A real nats-server on a free loopback port, started per test file; it can
 * be killed and started again on the same port (outage tests). The binary is
 * a Debian package (.ci/run installs it); its absence fails the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Socket } from 'node:net';
import { freePort } from './free-port.ts';

const BINARY = process.env['NATS_SERVER_BIN'] ?? '/usr/sbin/nats-server';

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.connect(port, '127.0.0.1');
  });
}

export class NatsServer {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number, readonly monitorPort: number, private readonly extraArgs: readonly string[]) {}

  /** `extraArgs`: more nats-server options (e.g. `--auth <token>`). */
  static async start(extraArgs: readonly string[] = []): Promise<NatsServer> {
    if (!existsSync(BINARY)) throw new Error(`nats-server not found at ${BINARY} (apt-get install nats-server)`);
    const server = new NatsServer(await freePort(), await freePort(), extraArgs);
    await server.restart();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts it (again) on its port and waits until it accepts connections. */
  async restart(): Promise<void> {
    if (this.child) return;
    const child = spawn(BINARY, ['-a', '127.0.0.1', '-p', String(this.port), '-m', String(this.monitorPort), ...this.extraArgs], { stdio: 'ignore' });
    this.child = child;
    child.once('exit', () => { if (this.child === child) this.child = undefined; });
    const deadline = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (Date.now() > deadline || !this.child) throw new Error(`nats-server did not start on port ${this.port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The subjects each named client connection subscribes to now (the server's own monitoring view). */
  async subscriptions(): Promise<Map<string, string[]>> {
    const res = await fetch(`http://127.0.0.1:${this.monitorPort}/connz?subs=1`);
    const body = await res.json() as { connections?: { name?: string; subscriptions_list?: string[] }[] };
    return new Map((body.connections ?? []).map((c) => [c.name ?? '', c.subscriptions_list ?? []]));
  }

  /** kill -9: no goodbye to the clients. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}
