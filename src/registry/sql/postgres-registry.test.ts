import { describeJobStoreConformance, registryJobs } from '../../testing/job-store-conformance.js'
import {
  describeFeastSqlInterop,
  describeRegistryConformance,
  type RegistryHarness,
} from '../../testing/registry-conformance.js'
import { describeWithService } from '../../testing/services.js'
import { createRegistry } from '../loader.js'
import { postgresTestDatabase } from './__fixtures__/test-databases.js'

/** Handles on a fresh test database of its own (dropped at cleanup). */
async function registries(): Promise<RegistryHarness> {
  const { database } = await postgresTestDatabase()
  return {
    open: ({ cacheTtlSeconds = 0 } = {}) =>
      createRegistry({ path: database!.url, registryType: 'sql', cacheTtlSeconds, schemaMode: 'auto' }, '.'),
    cleanup: () => database!.drop(),
  }
}

// One database for the availability check; each suite below creates its own.
const probe = await postgresTestDatabase()
await probe.database?.drop()

describeWithService('postgres registry', probe.unavailable, () => {
  describeRegistryConformance('postgres', registries)
  describeJobStoreConformance('postgres', async () => registryJobs(await registries()))

  describeFeastSqlInterop('postgres', async () => (await postgresTestDatabase()).database!)
})
