// A process of the job-store race test: updates its own field of one job (and appends one log line)
// every round on one registry, a file path or a SQL URL, and prints one JSON line with what it did.
// Run with `node --import jiti/register`.
import type { JobPatch } from '../jobs.js'
import { createRegistry } from '../loader.js'

const [where, writerText, roundsText, project, jobId, startAtText] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
]
const writer = Number(writerText)
const rounds = Number(roundsText)
const T = 1_700_000_000_000_000
const report = { writer, rounds: 0, errors: [] as string[] }

/** Writer 0 beats, 1 reports progress, 2 sets the result, 3 moves the start time (and asks to cancel halfway). */
function patch(round: number): JobPatch {
  switch (writer) {
    case 0:
      return { heartbeatAt: T + round }
    case 1:
      return {
        progress: { rowsDone: round * 10, rowsTotal: undefined, tasksDone: round, tasksTotal: rounds },
      }
    case 2:
      return { result: { writer, round } }
    default:
      return { startedAt: T + round }
  }
}

const registry = await createRegistry(
  {
    path: where,
    registryType: /^[a-z]+(\+[a-z0-9_]+)?:\/\//i.test(where) ? 'sql' : 'file',
    cacheTtlSeconds: 0,
    schemaMode: 'auto',
  },
  '.',
)
// Every process starts writing at the same instant, so their writes overlap.
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAtText) - Date.now())))
try {
  for (let round = 1; round <= rounds; round++) {
    await registry.jobs.update(project, jobId, patch(round))
    if (writer === 3 && round === rounds / 2) await registry.jobs.requestCancel(project, jobId)
    await registry.jobs.appendLogs(project, jobId, [
      { at: T + round, level: 'info', message: `writer ${writer} round ${round}` },
    ])
    report.rounds = round
  }
} catch (e) {
  report.errors.push((e as Error).stack ?? String(e))
} finally {
  await registry.close()
}
process.stdout.write(`${JSON.stringify(report)}\n`)
