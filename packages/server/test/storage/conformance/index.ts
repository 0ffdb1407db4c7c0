// One suite, run against every backend: both must behave exactly alike.

import { credentials } from './credentials.ts';
import { lifecycleAndDomains, services } from './domains-services.ts';
import { auditLog } from './audit.ts';
import type { StoreHarness } from './harness.ts';
import { keysAndCa } from './keys-ca.ts';
import { roles } from './roles.ts';
import { transactions } from './transactions.ts';

export type { StoreHarness } from './harness.ts';

export function storeConformance(harness: StoreHarness): void {
  lifecycleAndDomains(harness);
  services(harness);
  credentials(harness);
  roles(harness);
  auditLog(harness);
  keysAndCa(harness);
  transactions(harness);
}
