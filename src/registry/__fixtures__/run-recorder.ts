// A process of the run-history race test: records materialization runs (or materialization intervals)
// on one registry, a file path or a SQL URL, and prints one JSON line with what it did. Run with
// `node --import jiti/register`.
import { randomUUID } from 'node:crypto'
import { create } from '@bufbuild/protobuf'
import { MaterializationIntervalSchema } from '../../gen/feast/core/FeatureView_pb.js'
import { createRegistry } from '../loader.js'
import { timestampFromMicros } from '../proto-mapping.js'
import { updateRegistry } from '../registry.js'

const [where, mode, id, roundsText, project, startAtText] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
]
const rounds = Number(roundsText)
const HOUR = 3_600_000_000
const report = { mode, id, recorded: [] as string[], errors: [] as string[] }

const registry = await createRegistry(
  {
    path: where,
    registryType: /^[a-z]+(\+[a-z0-9_]+)?:\/\//i.test(where) ? 'sql' : 'file',
    cacheTtlSeconds: 0,
    schemaMode: 'auto',
  },
  '.',
)
// Every process starts recording at the same instant, so their writes overlap.
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAtText) - Date.now())))
try {
  for (let round = 0; round < rounds; round++) {
    if (mode === 'runs') {
      const startedAt = (Number(id) * 1000 + round) * HOUR
      const runId = randomUUID()
      await registry.recordMaterializationRun({
        id: runId,
        project,
        view: 'shared_view',
        engine: 'local',
        status: 'succeeded',
        start: startedAt - HOUR,
        end: startedAt,
        rowsRead: round,
        rowsWritten: round,
        rowsSkipped: 0,
        newestEvent: startedAt - 1,
        runBy: `worker-${id}`,
        startedAt,
        finishedAt: startedAt + 1000,
        durationMs: 1,
      })
      report.recorded.push(runId)
    } else if (mode === 'intervals') {
      await updateRegistry(
        registry,
        (d) => {
          const view = d.featureViews.find(
            (v) => v.spec?.project === project && v.spec.name === 'shared_view',
          )!
          view.meta!.materializationIntervals.push(
            create(MaterializationIntervalSchema, {
              startTime: timestampFromMicros(round * HOUR),
              endTime: timestampFromMicros((round + 1) * HOUR),
            }),
          )
        },
        { attempts: 100 },
      )
      report.recorded.push(String(round))
    }
  }
} catch (e) {
  report.errors.push((e as Error).stack ?? String(e))
} finally {
  await registry.close()
}
process.stdout.write(`${JSON.stringify(report)}\n`)
