import { expect } from 'chai';
import { PaasboxError } from '../../src/errors.js';

/** The PaasboxError a promise rejects with; fails the test when it resolves or rejects otherwise. */
export async function failure(p: Promise<unknown>): Promise<PaasboxError> {
  try {
    await p;
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(PaasboxError);
    return e as PaasboxError;
  }
  throw new Error('expected a PaasboxError, got success');
}

/** The PaasboxError fn throws; fails the test when it returns or throws otherwise. */
export function thrown(fn: () => unknown): PaasboxError {
  try {
    fn();
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(PaasboxError);
    return e as PaasboxError;
  }
  throw new Error('expected a PaasboxError, got success');
}
