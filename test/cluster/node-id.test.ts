import { describe, expect, it } from 'vitest';
import { clusterNodeId } from '../../src/cluster/node-id.ts';

const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

describe('cluster node id', () => {
  it('uses the configured id, with a worker suffix when given', () => {
    expect(clusterNodeId('edge-1')).toBe('edge-1');
    expect(clusterNodeId('edge-1', 3)).toBe('edge-1-w3');
  });

  it('makes a valid id from any host name and the pid', () => {
    for (const host of ['GW.Example.COM', '--weird__host--', '', 'x'.repeat(200), 'ünïcode-host']) {
      const id = clusterNodeId(undefined, 12, host, 4_194_304);
      expect(id).toMatch(ID);
      expect(id.endsWith('-4194304-w12')).toBe(true);
    }
    expect(clusterNodeId(undefined, undefined, 'GW.Example.COM', 77)).toBe('gw-example-com-77');
  });
});
