import fc from 'fast-check'
import type pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { formatMicros, PostgreSQLSource } from '../../core/index.js'
import { describeWithService } from '../../testing/services.js'
import { findPgUser, pgOptions, testSchema } from '../__fixtures__/pg-server.js'
import {
  checkWindows,
  streamView,
  T0,
  type WindowCase,
  windowCaseArb,
  windowEntityTable,
  windowSelection,
} from '../__fixtures__/window-cases.js'
import { PostgresOfflineStore } from './postgres-offline-store.js'

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
    let db: { client: pg.Client; schema: string; drop(): Promise<void> }
    let lateral: PostgresOfflineStore
    let window: PostgresOfflineStore
    let caseNumber = 0

    beforeAll(async () => {
      db = await testSchema(user!, 'larder_windows')
      lateral = new PostgresOfflineStore(pgOptions(user!, db.schema))
      window = new PostgresOfflineStore({ ...pgOptions(user!, db.schema), point_in_time_join: 'window' })
    })

    afterAll(async () => {
      await lateral?.close()
      await window?.close()
      await db?.drop()
    })

    /** One table per case, rows inserted last first; naive timestamps in odd cases, timestamptz in even. */
    async function writeCase(c: WindowCase): Promise<PostgreSQLSource> {
      const n = caseNumber++
      const tsType = n % 2 === 0 ? 'timestamptz' : 'timestamp'
      const table = `c${n}`
      const lit = (v: number | string | null) =>
        v === null ? 'NULL' : typeof v === 'string' ? `'${v}'` : String(v)
      const time = (v: number | null) => (v === null ? 'NULL' : `'${formatMicros(T0 + v)}'`)
      await db.client.query(
        `CREATE TABLE ${table} (k bigint, ts ${tsType}, created ${tsType}, id bigint, n bigint, x double precision, s text)`,
      )
      if (c.events.length > 0) {
        const values = [...c.events]
          .reverse()
          .map(
            (e) =>
              `(${lit(e.k)}, ${time(e.ts)}, ${time(e.created)}, ${e.id}, ${lit(e.n)}, ${e.x === null ? 'NULL' : `'${e.x}'::float8`}, ${lit(e.s)})`,
          )
        await db.client.query(`INSERT INTO ${table} VALUES ${values.join(', ')}`)
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
            checked += checkWindows(c, await run(lateral, c, source), 'lateral')
            checkWindows(c, await run(window, c, source), 'grouped')
          }),
          { numRuns: RUNS },
        )
        expect(checked).toBeGreaterThan(RUNS)
      },
      60_000 + RUNS * 200,
    )
  },
)
