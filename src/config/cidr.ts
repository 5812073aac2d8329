/** A network block in CIDR notation (`10.0.0.0/8`, `fd00::/8`), or one address. */
import { isIP } from 'node:net';
import { z } from 'zod';

export const CidrSchema = z.string().refine((s) => {
  const [net = '', prefix, extra] = s.split('/');
  const family = isIP(net);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  const bits = family === 4 ? 32 : 128;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= bits;
}, 'an IPv4 or IPv6 address, optionally with a /prefix length (CIDR)');
