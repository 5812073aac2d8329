/**
 * Decodes a stored (decrypted) payload by its stream's message type, for
 * exports: gateway-wide streams first, then streams tenants add. The admin
 * API and the CLI share it.
 */
import type { GatewayConfig } from '../config/schema.ts';
import type { PayloadEncoding } from '../records/message.ts';
import type { TelemetryCodec } from './codec.ts';

export function streamMessageType(config: GatewayConfig, stream: string): string | undefined {
  const own = config.streams[stream]?.messageType;
  if (own) return own;
  for (const tenant of Object.values(config.tenants)) {
    const type = tenant.streams[stream]?.messageType;
    if (type) return type;
  }
  return undefined;
}

export function recordDecoder(codec: TelemetryCodec, config: () => GatewayConfig) {
  return (stream: string, payload: Buffer, encoding: PayloadEncoding): object => {
    const type = streamMessageType(config(), stream);
    return type ? codec.decode(type, payload, encoding) : { undecodable: `unknown stream ${stream}` };
  };
}
