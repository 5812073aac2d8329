/**
 * Turns driver errors into TiqErrors that say whether retrying can help:
 * the batching writer retries TIQ_ERR_STORE_UNAVAILABLE and isolates records
 * on anything else.
 */
import { TiqError, isTiqError } from '../errors.ts';

// SQLSTATE classes where the data or the statement is at fault (retrying the same batch cannot help):
// 22 data exception, 23 integrity constraint violation, 42 syntax error or access rule violation.
const PG_PERMANENT_CLASSES = new Set(['22', '23', '42']);

export function fromPgError(err: unknown, sink: string): TiqError {
  if (isTiqError(err)) return err;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code.length === 5 && PG_PERMANENT_CLASSES.has(code.slice(0, 2))) {
    return new TiqError('TIQ_ERR_INTERNAL', { reason: 'record refused by sink', sink, sqlState: code }, { cause: err });
  }
  return new TiqError('TIQ_ERR_STORE_UNAVAILABLE', { sink, ...(typeof code === 'string' ? { driverCode: code } : {}) }, { cause: err });
}

// SQLite result codes where the data is at fault; everything else (BUSY, IOERR, FULL, READONLY...) may pass.
const SQLITE_PERMANENT = /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/;

export function fromSqliteError(err: unknown, sink: string): TiqError {
  if (isTiqError(err)) return err;
  const code = (err as { code?: unknown }).code;
  if ((typeof code === 'string' && SQLITE_PERMANENT.test(code)) || err instanceof TypeError || err instanceof RangeError) {
    return new TiqError('TIQ_ERR_INTERNAL', { reason: 'record refused by sink', sink, ...(typeof code === 'string' ? { driverCode: code } : {}) }, { cause: err });
  }
  return new TiqError('TIQ_ERR_STORE_UNAVAILABLE', { sink, ...(typeof code === 'string' ? { driverCode: code } : {}) }, { cause: err });
}
