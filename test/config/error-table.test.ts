/**
 * The README's error table and the catalogue in src/errors.ts say the same
 * thing: every code of the catalogue has exactly one row, every row names a
 * code of the catalogue, and each row's meaning, MQTT outcome, HTTP status
 * and "retry helps" are the catalogue's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AT_MQTT, TABLE_HEADER, errorTableRows } from '../../scripts/error-codes.ts';
import { ERROR_CATALOGUE, type MqttOutcome } from '../../src/errors.ts';

const README = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');

/** The table under "## Error codes": header cells and the rows, cells trimmed. */
function readmeErrorTable(): { header: string[]; rows: string[][] } {
  const section = README.split(/^## /m).find((s) => s.startsWith('Error codes\n'));
  if (!section) throw new Error('README has no "## Error codes" section');
  const lines = section.split('\n').filter((l) => l.startsWith('|'));
  const cells = (line: string) => line.replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/).map((c) => c.trim());
  const [header, separator, ...rows] = lines;
  expect(separator).toMatch(/^\|(-{3,}\|)+$/);
  return { header: cells(header!), rows: rows.map(cells) };
}

const table = readmeErrorTable();
const codeOf = (row: string[]) => row[0]!.replace(/`/g, '');
const readmeCodes = table.rows.map(codeOf);
const catalogueCodes = Object.keys(ERROR_CATALOGUE);
const expected = new Map(errorTableRows().map((row) => [codeOf(row), row]));

describe('README error table', () => {
  it('has the columns code, meaning, at MQTT, HTTP, retry helps', () => {
    expect(table.header).toEqual([...TABLE_HEADER]);
  });

  it('lists every code of the catalogue', () => {
    expect(catalogueCodes.filter((c) => !readmeCodes.includes(c))).toEqual([]);
  });

  it('lists no code the catalogue does not have, and none twice', () => {
    expect(readmeCodes.filter((c) => !catalogueCodes.includes(c))).toEqual([]);
    expect(readmeCodes.filter((c, i) => readmeCodes.indexOf(c) !== i)).toEqual([]);
  });

  it('names each MQTT outcome with its own words, so the column says which outcome it is', () => {
    const words = Object.values(AT_MQTT);
    expect(new Set(words).size).toBe(words.length);
  });

  it.each(table.rows.map((row) => [codeOf(row), row] as const))('%s: meaning, MQTT outcome, HTTP status and retry match the catalogue', (code, row) => {
    const spec = ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE];
    expect(spec).toBeDefined();
    const [, meaning, atMqtt, http, retry] = row;
    expect({ meaning, atMqtt, http, retry }).toEqual({
      meaning: spec.message,
      atMqtt: AT_MQTT[spec.mqtt as MqttOutcome],
      http: String(spec.httpStatus),
      retry: spec.retryable ? 'yes' : 'no',
    });
    expect(row).toEqual(expected.get(code));
  });
});
