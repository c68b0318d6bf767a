// Run as a child process: materializes [start, end] of a repo and prints each progress event as a JSON
// line on stdout, then "done". Usage: node materialize-child.mjs REPO START END BATCH
// It runs the built package (dist/), as a user's process would, with no TypeScript loader in between.
import { FeatureStore } from '../../../dist/feature-store.js'

const [repo, start, end, batch] = process.argv.slice(2)
const store = await FeatureStore.open(repo)
try {
  await store.materialize(
    { start, end },
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
