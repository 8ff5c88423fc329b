import { describe, expect, it } from 'vitest';
import { createIdentityHeaderTest, foldHeaderName } from './identity-header-name.js';

describe('identity header names', () => {
  const isIdentity = createIdentityHeaderTest('x-idgate-', ['x-user-email']);

  it.each([
    ['x-idgate-roles', true],
    ['x-idgate_roles', true],
    ['x_idgate_roles', true],
    ['x_idgate-email', true],
    ['x-user-email', true],
    ['x_user_email', true],
    ['x-idgate', false],
    ['x-idgatex-roles', false],
    ['x-user', false],
    ['authorization', false],
    [':authority', false],
  ] as const)('%s → %s', (name, expected) => {
    expect(isIdentity(name)).toBe(expected);
  });

  it('folds case and underscores the way WSGI/CGI/Rack read a name', () => {
    expect(foldHeaderName('X_Idgate-Roles')).toBe('x-idgate-roles');
    expect(createIdentityHeaderTest('X_ID_')('x-id-subject')).toBe(true);
  });
});
