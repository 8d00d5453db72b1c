// What a dispatched command answered, for tests: its result, or its error
// thrown with the envelope's fields (kind, message, hint) so that a test can
// match them with `rejects.toMatchObject`.
import type { ResponseEnvelope } from '../../shared/contract.js';

export function resultOf<T>(response: ResponseEnvelope): T {
  if (!response.ok) throw Object.assign(new Error(response.error.message), response.error);
  return response.result as T;
}
