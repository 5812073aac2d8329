/** Prints the error catalogue as the README's Markdown table: `node --import tsx scripts/error-codes.ts`. */
import { ERROR_CATALOGUE, type MqttOutcome } from '../src/errors.ts';

const AT_MQTT: Record<MqttOutcome, string> = {
  'connack-refused': 'CONNACK refused',
  'suback-failure': 'SUBACK 0x80',
  disconnect: 'disconnect',
  'not-acknowledged': 'no PUBACK (device resends)',
  'acknowledged-dropped': 'PUBACK, not stored or forwarded',
  'tls-refused': 'refused at TLS',
  none: '—',
};

const lines = ['| code | meaning | at MQTT | HTTP | retry helps |', '|---|---|---|---|---|'];
for (const [code, s] of Object.entries(ERROR_CATALOGUE)) {
  lines.push(`| \`${code}\` | ${s.message} | ${AT_MQTT[s.mqtt]} | ${s.httpStatus} | ${s.retryable ? 'yes' : 'no'} |`);
}
process.stdout.write(`${lines.join('\n')}\n`);
