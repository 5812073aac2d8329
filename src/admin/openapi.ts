/**
 * The OpenAPI document is written by hand in docs/openapi.yaml (reviewed
 * like code) and served as JSON; test/admin/openapi.test.ts checks that it
 * and the server's routes name the same operations.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { TiqError } from '../errors.ts';

let cached: unknown;

/** docs/openapi.yaml, found from this file upward (src/admin or dist/src/admin). */
export function openApiPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'docs', 'openapi.yaml');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new TiqError('TIQ_ERR_INTERNAL', 'docs/openapi.yaml not found');
}

export function openApiDocument(): unknown {
  cached ??= parseYaml(readFileSync(openApiPath(), 'utf8'));
  return cached;
}
