// Settings for verify's unit tests, resolved by the real settings code.
import type { StackModel } from '../../../src/model/model.js';
import { resolveSettings as resolve, type Settings } from '../../../src/settings/settings.js';
import { servicesOnThisHost } from '../../../src/stackfile/generate.js';

export function resolveSettings(model: StackModel, file: object = {}): Settings {
  return resolve({ defaults: { hostname: 'h1', ip: '10.0.0.5' }, file }, model);
}

export const servicesOnThisHostFor = servicesOnThisHost;
