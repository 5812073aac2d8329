/**
 * The backup file: a header, then a sequence of AES-256-GCM frames under a
 * fresh 256-bit backup key (NIST SP 800-38D).
 *
 *   "TIQBAK01" | u32 header length | header JSON | frame... | (end)
 *   frame = u32 ciphertext length | ciphertext | 16-byte tag
 *
 * The header names the key store's KEK (`kekRef`) and carries the backup
 * key wrapped under it, never the key itself. Each frame's nonce is its
 * index (big-endian) and a final-frame flag, and its additional data is the
 * SHA-256 of the header, so a frame moved, dropped, repeated or taken from
 * another backup fails authentication, and a file cut after any frame but
 * the last one flagged final is truncated (the STREAM construction of
 * Hoang, Reyhanitabar, Rogaway and Vizár, "Online Authenticated-Encryption
 * and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015).
 *
 * Frame plaintext: one type byte and its body: a file's start (JSON: path,
 * size, mode), a piece of its content, or the manifest (JSON, last).
 */
import { createCipheriv, createDecipheriv, createHash, type KeyObject } from 'node:crypto';
import { TiqError } from '../errors.ts';

export const MAGIC = Buffer.from('TIQBAK01', 'ascii');
export const FORMAT = 'thingiq.backup';
export const FORMAT_VERSION = 1;
/** Plaintext bytes per content frame. */
export const FRAME_BYTES = 1024 * 1024;
const TAG_BYTES = 16;
const MAX_HEADER_BYTES = 64 * 1024;
const MAX_FRAME_BYTES = FRAME_BYTES + 64 * 1024;

export const FrameType = { fileStart: 1, fileData: 2, manifest: 3 } as const;

export interface BackupHeader {
  readonly format: typeof FORMAT;
  readonly version: typeof FORMAT_VERSION;
  readonly createdAt: string;
  /** The key store's key that wraps the backup key: `local:root-hkdf:backup-v1` or `aws-kms:<key ARN>`. */
  readonly kekRef: string;
  /** The backup key wrapped under kekRef (base64). */
  readonly wrappedKey: string;
  /** For the local provider: an HMAC of a constant under the KEK, to tell a wrong root key from a damaged file. */
  readonly kekCheck?: string;
}

export function corrupt(reason: string): TiqError {
  return new TiqError('TIQ_ERR_BACKUP_CORRUPT', reason);
}

export function encodeHeader(header: BackupHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.length);
  return Buffer.concat([MAGIC, len, json]);
}

/** Parses the header at the start of `buf`; returns it, its bytes (the frames' AAD source) and where the frames start. */
export function decodeHeader(buf: Buffer): { header: BackupHeader; bytes: Buffer; end: number } {
  if (buf.length < MAGIC.length + 4 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw corrupt('not a ThingIQ backup file');
  const len = buf.readUInt32BE(MAGIC.length);
  const end = MAGIC.length + 4 + len;
  if (len > MAX_HEADER_BYTES || buf.length < end) throw corrupt('header truncated');
  let header: BackupHeader;
  try {
    header = JSON.parse(buf.subarray(MAGIC.length + 4, end).toString('utf8')) as BackupHeader;
  } catch {
    throw corrupt('header is not JSON');
  }
  if (header.format !== FORMAT || header.version !== FORMAT_VERSION || typeof header.kekRef !== 'string' || typeof header.wrappedKey !== 'string') {
    throw corrupt(`unsupported backup format (${String(header.format)} v${String(header.version)})`);
  }
  return { header, bytes: buf.subarray(0, end), end };
}

function nonce(index: number, final: boolean): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeBigUInt64BE(BigInt(index), 3);
  iv[11] = final ? 1 : 0;
  return iv;
}

export function headerDigest(headerBytes: Buffer): Buffer {
  return createHash('sha256').update(headerBytes).digest();
}

/** Seals frame `index`; `final` marks the last frame of the file. */
export function sealFrame(key: KeyObject, aad: Buffer, index: number, final: boolean, plain: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonce(index, final), { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body, cipher.getAuthTag()]);
}

/**
 * Reads frames from a byte stream in order and yields their plaintext; the
 * last one must carry the final flag and nothing may follow it. Whether a
 * frame is final is not written anywhere: it is tried both ways, and only
 * the right one authenticates.
 */
export async function* openFrames(source: AsyncIterable<Buffer>, key: KeyObject, aad: Buffer): AsyncGenerator<Buffer> {
  let buf: Buffer = Buffer.alloc(0);
  let index = 0;
  let done = false;
  for await (const chunk of source) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (buf.length < 4) break;
      const len = buf.readUInt32BE(0);
      if (len > MAX_FRAME_BYTES) throw corrupt(`frame ${index} has an impossible length`);
      if (buf.length < 4 + len + TAG_BYTES) break;
      if (done) throw corrupt('data after the final frame');
      const body = buf.subarray(4, 4 + len);
      const tag = buf.subarray(4 + len, 4 + len + TAG_BYTES);
      buf = buf.subarray(4 + len + TAG_BYTES);
      const opened = tryOpen(key, aad, index, false, body, tag) ?? tryOpen(key, aad, index, true, body, tag);
      if (!opened) throw corrupt(`frame ${index} fails authentication (damaged, reordered or from another backup)`);
      done = opened.final;
      index++;
      yield opened.plain;
    }
  }
  if (buf.length > 0) throw corrupt(done ? 'data after the final frame' : `truncated inside frame ${index}`);
  if (!done) throw corrupt(`truncated: no final frame after ${index} frames`);
}

function tryOpen(key: KeyObject, aad: Buffer, index: number, final: boolean, body: Buffer, tag: Buffer): { plain: Buffer; final: boolean } | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce(index, final), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return { plain: Buffer.concat([decipher.update(body), decipher.final()]), final };
  } catch {
    return undefined;
  }
}
