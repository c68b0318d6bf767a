import fc from 'fast-check'
import { expect, it } from 'vitest'
import { Entity, FeatureView, Field, formatMicros, Int64, PostgreSQLSource } from '../../core/index.js'
import { describeWithService } from '../../testing/services.js'
import { findPgUser, joinFormsPerSuite, sqlLiteral, sqlTimestamp } from '../__fixtures__/pg-server.js'
import {
  type Case,
  caseArb,
  check,
  entityTable,
  offset,
  rangeExpectation,
  SECOND,
  T0,
} from '../__fixtures__/pit-cases.js'
import type { HistoricalRequest } from '../offline-store.js'

// The point-in-time join on PostgreSQL against the brute-force reference of ../__fixtures__/pit-cases.ts
// (the cases the duckdb engine is tested on), with PostgreSQL's tie rule: rows tied on both timestamps
// go to the greatest row. Rows are inserted in reverse order, so the physical order would give other
// answers. LARDER_PIT_RUNS sets the number of cases (default 120).

const RUNS = Number(process.env.LARDER_PIT_RUNS ?? 120)
const { user, unavailable } = await findPgUser()

describeWithService(
  'postgres offline store: point-in-time join against a brute-force reference',
  unavailable,
  () => {
    const forms = joinFormsPerSuite(user!, 'larder_pit')
    let caseNumber = 0

    const e1 = new Entity({ name: 'e1', joinKeys: ['k1'] })
    const e2 = new Entity({ name: 'e2', joinKeys: ['k2'] })

    /** One table per view, rows inserted last first; naive timestamps in odd cases, timestamptz in even. */
    async function writeCase(c: Case): Promise<FeatureView[]> {
      const n = caseNumber++
      const keyType = c.stringKeys ? 'text' : 'bigint'
      const tsType = n % 2 === 0 ? 'timestamptz' : 'timestamp'
      const views: FeatureView[] = []
      for (const [i, v] of c.views.entries()) {
        {
          const table = `c${n}_v${i}`
          await forms.db.client.query(
            `CREATE TABLE ${table} (k1 ${keyType}, k2 bigint, ts ${tsType}, created ${tsType}, f bigint)`,
          )
          if (v.rows.length > 0) {
            const values = [...v.rows]
              .reverse()
              .map(
                (r) =>
                  `(${sqlLiteral(r.k1)}, ${sqlLiteral(r.k2)}, ${sqlTimestamp(T0, r.ts)}, ${sqlTimestamp(T0, r.created)}, ${r.id})`,
              )
            await forms.db.client.query(`INSERT INTO ${table} VALUES ${values.join(', ')}`)
          }
          views.push(
            new FeatureView({
              name: `v${i}`,
              entities: [e1, e2].slice(0, v.keys),
              ttl: v.ttl / SECOND,
              source: new PostgreSQLSource({
                name: `v${i}`,
                table,
                timestampField: 'ts',
                createdTimestampColumn: v.created ? 'created' : undefined,
              }),
              schema: [new Field({ name: 'f', dtype: Int64 })],
            }),
          )
        }
      }
      return views
    }

    it('agrees on random cases, with the lateral and the window forms giving the same rows', async () => {
      let checked = 0
      await fc.assert(
        fc.asyncProperty(caseArb, async (c) => {
          const views = await writeCase(c)
          const req: HistoricalRequest = {
            entities: entityTable(c),
            features: views.map((v) => ({ projection: v.projection, features: ['f'] })),
            fullFeatureNames: true,
            asOfKnownTime: c.asOfKnownTime,
          }
          const fast = await (await forms.lateral.getHistoricalFeatures(req)).toRows()
          const slow = await (await forms.window.getHistoricalFeatures(req)).toRows()
          check(c, fast, 'lateral', 'greatest-row')
          check(c, slow, 'window', 'greatest-row')
          expect(slow).toEqual(fast)
          checked += c.entities.length * c.views.length
        }),
        { numRuns: RUNS },
      )
      expect(checked).toBeGreaterThan(RUNS)
    })

    it('agrees on entity-less range retrieval: each row in range joined at its own timestamp', async () => {
      await fc.assert(
        fc.asyncProperty(caseArb, offset, offset, async (c, a, b) => {
          const [start, end] = a <= b ? [a, b] : [b, a]
          const views = await writeCase(c)
          const job = await forms.lateral.getHistoricalFeatures({
            features: views.map((v) => ({ projection: v.projection, features: ['f'] })),
            fullFeatureNames: true,
            asOfKnownTime: c.asOfKnownTime,
            startDate: formatMicros(T0 + start),
            endDate: formatMicros(T0 + end),
          })
          const { keys, entities } = rangeExpectation(c, start, end)
          const rows = await job.toRows()
          expect(job.columns).toEqual([...keys, 'event_timestamp', ...c.views.map((_, i) => `v${i}__f`)])
          check({ ...c, entities }, rows, 'range', 'greatest-row')
        }),
        { numRuns: Math.max(1, Math.round(RUNS / 4)) },
      )
    })
  },
)
