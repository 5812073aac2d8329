/**
 * Writes secrets to disk: owner-only (0600, directory 0700) and atomically
 * (temporary file in the same directory, fsync, rename, directory fsync), so a
 * crash never leaves a half-written keyring and no other user can read it even
 * for an instant. The steps are pki/secure-files.ts's writeFileAtomic, the one
 * atomic writer of the gateway.
 */
import { statSync } from 'node:fs';
import { writeFileAtomic } from '../pki/secure-files.ts';

export const SECRET_FILE_MODE = 0o600;

export function writeSecretFileAtomic(path: string, data: string | Buffer): void {
  writeFileAtomic(path, data, SECRET_FILE_MODE);
}

/** True when group or others have any permission bit on the file. */
export function isGroupOrWorldAccessible(path: string): boolean {
  return (statSync(path).mode & 0o077) !== 0;
}
