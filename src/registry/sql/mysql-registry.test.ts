import { describeFeastSqlInterop, describeRegistryConformance } from '../../testing/registry-conformance.js'
import { describeWithService } from '../../testing/services.js'
import { createRegistry } from '../loader.js'
import { mysqlTestDatabase } from './__fixtures__/test-databases.js'

// One database for the availability check; each suite below creates its own.
const probe = await mysqlTestDatabase()
await probe.database?.drop()

describeWithService('mariadb registry', probe.unavailable, () => {
  describeRegistryConformance('mariadb', async () => {
    const { database } = await mysqlTestDatabase()
    return {
      open: ({ cacheTtlSeconds = 0 } = {}) =>
        createRegistry(
          { path: database!.url, registryType: 'sql', cacheTtlSeconds, schemaMode: 'auto' },
          '.',
        ),
      cleanup: () => database!.drop(),
    }
  })

  describeFeastSqlInterop('mariadb', async () => (await mysqlTestDatabase()).database!)
})
