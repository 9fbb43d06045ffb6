import { ConnectionException, DriverException, UniqueConstraintViolationException } from '@mikro-orm/core';
import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../../src/db/unavailable.js';

/** An error as `pg` raises it for a server message: the SQLSTATE in `code`. */
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: 'FATAL' });

describe('isDatabaseUnavailable', () => {
  it.each([
    ['terminating connection (57P01)', new DriverException(pgError('57P01', 'terminating connection due to administrator command'))],
    ['starting up (57P03)', pgError('57P03', 'the database system is starting up')],
    ['shutting down (57P03)', pgError('57P03', 'the database system is shutting down')],
    ['a connection exception (08006)', pgError('08006', 'connection failure')],
    ['too many connections (53300)', pgError('53300', 'sorry, too many clients already')],
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['refused on every address (AggregateError)', new AggregateError([Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' })], '')],
    ['connection reset, as a cause', new Error('query failed', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) })],
    ['a connection cut mid-query', new Error('Connection terminated unexpectedly')],
    ['a pool that cannot connect in time', new Error('timeout exceeded when trying to connect')],
    ['MikroORM ConnectionException', new ConnectionException(new Error('no connection'))],
    ['wrapped by GraphQL', new GraphQLError('Context creation failed: x', { originalError: pgError('57P01', 'terminating connection') })],
  ])('says yes to %s', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    ['a unique violation (23505)', new UniqueConstraintViolationException(pgError('23505', 'duplicate key value'))],
    ['a syntax error (42601)', pgError('42601', 'syntax error at or near "selec"')],
    ['a serialization failure (40001)', pgError('40001', 'could not serialize access')],
    ['a plain error', new Error('boom')],
    ['a non-error', 'ECONNREFUSED'],
    ['null', null],
  ])('says no to %s', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});
