import fc from 'fast-check'
import { expect, it } from 'vitest'
import { PostgreSQLSource } from '../../core/index.js'
import { describeWithService } from '../../testing/services.js'
import { findPgUser, joinFormsPerSuite, sqlLiteral, sqlTimestamp } from '../__fixtures__/pg-server.js'
import {
  checkWindows,
  streamView,
  T0,
  type WindowCase,
  windowCaseArb,
  windowEntityTable,
  windowSelection,
} from '../__fixtures__/window-cases.js'
import type { PostgresOfflineStore } from './postgres-offline-store.js'

// Windowed aggregations on PostgreSQL against the brute-force reference of
// ../__fixtures__/window-cases.ts (the cases the duckdb engine is tested on), in the lateral and the
// grouped (window) forms. The table's columns are (k, ts, created, id, …), so PostgreSQL's tie rule (the
// greatest row) picks the greatest id among events tied on both timestamps, which is the reference's
// "last in the source"; rows are inserted last first, so the physical order would give other answers.
// LARDER_AGG_RUNS sets the number of cases (default 200).

const RUNS = Number(process.env.LARDER_AGG_RUNS ?? 200)
const { user, unavailable } = await findPgUser()

describeWithService(
  'postgres offline store: windowed aggregations against a brute-force reference',
  unavailable,
  () => {
    const forms = joinFormsPerSuite(user!, 'larder_windows')
    let caseNumber = 0

    /** One table per case, rows inserted last first; naive timestamps in odd cases, timestamptz in even. */
    async function writeCase(c: WindowCase): Promise<PostgreSQLSource> {
      const n = caseNumber++
      const tsType = n % 2 === 0 ? 'timestamptz' : 'timestamp'
      const table = `c${n}`
      await forms.db.client.query(
        `CREATE TABLE ${table} (k bigint, ts ${tsType}, created ${tsType}, id bigint, n bigint, x double precision, s text)`,
      )
      if (c.events.length > 0) {
        const values = [...c.events]
          .reverse()
          .map(
            (e) =>
              `(${sqlLiteral(e.k)}, ${sqlTimestamp(T0, e.ts)}, ${sqlTimestamp(T0, e.created)}, ${e.id}, ${sqlLiteral(e.n)}, ${e.x === null ? 'NULL' : `'${e.x}'::float8`}, ${sqlLiteral(e.s)})`,
          )
        await forms.db.client.query(`INSERT INTO ${table} VALUES ${values.join(', ')}`)
      }
      return new PostgreSQLSource({
        name: table,
        table,
        timestampField: 'ts',
        createdTimestampColumn: c.created ? 'created' : undefined,
      })
    }

    async function run(store: PostgresOfflineStore, c: WindowCase, source: PostgreSQLSource) {
      const job = await store.getHistoricalFeatures({
        entities: windowEntityTable(c),
        features: [windowSelection(streamView(c, source))],
        asOfKnownTime: c.asOfKnownTime,
      })
      expect(job.columns).toEqual(['k', 'event_timestamp', 'n', ...c.aggregations.map((_, j) => `a${j}`)])
      return job.toRows()
    }

    it(
      'agree on random event sets, in the lateral and the grouped forms',
      async () => {
        let checked = 0
        await fc.assert(
          fc.asyncProperty(windowCaseArb, async (c) => {
            const source = await writeCase(c)
            checked += checkWindows(c, await run(forms.lateral, c, source), 'lateral')
            checkWindows(c, await run(forms.window, c, source), 'grouped')
          }),
          { numRuns: RUNS },
        )
        expect(checked).toBeGreaterThan(RUNS)
      },
      60_000 + RUNS * 200,
    )
  },
)
