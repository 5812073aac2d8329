/** What the shared-subscription tests (3.1.1 and MQTT 5) publish, read back and wait on. */
import { sleep } from './gateway.ts';

/** A device message in the proto3 JSON mapping: forwarded as JSON, one line for mosquitto_sub. */
export function fix(sequence: number): string {
  return JSON.stringify({ timeUnixMs: Date.now(), sequence, latitude: 48.85, longitude: 2.29 });
}

export function sequenceOf(payload: string): string {
  return String((JSON.parse(payload) as { sequence: string | number }).sequence);
}

/** Polls `check` until it holds or the time is up; returns its last answer. */
export async function until(check: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await sleep(25);
  return check();
}
