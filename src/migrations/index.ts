import { InitialSchema1763800000000 } from './1763800000000-initial-schema';
import { IdempotencyAndRateLimits1763900000000 } from './1763900000000-idempotency-and-rate-limits';
import { UserChanges1764000000000 } from './1764000000000-user-changes';
import { IdempotencyAppliedResult1764100000000 } from './1764100000000-idempotency-applied-result';
import { EmailChanges1764200000000 } from './1764200000000-email-changes';
import { ChangeEvents1764300000000 } from './1764300000000-change-events';
import { WebhookLeaseOwner1764400000000 } from './1764400000000-webhook-lease-owner';
import { PartialIndexes1764500000000 } from './1764500000000-partial-indexes';
import { DeliveryLines1764600000000 } from './1764600000000-delivery-lines';
import { PendingLinesIndex1764700000000 } from './1764700000000-pending-lines-index';
import { DropLeaseOwner1764800000000 } from './1764800000000-drop-lease-owner';
import { PreviousSecrets1764900000000 } from './1764900000000-previous-secrets';
import { ActiveAdminsIndex1765000000000 } from './1765000000000-active-admins-index';

/** Every schema change, oldest first; both databases run the same list. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export const migrations: Function[] = [
  InitialSchema1763800000000,
  IdempotencyAndRateLimits1763900000000,
  UserChanges1764000000000,
  IdempotencyAppliedResult1764100000000,
  EmailChanges1764200000000,
  ChangeEvents1764300000000,
  WebhookLeaseOwner1764400000000,
  PartialIndexes1764500000000,
  DeliveryLines1764600000000,
  PendingLinesIndex1764700000000,
  DropLeaseOwner1764800000000,
  PreviousSecrets1764900000000,
  ActiveAdminsIndex1765000000000,
];
