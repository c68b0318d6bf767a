// A process of the registry race test: applies objects or records intervals against one SQL
// registry, and prints one JSON line with what happened. Run with `node --import jiti/register`.
import { create } from '@bufbuild/protobuf'
import { isLarderError } from '../../../core/index.js'
import { FeatureViewSchema, MaterializationIntervalSchema } from '../../../gen/feast/core/FeatureView_pb.js'
import { createRegistry } from '../../loader.js'
import { timestampFromMicros } from '../../proto-mapping.js'
import { type Registry, updateRegistry } from '../../registry.js'

const [url, mode, id, roundsText, project] = process.argv.slice(2) as [string, string, string, string, string]
const rounds = Number(roundsText)
const HOUR = 3_600_000_000

const report = { mode, id, successes: 0, conflicts: 0, badConflicts: [] as string[], errors: [] as string[] }

/** Commits `change` on fresh reads until it lands, counting the conflicts it met on the way. */
async function untilCommitted(
  registry: Registry,
  change: Parameters<typeof updateRegistry>[1],
  object: string,
) {
  for (let attempt = 1; ; attempt++) {
    const state = await registry.load({ allowCache: false })
    const draft = state.draft()
    change(draft, state)
    try {
      await registry.commit(state, draft)
      report.successes++
      return
    } catch (e) {
      if (!isLarderError(e) || e.code !== 'CONFLICT') throw e
      report.conflicts++
      if (!e.message.includes(object) || !e.hint) report.badConflicts.push(e.message)
      await new Promise((r) => setTimeout(r, Math.random() * 10 * Math.min(attempt, 10)))
    }
  }
}

const registry = await createRegistry(
  { path: url, registryType: 'sql', cacheTtlSeconds: 0, schemaMode: 'auto' },
  '.',
)
try {
  for (let round = 0; round < rounds; round++) {
    if (mode === 'apply') {
      // Its own feature view: nobody else touches it, so this commit must never conflict.
      const state = await registry.load({ allowCache: false })
      const draft = state.draft()
      const name = `view_${id}`
      draft.featureViews = draft.featureViews.filter(
        (v) => !(v.spec?.project === project && v.spec.name === name),
      )
      draft.featureViews.push(
        create(FeatureViewSchema, {
          spec: { name, project, entities: ['counter'], tags: { round: String(round) } },
          meta: {},
        }),
      )
      try {
        await registry.commit(state, draft)
        report.successes++
      } catch (e) {
        report.errors.push(`own view, round ${round}: ${(e as Error).message}`)
      }
      // The shared counter: every process increments it, so commits collide and must be retried.
      await untilCommitted(
        registry,
        (d) => {
          const counter = d.entities.find((e) => e.spec?.project === project && e.spec.name === 'counter')!
          counter.spec!.description = String(Number(counter.spec!.description) + 1)
        },
        'entity "counter"',
      )
    } else if (mode === 'intervals') {
      await updateRegistry(
        registry,
        (d) => {
          const view = d.featureViews.find(
            (v) => v.spec?.project === project && v.spec.name === 'shared_view',
          )!
          view.meta!.materializationIntervals.push(
            create(MaterializationIntervalSchema, {
              startTime: timestampFromMicros((Number(id) * 1000 + round) * HOUR),
              endTime: timestampFromMicros((Number(id) * 1000 + round + 1) * HOUR),
            }),
          )
        },
        { attempts: 100 },
      )
      report.successes++
    } else if (mode === 'apply-view') {
      await untilCommitted(
        registry,
        (d) => {
          const view = d.featureViews.find(
            (v) => v.spec?.project === project && v.spec.name === 'shared_view',
          )!
          view.spec!.description = `apply ${round}`
        },
        'feature view "shared_view"',
      )
    }
  }
} catch (e) {
  report.errors.push((e as Error).stack ?? String(e))
} finally {
  await registry.close()
}
process.stdout.write(`${JSON.stringify(report)}\n`)
