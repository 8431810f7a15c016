// The local driver (`install --mode standalone`): the stack runs on this
// machine, reached without SSH. Nothing to bring up or take down.

import type { Driver } from './driver.js';

export function localDriver(): Driver {
  return {
    name: 'local',
    mode: 'standalone',
    // The seed's HOSTNAME/IP describe this machine.
    async create() {
      return { ref: { kind: 'local', address: '127.0.0.1' }, seedNames: true };
    },
    async destroy() {},
    async state() {
      return { state: 'running', detail: 'this machine' };
    },
  };
}
