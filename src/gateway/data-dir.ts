/**
 * The data directory is owner-only: files 0600, directories 0700. It holds
 * the databases (ciphertext, but also device ids, times and retention tags),
 * the keyring, the audit log and the API's state.
 *
 * New files get their mode where they are created (explicit modes, SQLite's
 * database file chmodded before it creates -wal and -shm, which SQLite gives
 * the database file's mode). At start, what an older version or an operator
 * left looser is tightened, with one warning per path: the data is the
 * gateway's own and a readable copy cannot be recalled anyway, so refusing to
 * start would only cost availability. The root key is the exception: its
 * loader refuses a readable root key file (src/keys/root-key.ts), because a
 * key that may have been read must be replaced, not hidden; it is left as it
 * is here so that refusal still happens.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { GatewayConfig } from '../config/schema.ts';
import { TiqError } from '../errors.ts';
import type { Logger } from '../log.ts';

export const DATA_FILE_MODE = 0o600;
export const DATA_DIR_MODE = 0o700;

export interface SecureDataDirOptions {
  /** Files whose own loader refuses a loose mode (the root key): not tightened here. */
  readonly leaveAlone?: readonly string[];
}

/** Where the local provider reads its root key from (as src/keys/provider-registry.ts resolves it). */
export function rootKeyFiles(config: GatewayConfig, baseDir: string): string[] {
  const file = config.keys?.local?.rootKeyFile;
  return [join(resolve(baseDir, config.dataDir), 'root.key'), ...(file ? [resolve(file)] : [])];
}

/** Creates `dir` (0700) if needed, then tightens every looser file and directory under it. */
export function secureDataDir(dir: string, log: Logger, options: SecureDataDirOptions = {}): void {
  mkdirSync(dir, { recursive: true, mode: DATA_DIR_MODE });
  const leaveAlone = new Set(options.leaveAlone ?? []);
  // The root may be a symbolic link to a mount: follow it; below it, links are not followed.
  tighten(dir, statSync(dir).mode, DATA_DIR_MODE, log);
  walk(dir, log, leaveAlone);
}

function walk(dir: string, log: Logger, leaveAlone: ReadonlySet<string>): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isDirectory()) {
      tighten(path, st.mode, DATA_DIR_MODE, log);
      walk(path, log, leaveAlone);
    } else if (st.isFile() && !leaveAlone.has(path)) {
      tighten(path, st.mode, DATA_FILE_MODE, log);
    }
  }
}

function tighten(path: string, mode: number, wanted: number, log: Logger): void {
  if ((mode & 0o077) === 0) return;
  try {
    chmodSync(path, mode & wanted);
  } catch (err) {
    throw new TiqError('TIQ_ERR_CONFIG', `${path} is mode ${octal(mode)} and cannot be tightened to ${octal(wanted)} (${(err as NodeJS.ErrnoException).code ?? 'error'}); chmod it or run as its owner`);
  }
  log.warn({ event: 'data_mode_tightened', path, was: octal(mode), now: octal(mode & wanted) }, 'a file or directory in the data directory was readable by others; tightened');
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}
