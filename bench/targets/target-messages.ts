/** IPC between run.ts and a Node broker target (bare aedes or the gateway) running in its own process. */
export interface TlsMaterial {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export type TargetRequest =
  | { readonly kind: 'start-aedes'; readonly tls: TlsMaterial }
  | { readonly kind: 'start-gateway'; readonly config: unknown; readonly baseDir: string }
  | { readonly kind: 'gc' }
  | { readonly kind: 'stop' };

export type TargetReport =
  | { readonly kind: 'ready'; readonly port: number }
  | { readonly kind: 'gc-done' }
  | { readonly kind: 'stopped' }
  | { readonly kind: 'error'; readonly message: string };

/** The request loop both Node targets share: start once, collect garbage on demand, stop. */
export function serveTarget(start: (req: TargetRequest) => Promise<{ port: number; stop(): Promise<void> }>): void {
  let running: { port: number; stop(): Promise<void> } | undefined;
  const report = (r: TargetReport): void => { process.send?.(r); };
  process.on('message', (m) => {
    const req = m as TargetRequest;
    void (async () => {
      try {
        if (req.kind === 'gc') {
          (globalThis as { gc?: () => void }).gc?.();
          report({ kind: 'gc-done' });
        } else if (req.kind === 'stop') {
          await running?.stop();
          report({ kind: 'stopped' });
          process.disconnect?.();
        } else {
          running = await start(req);
          report({ kind: 'ready', port: running.port });
        }
      } catch (err) {
        report({ kind: 'error', message: (err as Error).stack ?? String(err) });
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
}
