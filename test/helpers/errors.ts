import { expect } from 'vitest';
import { RegistryError } from '../../src/errors.js';

/** The error `promise` rejects with; fails the test unless it rejects with an instance of `type`. */
export async function rejectionOf<E extends Error = RegistryError>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E = RegistryError as never,
  message?: string,
): Promise<E> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error, message).toBeInstanceOf(type);
  return error as E;
}
