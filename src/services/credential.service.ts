import type { JwtCodec } from '../auth/jwt';
import type { PresentedCredential } from '../auth/presented-credential';
import type { Principal, RequestContext } from '../auth/principal';
import { FULL_SCOPES, parseScopes, unknownScopes } from '../auth/scopes';
import { hashSecret, newSecret, randomId } from '../auth/secrets';
import { Database } from '../db/database';
import type { CredentialWithUser } from '../db/port';
import { CredentialKind, UserStatus } from '../entities/enums';
import { Credential } from '../entities/credential.entity';
import { User } from '../entities/user.entity';
import { BadUserInputError, ForbiddenError, NotFoundError, UnauthenticatedError } from '../errors/app-error';
import { MAX_CREDENTIAL_LIFETIME_SECONDS } from '../config';
import { hasCharactersBetween, hasForbiddenCharacters } from './validation/user-field.rules';

export interface IssueRequest {
  userId: string;
  kind: CredentialKind;
  scopes?: string[];
  expiresInSeconds?: number;
  name?: string;
}

export interface IssuedCredential {
  credential: Credential;
  /** The secret: shown once, never stored. */
  token: string;
}

/** `lastUsedAt` is refreshed at most this often, so reads do not turn into a write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

/** Issues, revokes and checks credentials. */
export class CredentialService {
  constructor(
    private readonly db: Database,
    private readonly jwt: JwtCodec,
    private readonly jwtDefaultTtlSeconds: number,
  ) {}

  async issue(ctx: RequestContext, request: IssueRequest): Promise<IssuedCredential> {
    if (!ctx.operator) throw new ForbiddenError('Only the operator can issue credentials');
    // Only an absent list means the default: an empty one (an unset variable in a script) is refused,
    // never widened to full rights.
    if (request.scopes?.length === 0)
      throw new BadUserInputError([{ field: 'scopes', message: 'scopes must name at least one scope' }]);
    if (
      request.name !== undefined &&
      (!hasCharactersBetween(request.name, 1, 200) || hasForbiddenCharacters(request.name))
    )
      throw new BadUserInputError([
        { field: 'name', message: 'name must be 1 to 200 characters without control characters' },
      ]);
    const scopes = request.scopes ? [...new Set(request.scopes)] : [...FULL_SCOPES];
    const unknown = unknownScopes(scopes);
    if (unknown.length) {
      throw new BadUserInputError([{ field: 'scopes', message: `unknown scope(s): ${unknown.join(', ')}` }]);
    }
    const ttl =
      request.expiresInSeconds ??
      (request.kind === CredentialKind.JWT ? this.jwtDefaultTtlSeconds : undefined);
    if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_CREDENTIAL_LIFETIME_SECONDS)) {
      throw new BadUserInputError([
        {
          field: 'expiresIn',
          message: `expires-in must be a whole number of seconds from 1 to ${MAX_CREDENTIAL_LIFETIME_SECONDS} (100 years)`,
        },
      ]);
    }
    const now = new Date();
    return this.db.write(async (m) => {
      const user = await m.getRepository(User).findOneBy({ id: request.userId });
      if (!user) throw new NotFoundError(`User ${request.userId} not found`);
      const id = randomId('cred_');
      const token =
        request.kind === CredentialKind.JWT
          ? this.jwt.sign({ sub: user.id, jti: id, scopes, expiresInSeconds: ttl! })
          : newSecret(request.kind);
      const credential = m.create(Credential, {
        id,
        kind: request.kind,
        userId: user.id,
        scopes: scopes.join(' '),
        name: request.name ?? null,
        secretHash: request.kind === CredentialKind.JWT ? null : hashSecret(token),
        createdAt: now.toISOString(),
        expiresAt: ttl === undefined ? null : new Date(now.getTime() + ttl * 1000).toISOString(),
        lastUsedAt: null,
        revokedAt: null,
      });
      await m.getRepository(Credential).insert(credential);
      return { credential, token };
    });
  }

  /** Revokes at once: the next request with this credential is refused. */
  async revoke(ctx: RequestContext, id: string): Promise<Credential> {
    if (!ctx.operator) throw new ForbiddenError('Only the operator can revoke credentials');
    return this.db.write(async (m) => {
      const repository = m.getRepository(Credential);
      const credential = await repository.findOneBy({ id });
      if (!credential) throw new NotFoundError(`Credential ${id} not found`);
      if (!credential.revokedAt) {
        credential.revokedAt = new Date().toISOString();
        await repository.update({ id }, { revokedAt: credential.revokedAt });
      }
      return credential;
    });
  }

  /** Resolves a presented credential to the principal, with role, organization and status from the database. */
  async authenticate(presented: PresentedCredential): Promise<Principal> {
    let credential: CredentialWithUser | null;
    let claimScopes: string[] | null = null;
    let subject: string | null = null;
    if (presented.kind === CredentialKind.JWT) {
      const claims = this.jwt.verify(presented.value);
      if (!claims) throw new UnauthenticatedError('Invalid or expired token');
      claimScopes = parseScopes(claims.scope);
      subject = claims.sub;
      credential = await this.db.users.credentialById(claims.jti);
    } else {
      credential = await this.db.users.credentialBySecretHash(hashSecret(presented.value));
    }
    const now = new Date();
    if (
      !credential ||
      credential.kind !== presented.kind ||
      (subject !== null && credential.userId !== subject)
    ) {
      throw new UnauthenticatedError('Invalid token');
    }
    if (credential.revokedAt) throw new UnauthenticatedError('This token has been revoked');
    if (credential.expiresAt && new Date(credential.expiresAt) <= now) {
      throw new UnauthenticatedError('This token has expired');
    }
    if (credential.user.status !== UserStatus.ACTIVE) throw new UnauthenticatedError('This user is inactive');
    let scopes = credential.scopes.split(' ').filter(Boolean);
    if (claimScopes) scopes = scopes.filter((scope) => claimScopes.includes(scope));
    if (
      !credential.lastUsedAt ||
      now.getTime() - Date.parse(credential.lastUsedAt) > LAST_USED_RESOLUTION_MS
    ) {
      await this.db.users.touchCredential(credential.id, now.toISOString());
    }
    return {
      user: credential.user,
      credentialId: credential.id,
      credentialKind: credential.kind,
      scopes: new Set(scopes),
    };
  }
}
