import { describe, expect, it } from 'vitest'
import { MaterializationJobs } from './jobs.js'

function gate() {
  let open!: () => void
  const opened = new Promise<void>((r) => {
    open = r
  })
  return { open, opened }
}

describe('MaterializationJobs', () => {
  it('refuses a run that shares a view with a running one, unless forced', async () => {
    const jobs = new MaterializationJobs<string>()
    const g = gate()
    const first = jobs.start('materialize', ['a', 'b'], false, async () => {
      await g.opened
      return 'done'
    })
    expect(() => jobs.start('materialize', ['b', 'c'], false, async () => 'x')).toThrow(
      expect.objectContaining({
        code: 'CONFLICT',
        details: expect.objectContaining({ feature_views: ['b'] }),
      }),
    )
    expect(() => jobs.start('materialize-incremental', undefined, false, async () => 'x')).toThrow(
      expect.objectContaining({ code: 'CONFLICT' }),
    )
    const other = jobs.start('materialize', ['c'], false, async () => 'c')
    const forced = jobs.start('materialize', ['a'], true, async () => 'forced')
    expect((await other.done).status).toBe('succeeded')
    expect((await forced.done).result).toBe('forced')
    g.open()
    const state = await first.done
    expect(state).toMatchObject({ status: 'succeeded', result: 'done', featureViews: ['a', 'b'] })
    expect(state.finishedAt).toBeInstanceOf(Date)
    expect(jobs.get(state.id)).toBe(state)
    expect(() => jobs.get('nope')).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }))
    expect(jobs.start('materialize', ['a'], false, async () => 'again').state.status).toBe('running')
  })

  it('keeps a failure in the state, and aborts running jobs on abortAll', async () => {
    const jobs = new MaterializationJobs<string>()
    const failed = await jobs.start('materialize', ['a'], false, async () => {
      throw new Error('boom')
    }).done
    expect(failed.status).toBe('failed')
    expect((failed.error as Error).message).toBe('boom')
    const running = jobs.start(
      'materialize',
      ['b'],
      false,
      (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    )
    await jobs.abortAll()
    const state = await running.done
    expect(state.status).toBe('failed')
    expect(state.error).toMatchObject({ code: 'ABORTED' })
  })
})
