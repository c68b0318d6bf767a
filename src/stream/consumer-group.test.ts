// Two `larder stream` processes (the built CLI in dist/: build first) in one consumer group, on a real
// Redis stream and on a real NATS JetStream subject: they split the events, and together write each one
// once (online, into the tiles, offline).
//
// Env: LARDER_STREAM_GROUP_EVENTS (default 4000 per broker).
import { randomUUID } from 'node:crypto'
import { type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { createClient } from 'redis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { TestRepo } from '../materialize/__fixtures__/test-repo.js'
import { describeWithService, natsUnavailable, redisUnavailable } from '../testing/services.js'
import {
  addToRedis,
  groupState,
  health,
  killAll,
  NATS_HOST,
  NATS_PORT,
  NATS_URL,
  offlineSeqs,
  onlineValues,
  REDIS_HOST,
  REDIS_PORT,
  REDIS_URL,
  type StreamProcess,
  startStream,
  streamRepo,
  type TripEvent,
  tripEvents,
  waitUntil,
} from './__fixtures__/stream-harness.js'

const EVENTS = Number(process.env.LARDER_STREAM_GROUP_EVENTS ?? 4000)
const DRIVERS = 100
/** Small batches, so each member takes many and both get some. */
const PROCESSOR = ['batch_size: 50', 'max_wait_ms: 20']

const unavailable =
  (await redisUnavailable(REDIS_HOST, REDIS_PORT)) ?? (await natsUnavailable(NATS_HOST, NATS_PORT))

describeWithService('two larder stream processes in one consumer group', unavailable, () => {
  const redis = createClient({ url: REDIS_URL })
  let nc: NatsConnection
  let jsm: JetStreamManager
  const tag = `${process.pid}-${Date.now()}`
  const redisStream = `larder-test-group-${tag}`
  const natsStream = `LARDER_TEST_GROUP_${randomUUID().replaceAll('-', '')}`
  const started: StreamProcess[] = []
  const repos: TestRepo[] = []

  beforeAll(async () => {
    await redis.connect()
    nc = await connect({ servers: NATS_URL })
    jsm = await jetstreamManager(nc)
  })
  afterAll(async () => {
    await killAll(started)
    for (const r of repos) await r.close().catch(() => undefined)
    await redis.del([redisStream, `${redisStream}:dead`]).catch(() => undefined)
    for (const name of [natsStream, `${natsStream}_dead`]) await jsm?.streams.delete(name).catch(() => false)
    await nc?.close()
    await redis.quit()
  })

  /**
   * Starts two members on the repo, lets `produce` send the events, waits until `drained` says the
   * group holds nothing, and checks the split and the state the two left behind.
   */
  async function splitAndCount(
    repo: TestRepo,
    produce: (events: readonly TripEvent[]) => Promise<void>,
    drained: () => Promise<boolean>,
  ): Promise<void> {
    const now = Date.now()
    const members = await Promise.all(
      ['member-a', 'member-b'].map((name) => startStream(repo.dir, ['--consumer', name], started)),
    )
    // both are in the group before the first event, so neither finds a backlog to itself
    for (const m of members)
      await waitUntil('the member consuming', () => m.logs().some((l) => l.msg === 'running'))
    await produce(tripEvents(EVENTS, DRIVERS, now))
    await waitUntil('the group drained', drained, 60_000, 200)
    const handled = await Promise.all(members.map(async (m) => (await health(m.url)).body.sources[0].events))
    expect(await Promise.all(members.map((m) => m.stop('SIGTERM')))).toEqual([0, 0])
    expect(
      handled.every((n: number) => n > 0),
      `events per member: ${handled}`,
    ).toBe(true)
    expect(handled.reduce((a: number, b: number) => a + b, 0)).toBe(EVENTS)
    const counts = (await onlineValues(repo, DRIVERS, now))[4] as number[]
    expect(counts.reduce((a, b) => a + b, 0)).toBe(EVENTS)
    expect(counts).toEqual(Array(DRIVERS).fill(EVENTS / DRIVERS))
    expect(await offlineSeqs(repo.dir)).toMatchObject({ rows: EVENTS, distinct: EVENTS })
  }

  it('splits a Redis stream between two members, each event written once', async () => {
    const repo = await streamRepo({ kind: 'redis', stream: redisStream }, PROCESSOR)
    repos.push(repo)
    await splitAndCount(
      repo,
      (events) => addToRedis(redis, redisStream, events),
      async () => {
        const group = await groupState(redis, redisStream)
        return group?.entriesRead === EVENTS && group.lag === 0 && group.pending === 0
      },
    )
  })

  it('splits a NATS JetStream subject between two members, each event written once', async () => {
    const subject = `larder-test.${natsStream}.trips`
    await jsm.streams.add({ name: natsStream, subjects: [subject] })
    const repo = await streamRepo({ kind: 'nats', subject, stream: natsStream }, PROCESSOR)
    repos.push(repo)
    const js = jetstream(nc)
    await splitAndCount(
      repo,
      async (events) => {
        for (let start = 0; start < events.length; start += 500)
          await Promise.all(
            events.slice(start, start + 500).map((e) => js.publish(subject, JSON.stringify(e))),
          )
      },
      async () => {
        const info = await jsm.consumers.info(natsStream, 'larder')
        return info.delivered.stream_seq === EVENTS && info.num_pending === 0 && info.num_ack_pending === 0
      },
    )
  })
})
