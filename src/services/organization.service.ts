import { randomId } from '../auth/secrets';
import type { RequestContext } from '../auth/principal';
import { Database } from '../db/database';
import { Organization } from '../entities/organization.entity';
import { BadUserInputError, ForbiddenError } from '../errors/app-error';

/** Organizations are created by the operator; users never change them through the API. */
export class OrganizationService {
  constructor(private readonly db: Database) {}

  async create(ctx: RequestContext, name: string): Promise<Organization> {
    if (!ctx.operator) throw new ForbiddenError('Only the operator can create organizations');
    const trimmed = name.trim();
    if (trimmed.length < 1 || trimmed.length > 200 || /[\p{Cc}]/u.test(trimmed)) {
      throw new BadUserInputError([
        { field: 'name', message: 'name must be 1 to 200 characters without control characters' },
      ]);
    }
    const organization = Object.assign(new Organization(), {
      id: randomId('org_'),
      name: trimmed,
      createdAt: new Date().toISOString(),
    });
    await this.db.write((m) => m.getRepository(Organization).insert(organization));
    return organization;
  }

  async exists(id: string): Promise<boolean> {
    return (await this.db.read((m) => m.getRepository(Organization).countBy({ id }))) > 0;
  }

  count(): Promise<number> {
    return this.db.read((m) => m.getRepository(Organization).count());
  }
}
