// Browser-borne attacks on `larder serve`, run by Debian's Chromium (playwright-core) against the built
// CLI: a page on another origin (attacker.test, a second local HTTP server) tries to push, materialize
// and read through the user's browser, with the requests a page may send without a CORS preflight
// (text/plain, forms, a bare Blob) and with JSON (which needs one); then a DNS rebinding, a page under
// the attacker's name (rebind.test) resolved to the server's address. Every attack is judged by the
// server's state and logs (nothing written, nothing materialized, each request refused) and by what the
// page could read (nothing). The same page against a server that allows the attacker's origin and name
// succeeds, so a guard that stopped working would fail these tests.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { CHROMIUM, chromiumUnavailable } from '../cli/__fixtures__/ui-browser.js'
import { describeWithService } from '../testing/services.js'
import { type AppliedRepo, appliedRepo, type ServeProcess, startServe } from './__fixtures__/serve-process.js'

const now = new Date()
const recent = new Date(now.getTime() - 60_000).toISOString()

/** The body of a push of one row for `driver` to the init template's push source. */
function pushBody(driver: number): string {
  return JSON.stringify({
    push_source_name: 'driver_stats_push_source',
    df: {
      driver_id: [driver],
      event_timestamp: [recent],
      created: [recent],
      conv_rate: [0.5],
      acc_rate: [0.25],
      avg_daily_trips: [driver],
    },
  })
}

const readBody = JSON.stringify({
  features: ['driver_hourly_stats_fresh:avg_daily_trips'],
  entities: { driver_id: [1001] },
})

/** What the attacker's page saw of one attempt. */
interface Seen {
  readonly type?: string
  readonly status?: number
  readonly text?: string
  readonly error?: string
}

/** The part of the page's DOM the form attacks use (the project compiles without the DOM types). */
interface PageElement {
  name: string
  onload: (() => void) | null
  append(...nodes: PageElement[]): void
  submit(): void
}

/** Everything a page on another origin tries against `target` (run in the page). */
async function attack(args: {
  target: string
  project: string
  push: string
  materialize: string
  read: string
}): Promise<Record<string, Seen>> {
  const { target, push, materialize, read } = args
  const seen: Record<string, Seen> = {}
  const attempt = async (name: string, run: () => Promise<Response>) => {
    try {
      const res = await run()
      seen[name] = { type: res.type, status: res.status, text: await res.text() }
    } catch (e) {
      seen[name] = { error: (e as Error).name }
    }
  }
  const simple = (path: string, body: string | Blob, type?: string) => () =>
    fetch(target + path, {
      method: 'POST',
      mode: 'no-cors',
      headers: type ? { 'content-type': type } : {},
      body,
    })
  const json = (path: string, body: string) => () =>
    fetch(target + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  // (a) requests a page sends without a preflight
  await attempt('push text/plain', simple('/push', push, 'text/plain'))
  await attempt('push blob without a type', simple('/push', new Blob([push])))
  await attempt('materialize text/plain', simple('/materialize-incremental', materialize, 'text/plain'))
  // forms, into hidden frames; the text/plain one spells a JSON body ({"…","pad":"="})
  const document = (
    globalThis as unknown as {
      document: { body: PageElement; createElement(tag: string): PageElement }
    }
  ).document
  const form = (path: string, enctype: string, fields: [string, string][]) =>
    new Promise<string>((resolve) => {
      const frame = document.createElement('iframe')
      frame.name = `f${Math.random()}`
      document.body.append(frame)
      const f = document.createElement('form')
      Object.assign(f, { method: 'POST', action: target + path, enctype, target: frame.name })
      for (const [name, value] of fields) {
        const input = document.createElement('input')
        Object.assign(input, { type: 'hidden', name, value })
        f.append(input)
      }
      document.body.append(f)
      frame.onload = () => resolve('loaded')
      setTimeout(() => resolve('timed out'), 5000)
      f.submit()
    })
  seen['push form text/plain'] = {
    text: await form('/push', 'text/plain', [[`${push.slice(0, -1)},"pad":"`, '"}']]),
  }
  seen['push form urlencoded'] = {
    text: await form('/push', 'application/x-www-form-urlencoded', [['df', push]]),
  }
  seen['materialize form multipart'] = {
    text: await form('/materialize-incremental', 'multipart/form-data', [['end_ts', '2099-01-01T00:00:00Z']]),
  }
  // (b) JSON, which needs a preflight
  await attempt('push json', json('/push', push))
  await attempt('materialize json', json('/materialize-incremental', materialize))
  // (c) reads
  await attempt('read json', json('/get-online-features', read))
  await attempt('read text/plain', simple('/get-online-features', read, 'text/plain'))
  await attempt('read registry', () => fetch(`${target}/api/v1/feature_views?project=${args.project}`))
  return seen
}

/** What a page under a rebound name (same origin as the URL it was loaded from) does next. */
async function rebound(args: { push: string; project: string }): Promise<Record<string, Seen>> {
  const seen: Record<string, Seen> = {}
  for (const [name, run] of [
    [
      'push',
      () =>
        fetch('/push', { method: 'POST', headers: { 'content-type': 'application/json' }, body: args.push }),
    ],
    ['read registry', () => fetch(`/api/v1/feature_views?project=${args.project}`)],
  ] as const) {
    try {
      const res = await run()
      seen[name] = { type: res.type, status: res.status, text: await res.text() }
    } catch (e) {
      seen[name] = { error: (e as Error).name }
    }
  }
  return seen
}

/** A second local HTTP server: the attacker's site, one empty page. */
async function attackerSite(): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>a</title>')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as AddressInfo).port }
}

async function post(url: string, body: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

/** `avg_daily_trips` of a driver as the server reads it, or its status when it has none. */
async function storedTrips(server: ServeProcess, driver: number): Promise<unknown> {
  const read = await post(
    `${server.url}/get-online-features`,
    JSON.stringify({
      features: ['driver_hourly_stats_fresh:avg_daily_trips'],
      entities: { driver_id: [driver] },
    }),
  )
  expect(read.status).toBe(200)
  const column = (read.body.results as { values: unknown[]; statuses: string[] }[])[1]!
  return column.statuses[0] === 'PRESENT' ? column.values[0] : column.statuses[0]
}

async function runsOf(server: ServeProcess, project: string): Promise<unknown[]> {
  const res = await fetch(`${server.url}/api/v1/materialization_runs?project=${project}`)
  return ((await res.json()) as { materializationRuns: unknown[] }).materializationRuns
}

/** The request log lines a server wrote since `from` (method, path, status). */
function requestsSince(
  server: ServeProcess,
  from: number,
): { method: string; path: string; status: number }[] {
  return server
    .logs()
    .slice(from)
    .filter((l) => l.msg === 'request') as unknown as { method: string; path: string; status: number }[]
}

const OPAQUE: Seen = { type: 'opaque', status: 0, text: '' }
const BLOCKED: Seen = { error: 'TypeError' }

describeWithService('browser-borne attacks on larder serve (Chromium)', chromiumUnavailable(), () => {
  let guardedRepo: AppliedRepo
  let openRepo: AppliedRepo
  let guarded: ServeProcess
  let open: ServeProcess
  let site: { server: Server; port: number }
  let attackerOrigin: string
  let browser: Browser
  let page: Page

  beforeAll(async () => {
    ;[guardedRepo, openRepo, site] = await Promise.all([
      appliedRepo({ now }),
      appliedRepo({ now }),
      attackerSite(),
    ])
    attackerOrigin = `http://attacker.test:${site.port}`
    ;[guarded, open] = await Promise.all([
      startServe(guardedRepo.dir),
      // the control: a server told to trust the attacker's origin and name
      startServe(openRepo.dir, ['--allowed-origin', attackerOrigin, '--allowed-host', 'rebind.test']),
    ])
    const { chromium } = await import('playwright-core')
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        // attacker.test is the attacker's site; rebind.test is its name after the DNS answer changed
        '--host-resolver-rules=MAP attacker.test 127.0.0.1, MAP rebind.test 127.0.0.1',
      ],
    })
    page = await browser.newPage()
  }, 90_000)

  afterAll(async () => {
    await browser?.close()
    await Promise.all([guarded?.stop('SIGKILL'), open?.stop('SIGKILL')])
    site?.server.close()
    guardedRepo?.remove()
    openRepo?.remove()
  })

  const args = (server: ServeProcess, driver: number, project: string) => ({
    target: server.url,
    project,
    push: pushBody(driver),
    materialize: JSON.stringify({ end_ts: now.toISOString() }),
    read: readBody,
  })

  it('a page on another origin can neither push, materialize nor read', async () => {
    await page.goto(`${attackerOrigin}/`)
    const from = guarded.logs().length
    const seen = await page.evaluate(attack, args(guarded, 8001, guardedRepo.project))

    // the page learnt nothing: simple requests are opaque, the others failed their preflight
    expect(seen).toEqual({
      'push text/plain': OPAQUE,
      'push blob without a type': OPAQUE,
      'materialize text/plain': OPAQUE,
      'push form text/plain': { text: 'loaded' },
      'push form urlencoded': { text: 'loaded' },
      'materialize form multipart': { text: 'loaded' },
      'push json': BLOCKED,
      'materialize json': BLOCKED,
      'read json': BLOCKED,
      'read text/plain': OPAQUE,
      'read registry': BLOCKED,
    })

    // the browser did send them, and the server refused each before its route ran
    const seenByServer = requestsSince(guarded, from)
    const writes = seenByServer.filter((r) => r.method === 'POST')
    expect(writes.map((r) => `${r.path} ${r.status}`).sort()).toEqual(
      [
        '/get-online-features 403',
        '/materialize-incremental 403',
        '/materialize-incremental 403',
        '/push 403',
        '/push 403',
        '/push 403',
        '/push 403',
      ].sort(),
    )
    const preflights = seenByServer.filter((r) => r.method === 'OPTIONS')
    expect(preflights.map((r) => `${r.path} ${r.status}`).sort()).toEqual(
      ['/get-online-features 403', '/materialize-incremental 403', '/push 403'].sort(),
    )

    // and nothing changed
    expect(await storedTrips(guarded, 8001)).toBe('NOT_FOUND')
    expect(await runsOf(guarded, guardedRepo.project)).toEqual([])
  })

  it('the same page succeeds against a server that allows its origin (the control)', async () => {
    await page.goto(`${attackerOrigin}/`)
    const seen = await page.evaluate(attack, args(open, 8002, openRepo.project))
    expect(seen['push json']).toMatchObject({ type: 'cors', status: 200 })
    expect(seen['materialize json']).toMatchObject({ type: 'cors', status: 200 })
    expect(seen['read json']).toMatchObject({ type: 'cors', status: 200 })
    expect(JSON.parse(seen['read json']!.text!).metadata.feature_names).toEqual([
      'driver_id',
      'avg_daily_trips',
    ])
    expect(seen['read registry']).toMatchObject({ type: 'cors', status: 200 })
    // an allowed origin still only writes JSON
    expect(seen['push text/plain']).toEqual(OPAQUE)
    expect(await storedTrips(open, 8002)).toBe(8002)
    expect((await runsOf(open, openRepo.project)).length).toBeGreaterThan(0)
  })

  it('a page under a rebound name is refused (421), reads nothing and writes nothing', async () => {
    const port = new URL(guarded.url).port
    const res = await page.goto(`http://rebind.test:${port}/api/v1/projects`)
    expect(res!.status()).toBe(421)
    const shown = await page.textContent('body')
    expect(shown).toContain(`rebind.test:${port}`)
    expect(shown).toContain('feature_server.allowed_hosts')
    expect(shown).not.toContain(guardedRepo.project)
    const seen = await page.evaluate(rebound, { push: pushBody(8003), project: guardedRepo.project })
    expect(seen.push).toMatchObject({ status: 421 })
    expect(seen['read registry']).toMatchObject({ status: 421 })
    expect(seen['read registry']!.text).not.toContain('driver_hourly_stats')
    expect(await storedTrips(guarded, 8003)).toBe('NOT_FOUND')
  })

  it('the same rebinding works against a server that answers that name (the control)', async () => {
    const port = new URL(open.url).port
    const res = await page.goto(`http://rebind.test:${port}/api/v1/projects`)
    expect(res!.status()).toBe(200)
    const seen = await page.evaluate(rebound, { push: pushBody(8004), project: openRepo.project })
    expect(seen.push).toMatchObject({ status: 200 })
    expect(seen['read registry']!.text).toContain('driver_hourly_stats')
    expect(await storedTrips(open, 8004)).toBe(8004)
  })
})
