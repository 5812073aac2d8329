/**
 * The README's error table and the catalogue in src/errors.ts say the same
 * thing: every code of the catalogue has exactly one row, every row names a
 * code of the catalogue, and each row's meaning, MQTT outcome, HTTP status
 * and "retry helps" are the catalogue's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AT_MQTT, TABLE_HEADER, atMqtt5, errorTableRows } from '../../scripts/error-codes.ts';
import { ERROR_CATALOGUE, MQTT5_OUTCOMES, type ErrorCode, type MqttOutcome } from '../../src/errors.ts';

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
  it('has the columns code, meaning, at MQTT 3.1.1, at MQTT 5, HTTP, retry helps', () => {
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

  it('gives every code with an MQTT outcome an MQTT 5 outcome, and none to the others', () => {
    const mqttCodes = Object.entries(ERROR_CATALOGUE).filter(([, s]) => s.mqtt !== 'none').map(([c]) => c);
    expect(Object.keys(MQTT5_OUTCOMES).sort()).toEqual(mqttCodes.sort());
  });

  it('uses only reason codes MQTT 5 allows on the packet that carries them', () => {
    // MQTT 5 §3.4.2.1 (PUBACK), §3.9.3 (SUBACK), §3.2.2.2 (CONNACK), §3.14.2.1 (DISCONNECT).
    const allowed: Record<string, number[]> = {
      puback: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
      suback: [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2],
      connack: [0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f],
      disconnect: [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2],
    };
    for (const [code, o] of Object.entries(MQTT5_OUTCOMES)) {
      if (allowed[o.packet]) expect([code, allowed[o.packet]!.includes(o.reasonCode)]).toEqual([code, true]);
    }
  });

  it.each(table.rows.map((row) => [codeOf(row), row] as const))('%s: meaning, MQTT outcome, HTTP status and retry match the catalogue', (code, row) => {
    const spec = ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE];
    expect(spec).toBeDefined();
    const [, meaning, atMqtt, atV5, http, retry] = row;
    expect({ meaning, atMqtt, atV5, http, retry }).toEqual({
      meaning: spec.message,
      atMqtt: AT_MQTT[spec.mqtt as MqttOutcome],
      atV5: atMqtt5(code as ErrorCode),
      http: String(spec.httpStatus),
      retry: spec.retryable ? 'yes' : 'no',
    });
    expect(row).toEqual(expected.get(code));
  });
});
