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
