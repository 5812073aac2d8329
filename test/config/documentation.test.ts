import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { ERROR_CATALOGUE } from '../../src/errors.ts';
import { privacySourcesFromConfig } from '../../src/privacy/config-sources.ts';
import { validateTenantPolicies } from '../../src/privacy/policy-validation.ts';

const README = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');

describe('README', () => {
  it('starts with the two commands: run the gateway, run the tests', () => {
    const head = README.split('\n').slice(0, 12).join('\n');
    expect(head).toContain('npm install && npm start');
    expect(head).toContain('npm test');
  });

  const yamlBlocks = [...README.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

  it('has configuration examples, and every one of them is a valid configuration', () => {
    expect(yamlBlocks.length).toBeGreaterThanOrEqual(3);
    for (const block of yamlBlocks) {
      const config = parseConfig(parseYaml(block));
      // Privacy policies are also checked as the engine checks them (groups exist, versions, zones).
      expect(validateTenantPolicies(privacySourcesFromConfig(config)).problems).toEqual([]);
    }
  });

  it.each(Object.keys(ERROR_CATALOGUE))('documents %s', (code) => {
    expect(README).toContain(`\`${code}\``);
  });
});
