/**
 * String rules mqtt-packet does not enforce: it decodes UTF-8 leniently
 * (invalid sequences become U+FFFD) and accepts U+0000. The gateway treats
 * both as malformed ([MQTT-1.5.3-1], [MQTT-1.5.3-2]); no id or topic it
 * accepts can contain either.
 */
export function isWellFormedMqttString(s: string): boolean {
  return !s.includes('\u0000') && !s.includes('\uFFFD');
}

/** Levels of a topic or filter: one more than its separators. */
export function topicLevels(topic: string): number {
  let n = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 0x2f) n++;
  return n;
}
