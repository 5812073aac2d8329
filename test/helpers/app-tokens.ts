/** An OAuth issuer made per test run: an ES256 key, its JWKS in a file the gateway reads, and signed tokens. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import type { IClientOptions, MqttClient } from 'mqtt';
import { connectWith } from './gateway.ts';

export const ISSUER = 'https://idp.test/';
export const AUDIENCE = 'thingiq';

export interface TokenOptions {
  readonly issuer?: string;
  readonly audience?: string;
  /** Seconds since the epoch, or a jose duration such as '5m'. */
  readonly exp?: number | string;
  readonly sub?: string;
}

export class TestIssuer {
  private constructor(private readonly key: CryptoKey, readonly jwksFile: string) {}

  static async create(dir: string): Promise<TestIssuer> {
    const pair = await generateKeyPair('ES256');
    const jwksFile = join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }));
    return new TestIssuer(pair.privateKey, jwksFile);
  }

  /** admin.oauth for this issuer. */
  oauth(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { issuer: ISSUER, audience: AUDIENCE, jwksFile: this.jwksFile, ...extra };
  }

  sign(claims: Record<string, unknown>, o: TokenOptions = {}): Promise<string> {
    return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject(o.sub ?? 'alice')
      .setIssuer(o.issuer ?? ISSUER).setAudience(o.audience ?? AUDIENCE).setIssuedAt()
      .setExpirationTime(o.exp ?? '5m').sign(this.key);
  }
}

/** mqtt.js over wss:// to the gateway, verifying its certificate against the run's CA. */
export function wssOptions(port: number, caPem: string, extra: IClientOptions = {}): IClientOptions {
  return {
    protocol: 'wss', host: '127.0.0.1', port, path: '/mqtt', ca: caPem,
    protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...extra,
  };
}

/** Resolves on CONNACK; rejects with mqtt.js's error (its `code` is the CONNACK return code). */
export function connectWss(port: number, caPem: string, extra: IClientOptions = {}): Promise<MqttClient> {
  return connectWith(wssOptions(port, caPem, extra));
}
