/** Prints the error catalogue as the README's Markdown table: `node --import tsx scripts/error-codes.ts`. */
import { pathToFileURL } from 'node:url';
import { ERROR_CATALOGUE, MQTT5_OUTCOMES, type ErrorCode, type MqttOutcome } from '../src/errors.ts';

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

/** How the README's "at MQTT 5" column says a code's MQTT 5 outcome (reason codes in hex, MQTT 5 §2.4). */
export function atMqtt5(code: ErrorCode): string {
  const o = MQTT5_OUTCOMES[code];
  if (!o) return '—';
  const hex = `0x${o.reasonCode.toString(16).padStart(2, '0').toUpperCase()}`;
  switch (o.packet) {
    case 'tls-refused': return 'refused at TLS';
    case 'close': return 'closed';
    case 'puback': return o.reasonCode === 0 ? 'PUBACK 0x00, not stored or forwarded' : `PUBACK ${hex}`;
    default: return `${o.packet.toUpperCase()} ${hex}`;
  }
}

export const TABLE_HEADER = ['code', 'meaning', 'at MQTT 3.1.1', 'at MQTT 5', 'HTTP', 'retry helps'] as const;

/** One row per code, in catalogue order, as the README's cells. */
export function errorTableRows(): string[][] {
  return Object.entries(ERROR_CATALOGUE).map(([code, s]) => [`\`${code}\``, s.message, AT_MQTT[s.mqtt], atMqtt5(code as ErrorCode), String(s.httpStatus), s.retryable ? 'yes' : 'no']);
}

export function errorTable(): string {
  const lines = [`| ${TABLE_HEADER.join(' | ')} |`, `|${TABLE_HEADER.map(() => '---').join('|')}|`];
  for (const row of errorTableRows()) lines.push(`| ${row.join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.stdout.write(errorTable());
