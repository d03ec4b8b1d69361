import { registerEnumType } from 'type-graphql';

// Stored values are the lower-case strings the REST documents use; GraphQL shows the UPPER_CASE keys.

export enum Role {
  MEMBER = 'member',
  ADMIN = 'admin',
  VIEWER = 'viewer',
}

export enum UserStatus {
  ACTIVE = 'active',
  INACTIVE = 'inactive',
}

/** The seven sort orders of document 003 (`UserProjectsSortOrder`). */
export enum ProjectsSortOrder {
  CREATED_ASC = 'created-asc',
  CREATED_DESC = 'created-desc',
  ADDED_ASC = 'added-asc',
  ADDED_DESC = 'added-desc',
  NAME_ASC = 'name-asc',
  NAME_DESC = 'name-desc',
  LAST_ACCESSED_DESC = 'last-accessed-desc',
}

export enum CredentialKind {
  PERSONAL_ACCESS_TOKEN = 'pat',
  API_KEY = 'api_key',
  OAUTH = 'oauth',
  JWT = 'jwt',
}

registerEnumType(Role, { name: 'Role', description: 'What a user may do in their organization' });
registerEnumType(UserStatus, { name: 'UserStatus', description: 'Inactive users cannot authenticate' });
registerEnumType(ProjectsSortOrder, {
  name: 'ProjectsSortOrder',
  description: 'Default sort order of the projects list',
});
