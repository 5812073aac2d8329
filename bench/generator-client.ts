/** run.ts's handle on the load generator process. */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { ScaleResult, ScaleSpec } from './connection-scale.ts';
import type { GeneratorReport, GeneratorRequest } from './load-generator.ts';
import type { LoadResult, LoadSpec } from './publish-load.ts';

const HERE = new URL('.', import.meta.url).pathname;

export class GeneratorClient {
  private readonly child: ChildProcess;

  constructor() {
    this.child = fork(join(HERE, 'load-generator.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Runs one job; `onMark` is awaited before the generator is told to continue (scale) or just called (load). */
  private job<R>(req: GeneratorRequest, onMark: (name: string) => Promise<void> | void, waitForMarks: boolean): Promise<R> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: GeneratorReport): void => {
        if (m.kind === 'mark') {
          const done = onMark(m.name);
          if (waitForMarks) void Promise.resolve(done).then(() => this.child.send({ kind: 'continue' } satisfies GeneratorRequest));
          return;
        }
        cleanup();
        if (m.kind === 'result') resolve(m.result as R);
        else reject(new Error(`load generator: ${m.message}`));
      };
      const onExit = (code: number | null): void => { cleanup(); reject(new Error(`load generator exited (${code})`)); };
      const cleanup = (): void => { this.child.off('message', onMessage); this.child.off('exit', onExit); };
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
      this.child.send(req);
    });
  }

  load(spec: LoadSpec, onMark: (name: string) => void): Promise<LoadResult> {
    return this.job({ kind: 'load', spec }, onMark, false);
  }

  scale(spec: ScaleSpec, onMark: (name: string) => Promise<void>): Promise<ScaleResult> {
    return this.job({ kind: 'scale', spec }, onMark, true);
  }

  close(): void {
    if (this.child.connected) this.child.disconnect();
  }
}
