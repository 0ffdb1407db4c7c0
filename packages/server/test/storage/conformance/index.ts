// One suite, run against every backend: both must behave exactly alike.

import { apiKeys } from './api-keys.ts';
import { caGenerations } from './ca-generations.ts';
import { certificateLineage } from './certificate-lineage.ts';
import { certificates } from './certificates.ts';
import { certificatesProved } from './certificates-proved.ts';
import { credentials } from './credentials.ts';
import { lifecycleAndDomains, services } from './domains-services.ts';
import { auditLog } from './audit.ts';
import { callers } from './callers.ts';
import type { StoreHarness } from './harness.ts';
import { joinTokens } from './join-tokens.ts';
import { keysAndCa } from './keys-ca.ts';
import { listPlans } from './list-plans.ts';
import { pages } from './pages.ts';
import { peopleBindings } from './people.ts';
import { queryPlans } from './query-plans.ts';
import { revocation } from './revocation.ts';
import { reviewsAndApprovals } from './reviews-approvals.ts';
import { roleDelegation } from './role-delegation.ts';
import { roles } from './roles.ts';
import { serviceAccounts } from './service-accounts.ts';
import { systemAdmins } from './system-admins.ts';
import { tokenLimits } from './token-limits.ts';
import { tokenRates } from './token-rates.ts';
import { transactions } from './transactions.ts';

export type { StoreHarness } from './harness.ts';

export function storeConformance(harness: StoreHarness): void {
  lifecycleAndDomains(harness);
  services(harness);
  credentials(harness);
  serviceAccounts(harness);
  roles(harness);
  systemAdmins(harness);
  roleDelegation(harness);
  reviewsAndApprovals(harness);
  tokenLimits(harness);
  apiKeys(harness);
  revocation(harness);
  auditLog(harness);
  callers(harness);
  tokenRates(harness);
  peopleBindings(harness);
  keysAndCa(harness);
  caGenerations(harness);
  certificates(harness);
  certificateLineage(harness);
  certificatesProved(harness);
  joinTokens(harness);
  pages(harness);
  listPlans(harness);
  queryPlans(harness);
  transactions(harness);
}
