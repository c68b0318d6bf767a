// Run as a child process: materializes [start, end] of a repo and prints each progress event as a JSON
// line on stdout, then "done". Usage: node --import jiti/register materialize-child.ts REPO START END BATCH
import { FeatureStore } from '../../feature-store.js'

const [repo, start, end, batch] = process.argv.slice(2)
const store = await FeatureStore.open(repo)
try {
  await store.materialize(
    { start: start!, end: end! },
    {
      batchSize: Number(batch),
      onProgress: (e) =>
        process.stdout.write(`${JSON.stringify({ view: e.view, phase: e.phase, rows: e.rows })}\n`),
    },
  )
  process.stdout.write('done\n')
} finally {
  await store.close()
}
