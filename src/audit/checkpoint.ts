/**
 * The audit checkpoint: the sequence and hash of the last committed entry,
 * MACed under the chain key, rewritten (atomically, 0600) after every commit.
 * It is what lets `audit verify` tell an emptied, truncated or deleted log
 * from a new one. Copy it elsewhere (`thingiq audit verify --json` prints
 * the head) to detect a rollback of log and checkpoint together.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic, writeFileAtomicAsync } from '../pki/secure-files.ts';

export interface Checkpoint {
  readonly seq: number;
  readonly hash: string;
  readonly time: string;
}

function macOf(c: Checkpoint, key: Buffer): string {
  return createHmac('sha256', key).update(JSON.stringify(['checkpoint', 1, c.seq, c.hash, c.time])).digest('hex');
}

const checkpointText = (c: Checkpoint, key: Buffer) => `${JSON.stringify({ ...c, mac: macOf(c, key) })}\n`;

export function writeCheckpoint(path: string, c: Checkpoint, key: Buffer): void {
  writeFileAtomic(path, checkpointText(c, key), 0o600);
}

export function writeCheckpointAsync(path: string, c: Checkpoint, key: Buffer): Promise<void> {
  return writeFileAtomicAsync(path, checkpointText(c, key), 0o600);
}

/**
 * undefined: no checkpoint; 'invalid': present but unreadable or its MAC
 * does not hold. An exported file (one checkpoint per line) is read at its
 * last line: the newest copy.
 */
export function readCheckpoint(path: string, key: Buffer): Checkpoint | 'invalid' | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
    const v = JSON.parse(lines.at(-1) ?? '') as Partial<Checkpoint & { mac: string }>;
    if (!Number.isInteger(v.seq) || typeof v.hash !== 'string' || typeof v.time !== 'string' || typeof v.mac !== 'string') return 'invalid';
    const c = { seq: v.seq!, hash: v.hash, time: v.time };
    const want = Buffer.from(macOf(c, key), 'hex');
    const got = Buffer.from(v.mac, 'hex');
    return got.length === want.length && timingSafeEqual(got, want) ? c : 'invalid';
  } catch {
    return 'invalid';
  }
}
