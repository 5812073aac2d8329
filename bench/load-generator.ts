/**
 * The load generator's process (forked by run.ts), apart from the broker under
 * test so each process's CPU can be told apart. It does one job at a time,
 * asked over IPC, and reports marks (phase boundaries) and the result.
 */
import { runConnectionScale, type ScaleSpec } from './connection-scale.ts';
import { runPublishLoad, type LoadSpec } from './publish-load.ts';

export type GeneratorRequest =
  | { readonly kind: 'load'; readonly spec: LoadSpec }
  | { readonly kind: 'scale'; readonly spec: ScaleSpec }
  | { readonly kind: 'continue' };

export type GeneratorReport =
  | { readonly kind: 'mark'; readonly name: string }
  | { readonly kind: 'result'; readonly result: unknown }
  | { readonly kind: 'error'; readonly message: string };

function report(r: GeneratorReport): void {
  process.send?.(r);
}

let resumeMark: (() => void) | undefined;

async function handle(req: GeneratorRequest): Promise<void> {
  if (req.kind === 'continue') { resumeMark?.(); return; }
  try {
    const result = req.kind === 'load'
      ? await runPublishLoad(req.spec, (name) => report({ kind: 'mark', name }))
      : await runConnectionScale(req.spec, (name) => new Promise<void>((resolve) => {
        resumeMark = resolve;
        report({ kind: 'mark', name });
      }));
    report({ kind: 'result', result });
  } catch (err) {
    report({ kind: 'error', message: (err as Error).stack ?? String(err) });
  }
}

process.on('message', (m) => void handle(m as GeneratorRequest));
process.on('disconnect', () => process.exit(0));
