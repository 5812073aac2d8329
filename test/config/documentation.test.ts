import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/errors.ts';

const README = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');

describe('README', () => {
  it('starts with the two commands: run the gateway, run the tests', () => {
    const head = README.split('\n').slice(0, 12).join('\n');
    expect(head).toContain('npm install && npm start');
    expect(head).toContain('npm test');
  });

  it.each(Object.keys(ERROR_CATALOGUE))('documents %s', (code) => {
    expect(README).toContain(`\`${code}\``);
  });
});
