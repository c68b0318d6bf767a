// The crash drill of `larder stream` with real processes (the built CLI in dist/: build first) on real
// Redis: a processor killed with SIGKILL mid-run and restarted under the same --consumer must leave
// exactly the state of a run that never crashed.
//
// Why no event can count twice: the processor acknowledges a micro-batch only after writing it
// everywhere, so a kill leaves at most the batch in hand pending for its member. The restarted member
// first re-reads its own pending entries (XREADGROUP from id 0, COUNT batch_size), which are exactly
// that batch, with the same boundaries; the batch's offline append is keyed by its message ids, so it
// replaces the part file it may already have written; latest values are idempotent (newer wins, the
// same event again changes nothing); and each tile write carries the event's id, marked applied in the
// same step and kept until the batch is acknowledged, so re-applied events are skipped.
//
// Env: LARDER_STREAM_CRASH_EVENTS (default 20000), LARDER_STREAM_CRASH_KILLS (default 3).
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { createClient } from 'redis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { TestRepo } from '../materialize/__fixtures__/test-repo.js'
import { describeWithService, redisUnavailable } from '../testing/services.js'
import {
  addToRedis,
  eventsWritten,
  groupState,
  killAll,
  offlineSeqs,
  onlineValues,
  pendingOf,
  REDIS_HOST,
  REDIS_PORT,
  REDIS_URL,
  type StreamProcess,
  startStream,
  streamRepo,
  tripEvents,
  waitUntil,
} from './__fixtures__/stream-harness.js'

const EVENTS = Number(process.env.LARDER_STREAM_CRASH_EVENTS ?? 20_000)
const KILLS = Number(process.env.LARDER_STREAM_CRASH_KILLS ?? 3)
const DRIVERS = 200

/** The part files of the repo's offline directory (temporary files of a write in progress excluded). */
function partFiles(dir: string): number {
  return readdirSync(join(dir, 'data', 'trips')).filter((f) => f.endsWith('.parquet')).length
}

describeWithService(
  'larder stream killed with SIGKILL mid-run',
  await redisUnavailable(REDIS_HOST, REDIS_PORT),
  () => {
    const redis = createClient({ url: REDIS_URL })
    const tag = `${process.pid}-${Date.now()}`
    const crashStream = `larder-test-crash-${tag}`
    const referenceStream = `larder-test-crash-ref-${tag}`
    const started: StreamProcess[] = []
    const repos: TestRepo[] = []
    /** The instant every window is read at: the events end 10 minutes before it. */
    const now = Date.now()

    beforeAll(async () => {
      await redis.connect()
      const events = tripEvents(EVENTS, DRIVERS, now)
      for (const stream of [crashStream, referenceStream]) {
        repos.push(await streamRepo({ kind: 'redis', stream }))
        await addToRedis(redis, stream, events)
      }
    })
    afterAll(async () => {
      await killAll(started)
      for (const r of repos) await r.close().catch(() => undefined)
      await redis.del([crashStream, `${crashStream}:dead`, referenceStream, `${referenceStream}:dead`])
      await redis.quit()
    })

    it(`ends with the state of a run without crash after ${KILLS} SIGKILLs: every event once online, in the tiles and offline`, async () => {
      const [crashRepo, referenceRepo] = repos as [TestRepo, TestRepo]
      const reference = await startStream(referenceRepo.dir, ['--consumer', 'ref'], started)
      let processor = await startStream(crashRepo.dir, ['--consumer', 'c1'], started)
      const kills: { when: string; inHand: number; left: number }[] = []
      for (let k = 0; k < KILLS; k++) {
        const current = processor
        // every other kill comes the moment a batch's offline part file appears, so it lands between
        // that batch's offline append and its acknowledgement: the re-read batch must replace the file
        const when = k % 2 === 0 ? 'after a batch' : 'after an offline append'
        if (k % 2 === 0) {
          await waitUntil('the processor writing events', async () => (await eventsWritten(current.url)) > 0)
        } else {
          const files = partFiles(crashRepo.dir)
          await waitUntil('a new part file', () => partFiles(crashRepo.dir) > files, 60_000, 2)
        }
        current.process.kill('SIGKILL')
        expect(await current.stop()).toBeNull()
        const group = (await groupState(redis, crashStream))!
        // the batch in hand when it died (0 when the kill fell between two batches)
        kills.push({
          when,
          inHand: await pendingOf(redis, crashStream, 'c1'),
          left: group.lag! + group.pending,
        })
        processor = await startStream(crashRepo.dir, ['--consumer', 'c1'], started)
      }
      // the kills landed before the end (else raise LARDER_STREAM_CRASH_EVENTS)
      expect(
        kills.every((k) => k.left > 0),
        JSON.stringify(kills),
      ).toBe(true)

      for (const stream of [crashStream, referenceStream]) {
        await waitUntil(
          `every event of ${stream} acknowledged`,
          async () => {
            const group = await groupState(redis, stream)
            return group?.entriesRead === EVENTS && group.lag === 0 && group.pending === 0
          },
          75_000,
          200,
        )
      }
      expect(await processor.stop('SIGTERM')).toBe(0)
      expect(await reference.stop('SIGTERM')).toBe(0)
      expect(processor.logs().filter((l) => l.msg === 'event dead-lettered')).toEqual([])
      expect(await redis.exists([`${crashStream}:dead`, `${referenceStream}:dead`])).toBe(0)

      const [crashed, clean] = await Promise.all([
        onlineValues(crashRepo, DRIVERS, now),
        onlineValues(referenceRepo, DRIVERS, now),
      ])
      expect(crashed).toEqual(clean)
      const counts = clean[4] as number[]
      expect(counts.reduce((a, b) => a + b, 0)).toBe(EVENTS)
      const offline = await offlineSeqs(crashRepo.dir)
      // no duplicates: every event's row once, in as many part files as batches written
      expect(offline).toMatchObject({ rows: EVENTS, distinct: EVENTS })
      expect((await offlineSeqs(referenceRepo.dir)).rows).toBe(EVENTS)
    }, 85_000)
  },
)
