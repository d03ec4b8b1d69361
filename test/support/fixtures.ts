import { operatorContext } from '../../src/auth/principal';
import type { Services } from '../../src/app';
import { CredentialKind, Role } from '../../src/entities/enums';
import { User } from '../../src/entities/user.entity';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export interface TokenOptions {
  scopes?: string[];
  expiresInSeconds?: number;
}

/** Creates users and credentials through the same services the operator CLI uses. */
export class Fixtures {
  private counter = 0;
  constructor(private readonly services: Services) {}

  async org(name = 'Org'): Promise<string> {
    return (await this.services.organizations.create(operatorContext(), name)).id;
  }

  async user(
    orgId: string,
    fields: { role?: Role; email?: string; name?: string; username?: string } = {},
  ): Promise<User> {
    this.counter += 1;
    return this.services.provisioning.create(operatorContext(), {
      organizationId: orgId,
      email: fields.email ?? `user${this.counter}-${Date.now()}@example.com`,
      name: fields.name ?? `User ${this.counter}`,
      role: fields.role ?? Role.MEMBER,
      username: fields.username,
    });
  }

  async token(userId: string, kind = CredentialKind.PERSONAL_ACCESS_TOKEN, options: TokenOptions = {}) {
    const issued = await this.services.credentials.issue(operatorContext(), { userId, kind, ...options });
    return { id: issued.credential.id, token: issued.token };
  }

  /** A new organization with one user (a member unless `fields` say otherwise), and the user's PAT and its id. */
  async orgWithUser(orgName = 'Org', fields: Parameters<Fixtures['user']>[1] = {}) {
    const orgId = await this.org(orgName);
    const user = await this.user(orgId, fields);
    const { id: credentialId, token } = await this.token(user.id);
    return { orgId, user, token, credentialId };
  }

  /** A new organization with an admin, and the admin's personal access token (and its credential id). */
  async orgAdmin(orgName = 'Org') {
    const made = await this.orgWithUser(orgName, { role: Role.ADMIN });
    return { orgId: made.orgId, admin: made.user, adminToken: made.token, credentialId: made.credentialId };
  }

  /** An organization with an admin, a member and a viewer (each with a PAT), and a second organization. */
  async world() {
    const orgId = await this.org('Acme');
    const admin = await this.user(orgId, { role: Role.ADMIN, name: 'Ada Admin' });
    const member = await this.user(orgId, { role: Role.MEMBER, name: 'Max Member' });
    const viewer = await this.user(orgId, { role: Role.VIEWER, name: 'Vera Viewer' });
    const otherOrgId = await this.org('Other');
    const outsider = await this.user(otherOrgId, { role: Role.ADMIN, name: 'Olga Outsider' });
    return {
      orgId,
      otherOrgId,
      admin,
      member,
      viewer,
      outsider,
      adminToken: (await this.token(admin.id)).token,
      memberToken: (await this.token(member.id)).token,
      viewerToken: (await this.token(viewer.id)).token,
      outsiderToken: (await this.token(outsider.id)).token,
    };
  }

  /** The stored row, read straight from the database. */
  async stored(id: string): Promise<User> {
    return this.services.db.read((m) => m.getRepository(User).findOneByOrFail({ id }));
  }
}

export type OrgAdmin = Awaited<ReturnType<Fixtures['orgAdmin']>>;

/** An organization with an admin, a member and a viewer (each with a PAT), and a second organization. */
export type World = Awaited<ReturnType<Fixtures['world']>>;
