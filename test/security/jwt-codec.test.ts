import jwt from 'jsonwebtoken';
import { JwtCodec } from '../../src/auth/jwt';
import { appGlobals } from '../support/app-globals';

const SECRET = 'a-secret-of-at-least-thirty-two-characters';
const OPTIONS = {
  secret: SECRET,
  algorithm: 'HS256' as const,
  issuer: undefined,
  audience: undefined,
  defaultTtlSeconds: 600,
};

describe('JwtCodec remembers the tokens it verified', () => {
  let checks: jest.SpyInstance;
  beforeEach(() => {
    checks = jest.spyOn(jwt, 'verify');
  });
  afterEach(() => jest.restoreAllMocks());

  const issue = (codec: JwtCodec, sub: string, expiresInSeconds = 600) =>
    codec.sign({ sub, jti: `cred_${sub}`, scopes: ['users:write'], expiresInSeconds });

  it('checks a signature once and answers the same claims after that', () => {
    const codec = new JwtCodec(SECRET, OPTIONS);
    const token = issue(codec, 'usr_1');
    const first = codec.verify(token);
    expect(first).toMatchObject({ sub: 'usr_1', jti: 'cred_usr_1', scope: 'users:write' });
    expect(codec.verify(token)).toEqual(first);
    expect(checks).toHaveBeenCalledTimes(1);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('refuses a remembered token once its exp is reached, as jsonwebtoken would', () => {
    const codec = new JwtCodec(SECRET, OPTIONS);
    const token = issue(codec, 'usr_1', 60);
    const { exp } = codec.verify(token)!;
    jest.spyOn(appGlobals.Date, 'now').mockReturnValue(exp * 1000 - 1);
    expect(codec.verify(token)).not.toBeNull();
    jest.spyOn(appGlobals.Date, 'now').mockReturnValue(exp * 1000);
    expect(codec.verify(token)).toBeNull();
    expect(codec.verify(token)).toBeNull();
    expect(checks).toHaveBeenCalledTimes(2);
  });

  it('remembers nothing it refused: another key, a key header, missing claims', () => {
    const codec = new JwtCodec(SECRET, OPTIONS);
    const refused = [
      jwt.sign({ sub: 'usr_1', jti: 'cred_1' }, 'another-secret-of-thirty-two-characters', { expiresIn: 60 }),
      jwt.sign({ sub: 'usr_1', jti: 'cred_1' }, SECRET, { expiresIn: 60, keyid: 'k1' }),
      jwt.sign({ sub: 'usr_1' }, SECRET, { expiresIn: 60 }),
      jwt.sign({ sub: 'usr_1', jti: 'cred_1' }, SECRET),
    ];
    for (const token of [...refused, ...refused]) expect(codec.verify(token)).toBeNull();
    expect(checks).toHaveBeenCalledTimes(2 * refused.length);
  });

  it('holds at most the number of tokens it was given, forgetting the oldest first', () => {
    const codec = new JwtCodec(SECRET, OPTIONS, 2);
    const [a, b, c] = ['usr_a', 'usr_b', 'usr_c'].map((sub) => issue(codec, sub));
    for (const token of [a, b, c]) expect(codec.verify(token)).not.toBeNull();
    expect(checks).toHaveBeenCalledTimes(3);
    expect(codec.verify(c)).not.toBeNull();
    expect(checks).toHaveBeenCalledTimes(3);
    expect(codec.verify(a)).toMatchObject({ sub: 'usr_a' });
    expect(checks).toHaveBeenCalledTimes(4);
  });
});
