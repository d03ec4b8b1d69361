import { operatorContext } from './auth/principal';
import type { Services } from './app';
import { CredentialKind, Role } from './entities/enums';

export interface DemoData {
  organizationId: string;
  userId: string;
  email: string;
  token: string;
}

/** On an empty database: a demo organization, its admin and a personal access token (returned once). */
export async function seedDemoData(services: Services): Promise<DemoData | null> {
  if ((await services.organizations.count()) > 0) return null;
  const ctx = operatorContext('seed');
  const organization = await services.organizations.create(ctx, 'Demo Organization');
  const user = await services.provisioning.create(ctx, {
    organizationId: organization.id,
    email: 'admin@example.com',
    name: 'Demo Admin',
    role: Role.ADMIN,
  });
  const { token } = await services.credentials.issue(ctx, {
    userId: user.id,
    kind: CredentialKind.PERSONAL_ACCESS_TOKEN,
    name: 'demo token',
  });
  return { organizationId: organization.id, userId: user.id, email: user.email, token };
}
