/** Prints the error catalogue as the README's Markdown table: `node --import tsx scripts/error-codes.ts`. */
import { pathToFileURL } from 'node:url';
import { ERROR_CATALOGUE, type MqttOutcome } from '../src/errors.ts';

/** How the README's "at MQTT" column says each outcome. */
export const AT_MQTT: Record<MqttOutcome, string> = {
  'connack-refused': 'CONNACK refused',
  'suback-failure': 'SUBACK 0x80',
  disconnect: 'disconnect',
  'not-acknowledged': 'no PUBACK (device resends)',
  'acknowledged-dropped': 'PUBACK, not stored or forwarded',
  'acknowledged-refused': 'PUBACK, discarded; repeated refusals disconnect',
  'tls-refused': 'refused at TLS',
  none: '—',
};

export const TABLE_HEADER = ['code', 'meaning', 'at MQTT', 'HTTP', 'retry helps'] as const;

/** One row per code, in catalogue order, as the README's cells. */
export function errorTableRows(): string[][] {
  return Object.entries(ERROR_CATALOGUE).map(([code, s]) => [`\`${code}\``, s.message, AT_MQTT[s.mqtt], String(s.httpStatus), s.retryable ? 'yes' : 'no']);
}

export function errorTable(): string {
  const lines = [`| ${TABLE_HEADER.join(' | ')} |`, `|${TABLE_HEADER.map(() => '---').join('|')}|`];
  for (const row of errorTableRows()) lines.push(`| ${row.join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.stdout.write(errorTable());
