/**
 * What the backup and restore tests share: per-run certificates, a data
 * directory, a local keyring outside it (a restore must not be able to
 * overwrite the keys it decrypts with), a config file, and the thingiq
 * command run against that config.
 */
import { join } from 'node:path';
import { TestPki } from '../helpers/pki.ts';
import { runCli } from '../cli/run-cli.ts';

export function backupRig() {
  const pki = new TestPki();
  const base = pki.baseDir;
  const keyDir = join(base, 'keys');
  const configFile = join(base, 'gateway.yaml');
  return {
    pki, base, configFile,
    dataDir: join(base, 'data'),
    keys: { local: { keyringFile: join(keyDir, 'keyring.json'), rootKeyFile: join(keyDir, 'root.key') } },
    cli: (...args: string[]) => runCli(base, ['--config', configFile, ...args]),
  };
}
