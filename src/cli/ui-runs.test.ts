// The web UI against `larder ui` in Chromium: freshness from the run history, Try it with request
// fields, the on-demand views route and the favicon, lineage links (push sources, a generated 50-view
// repo), request sources' readers, compressed assets, and the runs and stream views pages.
// Screenshots go to test-artifacts/ui/.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRepoConfig } from '../config/index.js'
import type { FeatureView } from '../core/index.js'
import { createOfflineStore } from '../offline/index.js'
import { loadRepoDefinitions } from '../repo/load-repo.js'
import { type AppliedRepo, appliedRepo } from '../server/__fixtures__/serve-process.js'
import { describeWithService } from '../testing/services.js'
import { type GeneratedRepo, writeGeneratedRepo } from './__fixtures__/generated-repo.js'
import {
  BIN,
  chromiumUnavailable,
  launchChromium,
  startUi,
  type UiProcess,
} from './__fixtures__/ui-browser.js'

const SHOTS = join(process.cwd(), 'test-artifacts', 'ui')
const MINUTE = 60_000
/** How long a poll waits for the page (lazy chunks load slowly on a busy machine). */
const POLL = { timeout: 15_000 }

function larder(...args: string[]): string {
  return execFileSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  })
}

/** Appends one row per driver at `at` to driver_hourly_stats' source, as `larder init` writes its sample. */
async function appendRows(dir: string, at: Date): Promise<void> {
  const defs = await loadRepoDefinitions(dir)
  const view = defs.featureViews.find((v) => v.name === 'driver_hourly_stats') as FeatureView
  const config = parseRepoConfig(readFileSync(join(dir, 'feature_store.yaml'), 'utf8'), dir)
  const offline = await createOfflineStore(config)
  try {
    await offline.writeRows(
      view,
      [1001, 1002, 1003, 1004, 1005].map((driver_id) => ({
        driver_id,
        event_timestamp: at,
        created: at,
        conv_rate: 0.5,
        acc_rate: 0.5,
        avg_daily_trips: 10,
      })),
    )
  } finally {
    await offline.close()
  }
}

/** A raw GET (no automatic decompression): status, headers and the bytes as sent. */
function rawGet(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; bytes: number }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      let bytes = 0
      res.on('data', (d: Buffer) => {
        bytes += d.length
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes }))
      res.on('error', reject)
    })
      .on('error', reject)
      .end()
  })
}

/** Collects what would show as a failure in the browser: console errors, page errors, failed or 4xx/5xx requests. */
function watch(page: Page): string[] {
  const problems: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`)
  })
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  page.on('requestfailed', (r) => problems.push(`failed: ${r.url()} ${r.failure()?.errorText ?? ''}`))
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`${r.status()}: ${r.url()}`)
  })
  return problems
}

/** Minutes in an age the UI prints (`30m 4s`, `29m`), or undefined. */
function minutesOf(text: string | null): number | undefined {
  const m = /(\d+)m\b/.exec(text ?? '')
  return m && !/\d+[hdw]\b/.test(text ?? '') ? Number(m[1]) : undefined
}

describe('larder ui assets and routes (no browser)', () => {
  let repo: AppliedRepo
  let ui: UiProcess
  beforeAll(async () => {
    repo = await appliedRepo()
    ui = await startUi(repo.dir)
  })
  afterAll(async () => {
    await ui?.stop()
    repo?.remove()
  })

  it('serves assets brotli- or gzip-compressed by Accept-Encoding, hashed ones immutable, index.html no-cache', async () => {
    const html = await (await fetch(ui.url)).text()
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!
    const plain = await rawGet(`${ui.url}${asset}`, {})
    const br = await rawGet(`${ui.url}${asset}`, { 'accept-encoding': 'gzip, deflate, br' })
    const gz = await rawGet(`${ui.url}${asset}`, { 'accept-encoding': 'gzip' })
    const refused = await rawGet(`${ui.url}${asset}`, { 'accept-encoding': 'br;q=0, gzip;q=0' })
    expect(plain.headers['content-encoding']).toBeUndefined()
    expect(br.headers['content-encoding']).toBe('br')
    expect(gz.headers['content-encoding']).toBe('gzip')
    expect(refused.headers['content-encoding']).toBeUndefined()
    for (const r of [plain, br, gz]) {
      expect(r.status).toBe(200)
      expect(r.headers['cache-control']).toBe('public, max-age=31536000, immutable')
      expect(r.headers.vary).toBe('Accept-Encoding')
    }
    // a JavaScript bundle compresses to well under half
    expect(br.bytes).toBeLessThan(plain.bytes / 2)
    expect(gz.bytes).toBeLessThan(plain.bytes / 2)
    expect(refused.bytes).toBe(plain.bytes)
    const index = await rawGet(`${ui.url}/p/demo/runs`, { 'accept-encoding': 'br' })
    expect(index.headers['cache-control']).toBe('no-cache')
    expect(index.headers['content-type']).toMatch(/^text\/html/)
  })

  it('serves /favicon.ico and /api/v1/on_demand_feature_views in the shape of Feast’s registry list', async () => {
    const icon = await fetch(`${ui.url}/favicon.ico`)
    expect(icon.status).toBe(200)
    expect(icon.headers.get('content-type')).toBe('image/svg+xml')
    expect(await icon.text()).toContain('<svg')
    const list = await fetch(
      `${ui.url}/api/v1/on_demand_feature_views?project=demo&include_relationships=true`,
    )
    expect(list.status).toBe(200)
    const body = (await list.json()) as {
      onDemandFeatureViews: { type?: string; spec: { name: string } }[]
      relationships: Record<string, unknown[]>
    }
    expect(body.onDemandFeatureViews.map((v) => v.spec.name)).toEqual(['transformed_conv_rate'])
    expect(body.onDemandFeatureViews[0]!.type).toBeUndefined()
    expect(Object.keys(body.relationships)).toEqual(['transformed_conv_rate'])
    const one = await fetch(`${ui.url}/api/v1/on_demand_feature_views/transformed_conv_rate?project=demo`)
    expect(((await one.json()) as { spec: { name: string } }).spec.name).toBe('transformed_conv_rate')
    const plainView = await fetch(`${ui.url}/api/v1/on_demand_feature_views/driver_hourly_stats?project=demo`)
    expect(plainView.status).toBe(404)
    expect(((await plainView.json()) as { hint: string }).hint).toBe(
      'known on-demand feature views: transformed_conv_rate',
    )
    const status = await fetch(`${ui.url}/api/v1/stream_status?project=demo`)
    expect(await status.json()).toEqual({ configured: false })
  })

  it('describes the routes it adds to the feature server in /openapi.json', async () => {
    const doc = (await (await fetch(`${ui.url}/openapi.json`)).json()) as {
      paths: Record<string, { get?: { summary: string } }>
    }
    expect(doc.paths['/api/v1/stream_status']?.get?.summary).toMatch(/stream processor/)
    expect(doc.paths['/ui-auth.json']?.get?.summary).toMatch(/sign-in settings/)
    expect(doc.paths['/get-online-features']).toBeDefined()
  })
})

describeWithService(
  'web UI in Chromium: run history, request fields, lineage (larder ui)',
  chromiumUnavailable(),
  () => {
    let repo: AppliedRepo
    let ui: UiProcess
    let browser: { context: BrowserContext; close(): Promise<void> }
    let page: Page
    let problems: string[]
    const now = Date.now()

    beforeAll(async () => {
      mkdirSync(SHOTS, { recursive: true })
      // the sample data ends two hours back; the newest event is 30 minutes old
      repo = await appliedRepo({ now: new Date(now - 120 * MINUTE) })
      await appendRows(repo.dir, new Date(Math.floor((now - 30 * MINUTE) / 1000) * 1000))
      larder('-c', repo.dir, 'materialize-incremental', new Date(now).toISOString())
      ui = await startUi(repo.dir)
      browser = await launchChromium()
      page = await browser.context.newPage()
      page.setDefaultTimeout(15_000)
      problems = watch(page)
    })
    afterAll(async () => {
      await browser?.close()
      await ui?.stop()
      repo?.remove()
    })

    it('reads freshness as the age of the newest event materialized (~30 minutes), on the overview, the view page and the chart', async () => {
      await page.goto(`${ui.url}/p/demo`)
      const row = page
        .getByRole('table', { name: 'Feature views by staleness' })
        .locator('tr')
        .filter({ has: page.getByRole('link', { name: 'driver_hourly_stats', exact: true }) })
      await expect
        .poll(async () => minutesOf(await row.locator('[data-basis]').textContent()))
        .toBeGreaterThanOrEqual(29)
      expect(minutesOf(await row.locator('[data-basis]').textContent())).toBeLessThanOrEqual(35)
      expect(await row.locator('[data-basis]').getAttribute('data-basis')).toBe('newestEvent')
      await shot(page, 'overview-freshness')

      await page.goto(`${ui.url}/p/demo/feature-views/driver_hourly_stats`)
      const badge = page.getByTestId('freshness')
      await expect
        .poll(async () => (await badge.locator('[data-basis]').getAttribute('data-basis')) ?? '')
        .toBe('newestEvent')
      const age = minutesOf(await badge.textContent())
      expect(age).toBeGreaterThanOrEqual(29)
      expect(age).toBeLessThanOrEqual(35)
      const chart = page.getByRole('img', { name: /^Freshness: .*; now / })
      await chart.waitFor()
      const chartAge = minutesOf(/now (.*)$/.exec((await chart.getAttribute('aria-label')) ?? '')?.[1] ?? '')
      expect(chartAge).toBeGreaterThanOrEqual(29)
      expect(chartAge).toBeLessThanOrEqual(35)
      // the run is drawn at the time it ran, with its rows written and duration listed
      await page.getByRole('img', { name: /Materialization runs: rows written/ }).waitFor()
      const runs = page.getByRole('table', { name: 'Materialization runs' })
      expect(await runs.locator('tbody tr').count()).toBe(1)
      expect(await runs.locator('tbody tr').textContent()).toMatch(/succeeded/)
      await shot(page, 'feature-view-freshness')
    })

    it('asks Try it on driver_activity_v3 for the request fields, puts them in the snippets, and gets 200', async () => {
      await page.goto(`${ui.url}/p/demo/feature-services/driver_activity_v3`)
      const curl = page.getByRole('figure', { name: 'curl request' })
      expect(await curl.textContent()).toContain('"val_to_add":[1001],"val_to_add_2":[1001]')
      expect(await page.getByRole('figure', { name: 'typed client call' }).textContent()).toContain(
        'val_to_add_2: [1001]',
      )
      await page.getByRole('textbox', { name: 'driver_id' }).fill('1001, 1002')
      await page.getByRole('textbox', { name: 'val_to_add', exact: true }).fill('1')
      const button = page.getByRole('button', { name: 'Fetch online' })
      expect(await button.isDisabled()).toBe(true)
      await page.getByRole('textbox', { name: 'val_to_add_2' }).fill('2')
      const answer = page.waitForResponse((r) => r.url().endsWith('/get-online-features'))
      await button.click()
      const response = await answer
      expect(response.status()).toBe(200)
      expect(JSON.parse(response.request().postData() ?? '{}')).toEqual({
        feature_service: 'driver_activity_v3',
        entities: { driver_id: [1001, 1002], val_to_add: [1, 1], val_to_add_2: [2, 2] },
      })
      const result = page.getByRole('table', { name: 'Online values' })
      await result.waitFor()
      expect(await result.locator('tr', { hasText: 'conv_rate_plus_val1' }).first().textContent()).toContain(
        'PRESENT',
      )
      await shot(page, 'try-it-request-fields')
    })

    it('lists the on-demand views a request source feeds, and counts them', async () => {
      await page.goto(`${ui.url}/p/demo/data-sources/vals_to_add`)
      const definition = page.getByRole('region', { name: 'Definition' })
      await definition.waitFor()
      expect(await definition.getByRole('link', { name: 'transformed_conv_rate' }).getAttribute('href')).toBe(
        '/p/demo/on-demand-views/transformed_conv_rate',
      )
      await page.goto(`${ui.url}/p/demo/data-sources`)
      const row = page.getByRole('table', { name: 'Data sources' }).locator('tr', { hasText: 'vals_to_add' })
      await row.waitFor()
      expect((await row.locator('td').allTextContents()).at(4)).toBe('1')
    })

    it('links the push source to the view that reads it in the lineage', async () => {
      await page.goto(`${ui.url}/p/demo/lineage`)
      const edge = page.locator(
        '.react-flow__edge[data-id="dataSource:driver_stats_push_source->featureView:driver_hourly_stats_fresh"]',
      )
      await edge.waitFor({ state: 'attached' })
      await shot(page, 'lineage-demo')
    })

    it('shows the runs across views and of one view, and the stream views page says no processor is reporting', async () => {
      await page.goto(`${ui.url}/p/demo/runs`)
      const runs = page.getByRole('table', { name: 'Materialization runs' })
      await runs.waitFor()
      const text = await runs.textContent()
      expect(text).toContain('driver_hourly_stats')
      expect(text).toContain('driver_hourly_stats_fresh')
      expect(await page.getByTestId('runs-count').textContent()).toBe('2 runs, 0 failed')
      await shot(page, 'runs')
      await page.goto(`${ui.url}/p/demo/runs?view=driver_hourly_stats_fresh`)
      await expect.poll(() => page.getByTestId('runs-count').textContent(), POLL).toBe('1 run, 0 failed')
      await page.goto(`${ui.url}/p/demo/stream-views`)
      await page.getByText('No stream feature views').waitFor()
    })

    it('had no failed request and no console error on any page visited', async () => {
      for (const path of ['/p/demo/on-demand-views/transformed_conv_rate', '/p/demo/entities']) {
        await page.goto(`${ui.url}${path}`)
        await page.waitForLoadState('networkidle')
      }
      expect(problems).toEqual([])
    })
  },
)

describeWithService('web UI in Chromium: lineage of a generated 50-view repo', chromiumUnavailable(), () => {
  let repo: AppliedRepo
  let generated: GeneratedRepo
  let ui: UiProcess
  let browser: { context: BrowserContext; close(): Promise<void> }
  let page: Page
  let problems: string[]

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true })
    repo = await appliedRepo()
    generated = writeGeneratedRepo(repo.dir, { views: 50, sources: 10, services: 20 })
    larder('-c', repo.dir, 'apply')
    ui = await startUi(repo.dir)
    browser = await launchChromium()
    page = await browser.context.newPage()
    page.setDefaultTimeout(15_000)
    problems = watch(page)
  })
  afterAll(async () => {
    await browser?.close()
    await ui?.stop()
    repo?.remove()
  })

  /** The viewport's zoom: the scale of React Flow's transform. */
  const zoom = () =>
    page.evaluate<number>(
      "new DOMMatrixReadOnly(getComputedStyle(document.querySelector('.react-flow__viewport')).transform).a",
    )

  it('draws every link between the handles of the objects it connects, at a readable default zoom', async () => {
    await page.goto(`${ui.url}/p/demo/lineage`)
    await expect.poll(() => page.locator('.react-flow__edge').count(), POLL).toBe(generated.links.length)
    const drawn = await page.evaluate<Drawn[]>(DRAWN_EDGES)
    expect(drawn.map((e) => e.id).sort()).toEqual([...generated.links].sort())
    for (const e of drawn) {
      // out of the source's right side, into the target's left side, at their middles
      expect(e.source, e.id).toBeDefined()
      expect(e.target, e.id).toBeDefined()
      expect(Math.abs(e.start[0]! - (e.source!.x + e.source!.w)), e.id).toBeLessThan(8)
      expect(Math.abs(e.start[1]! - (e.source!.y + e.source!.h / 2)), e.id).toBeLessThan(8)
      expect(Math.abs(e.end[0]! - e.target!.x), e.id).toBeLessThan(8)
      expect(Math.abs(e.end[1]! - (e.target!.y + e.target!.h / 2)), e.id).toBeLessThan(8)
      // a link never runs through a column of other nodes: its ends are in neighbouring columns
      const between = e.target!.x - (e.source!.x + e.source!.w)
      expect(between, e.id).toBeGreaterThan(0)
      expect(between, e.id).toBeLessThan(e.source!.w)
    }
    expect(await zoom()).toBeGreaterThanOrEqual(0.75)
    await shot(page, 'lineage-50-views')
  })

  it('refits when filtered, so the nodes left fill the view', async () => {
    const name = generated.views[49]!
    await page.getByRole('textbox', { name: /Show only nodes/ }).fill(name)
    const node = page.locator(`.react-flow__node[data-id="featureView:${name}"]`)
    await expect.poll(() => page.locator('.react-flow__node').count(), POLL).toBe(4)
    const pane = (await page.locator('.react-flow').boundingBox())!
    // before the fix the view kept the unfiltered zoom and place: the node stayed below the pane
    await expect
      .poll(async () => {
        const box = await node.boundingBox()
        return box !== null && box.y >= pane.y && box.y + box.height <= pane.y + pane.height
      }, POLL)
      .toBe(true)
    expect(await zoom()).toBeGreaterThanOrEqual(0.75)
    await shot(page, 'lineage-50-views-filtered')
    expect(problems).toEqual([])
  })
})

interface Box {
  x: number
  y: number
  w: number
  h: number
}

/** A rendered link: its id, the ends of its path, and the boxes of the nodes its id names. */
interface Drawn {
  id: string
  start: number[]
  end: number[]
  source?: Box
  target?: Box
}

/** Run in the page: every rendered edge with its path's ends and its nodes' boxes (flow coordinates). */
const DRAWN_EDGES = `(() => {
  const nodes = new Map()
  for (const el of document.querySelectorAll('.react-flow__node')) {
    const m = new DOMMatrixReadOnly(getComputedStyle(el).transform)
    nodes.set(el.dataset.id, { x: m.e, y: m.f, w: el.offsetWidth, h: el.offsetHeight })
  }
  return [...document.querySelectorAll('.react-flow__edge')].map((g) => {
    const d = g.querySelector('.react-flow__edge-path')?.getAttribute('d') ?? ''
    const numbers = (d.match(/-?\\d+(\\.\\d+)?/g) ?? []).map(Number)
    const [source, target] = (g.dataset.id ?? '').split('->')
    return { id: g.dataset.id ?? '', start: numbers.slice(0, 2), end: numbers.slice(-2), source: nodes.get(source), target: nodes.get(target) }
  })
})()`

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
}
