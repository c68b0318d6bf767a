import { describeFeastSqlInterop, describeRegistryConformance } from '../../testing/registry-conformance.js'
import { describeWithService } from '../../testing/services.js'
import { createRegistry } from '../loader.js'
import { postgresTestDatabase } from './__fixtures__/test-databases.js'

// One database for the availability check; each suite below creates its own.
const probe = await postgresTestDatabase()
await probe.database?.drop()

describeWithService('postgres registry', probe.unavailable, () => {
  describeRegistryConformance('postgres', async () => {
    const { database } = await postgresTestDatabase()
    return {
      open: ({ cacheTtlSeconds = 0 } = {}) =>
        createRegistry(
          { path: database!.url, registryType: 'sql', cacheTtlSeconds, schemaMode: 'auto' },
          '.',
        ),
      cleanup: () => database!.drop(),
    }
  })

  describeFeastSqlInterop('postgres', async () => (await postgresTestDatabase()).database!)
})
