/**
 * Exports each new audit checkpoint (sequence, hash, time and its MAC) to
 * places outside the data directory: a file, appended one JSON line per
 * checkpoint, and an HTTPS webhook. A host attacker who rolls back the log
 * together with its checkpoint (and the control store's anchor) is still
 * caught: `thingiq audit verify --checkpoint <exported file>` requires the
 * log to hold the newest exported entry. Failures are logged and retried at
 * the next interval; they never hold an audit commit.
 */
import { readFileSync } from 'node:fs';
import { appendFile, open } from 'node:fs/promises';
import { request } from 'node:https';
import { hostname } from 'node:os';
import type { CheckpointExportConfig } from '../config/audit-config.ts';

export interface CheckpointExportLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export class CheckpointExporter {
  #last = '';
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  readonly #ca: string | undefined;

  constructor(private readonly checkpointPath: string, private readonly config: CheckpointExportConfig, private readonly log: CheckpointExportLogger) {
    this.#ca = config.caFile ? readFileSync(config.caFile, 'utf8') : undefined;
  }

  start(): void {
    this.#timer = setInterval(() => void this.exportNow(), this.config.intervalMs);
    this.#timer.unref();
  }

  /** Exports the checkpoint if it changed since the last successful export; one run at a time. */
  exportNow(): Promise<void> {
    this.#running ??= this.#export().finally(() => { this.#running = undefined; });
    return this.#running;
  }

  async #export(): Promise<void> {
    let text: string;
    try {
      text = readFileSync(this.checkpointPath, 'utf8').trim();
    } catch {
      return; // no checkpoint yet
    }
    if (text === this.#last) return;
    const line = JSON.stringify({ ...(JSON.parse(text) as object), host: hostname() });
    try {
      if (this.config.file) await appendDurable(this.config.file, `${line}\n`);
      if (this.config.url) await post(this.config.url, line, this.#ca);
      this.#last = text;
    } catch (err) {
      this.log.warn({ event: 'audit_checkpoint_export_failed', code: 'TIQ_ERR_AUDIT', reason: (err as Error).message }, 'cannot export the audit checkpoint; retrying at the next interval');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.exportNow();
  }
}

async function appendDurable(path: string, text: string): Promise<void> {
  await appendFile(path, text, { mode: 0o600 });
  const file = await open(path, 'r');
  try {
    await file.sync();
  } finally {
    await file.close();
  }
}

function post(url: string, body: string, ca: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', timeout: 5000, ...(ca ? { ca } : {}), headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      res.on('end', () => (status >= 200 && status < 300 ? resolve() : reject(new Error(`webhook answered ${status}`))));
    });
    req.on('timeout', () => req.destroy(new Error('webhook timed out')));
    req.on('error', reject);
    req.end(body);
  });
}
