// The web UI's pages and layout in Debian's Chromium (playwright-core), against `larder ui` on the
// demo repo (applied, materialized, with a saved dataset) and on a generated repo of 50 views and 20
// services that shares its registry with a second project. One test per layout or wording defect,
// the Features and Projects pages, and a tour of every route the router has, on every object, that
// fails on any failed request or console error. Screenshots go to test-artifacts/ui-screenshots/.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type AppliedRepo, appliedRepo } from '../server/__fixtures__/serve-process.js'
import { describeWithService } from '../testing/services.js'
import {
  BIN,
  chromiumUnavailable,
  launchChromium,
  startUi,
  type UiProcess,
} from './__fixtures__/ui-browser.js'
import { type LargeRepo, largeRepo, largeViewName } from './__fixtures__/ui-large-repo.js'

const SHOTS = join(process.cwd(), 'test-artifacts', 'ui-screenshots')
const APP = fileURLToPath(new URL('../../ui/src/app.tsx', import.meta.url))
const now = new Date()
const end = new Date(Math.floor(now.getTime() / 1000) * 1000)

function larder(...args: string[]): string {
  return execFileSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  })
}

/** The URL patterns of the UI's router (its route table), so the tour follows every page it has. */
function routePatterns(): string[] {
  const patterns = [...readFileSync(APP, 'utf8').matchAll(/\[\s*'(\/p\/:project[^']*)'/g)].map((m) => m[1]!)
  if (patterns.length < 10)
    throw new Error(`found only ${patterns.length} routes in ${APP}: has its table changed shape?`)
  return patterns
}

/** Every failed request (status >= 400 or no answer), console error and uncaught error of a page. */
function watch(page: Page): { problems: string[]; at: { url: string }; settled: () => Promise<void> } {
  const at = { url: '' }
  const problems: string[] = []
  let inFlight = 0
  let lastActivity = Date.now()
  const track = (change: number) => {
    inFlight += change
    lastActivity = Date.now()
  }
  page.on('request', () => track(1))
  page.on('requestfinished', () => track(-1))
  page.on('response', (r) => {
    if (r.status() >= 400)
      problems.push(`${at.url}: ${r.request().method()} ${r.url()} answered ${r.status()}`)
  })
  page.on('requestfailed', (r) => {
    track(-1)
    problems.push(`${at.url}: ${r.method()} ${r.url()} failed: ${r.failure()?.errorText}`)
  })
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`${at.url}: console error: ${m.text()}`)
  })
  page.on('pageerror', (e) => problems.push(`${at.url}: uncaught ${e.message}`))
  /**
   * Resolves once none of the page's requests has been in flight for 200 ms, so a request chained on
   * another's answer is waited for too. (Playwright's `networkidle` waits 500 ms after the last
   * connection: over a tour of a hundred pages, most of a minute spent waiting for nothing.)
   */
  const settled = async () => {
    while (inFlight > 0 || Date.now() - lastActivity < 200) await new Promise((r) => setTimeout(r, 25))
  }
  return { problems, at, settled }
}

function slug(path: string): string {
  return path.replace(/^\/p\/[^/]+\/?/, '').replace(/[^A-Za-z0-9_.-]+/g, '__') || 'overview'
}

/** Links of the page that leave its project (every in-app link but the home link keeps it). */
async function linksOutsideProject(page: Page, project: string): Promise<string[]> {
  const prefix = `/p/${encodeURIComponent(project)}`
  const hrefs = await page
    .locator('a[href^="/"]')
    .evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''))
  return hrefs.filter(
    (h) => h !== '/' && h !== prefix && !h.startsWith(`${prefix}/`) && !h.startsWith(`${prefix}?`),
  )
}

/**
 * Visits `/`, then every route of the router for `project`: a route with `:name` once per object its
 * list page links to. Saves a screenshot of each and returns the paths visited and what went wrong.
 */
async function tour(
  page: Page,
  base: string,
  project: string,
): Promise<{ visited: string[]; problems: string[] }> {
  const watched = watch(page)
  const dir = join(SHOTS, project)
  mkdirSync(dir, { recursive: true })
  const visited: string[] = []
  const visit = async (path: string) => {
    watched.at.url = path
    await page.goto(`${base}${path}`)
    await watched.settled()
    const shown = await page
      .locator('#main h2')
      .first()
      .waitFor()
      .then(() => true)
      .catch(() => false)
    if (!shown) watched.problems.push(`${path}: no page heading was shown`)
    const main =
      (await page
        .locator('#main')
        .textContent({ timeout: 5_000 })
        .catch(() => null)) ?? ''
    if (main === '') watched.problems.push(`${path}: the page rendered nothing`)
    if (/No such page|not found/.test(main))
      watched.problems.push(`${path}: the page says "${main.slice(0, 120)}"`)
    for (const h of await linksOutsideProject(page, project))
      watched.problems.push(`${path}: a link leaves the project: ${h}`)
    await page.screenshot({ path: join(dir, `${slug(path)}.png`), fullPage: true })
    visited.push(path)
  }
  watched.at.url = '/'
  await page.goto(base)
  await watched.settled()
  await page.locator('#main h2').first().waitFor()
  await page.screenshot({ path: join(dir, 'root.png'), fullPage: true })
  const p = encodeURIComponent(project)
  for (const pattern of routePatterns()) {
    const segments = pattern.split('/')
    const at = segments.indexOf(':name')
    if (at < 0) {
      await visit(pattern.replace(':project', p))
      continue
    }
    const list = segments.slice(0, at).join('/').replace(':project', p)
    await page.goto(`${base}${list}`)
    await watched.settled()
    await page.locator('#main h2').first().waitFor()
    const shape = new RegExp(`^${list}/([^/#?]+)$`)
    const hrefs = await page
      .locator('#main a[href]')
      .evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''))
    const names = [
      ...new Set(hrefs.map((h) => shape.exec(h.split('#')[0]!)?.[1]).filter((n) => n !== undefined)),
    ]
    for (const name of names) await visit(pattern.replace(':project', p).replace(':name', name))
  }
  return { visited, problems: watched.problems }
}

/** The lines a link's text is laid out on, split where the browser wrapped it. */
async function wrappedLines(page: Page, selector: string): Promise<string[][]> {
  return page.locator(selector).evaluateAll((els) =>
    els.map((el) => {
      const lines: string[] = ['']
      const range = el.ownerDocument.createRange()
      const walker = el.ownerDocument.createTreeWalker(el, 4 /* text nodes */)
      let top: number | undefined
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const text = n.textContent ?? ''
        for (let i = 0; i < text.length; i++) {
          range.setStart(n, i)
          range.setEnd(n, i + 1)
          const box = range.getClientRects()[0]
          if (!box) continue
          if (top !== undefined && box.top > top + 2) lines.push('')
          lines[lines.length - 1] += text[i]
          top = box.top
        }
      }
      return lines
    }),
  )
}

/** WCAG contrast ratio of an element's text against its background (blended over the page's). */
async function contrast(page: Page, selector: string): Promise<number> {
  return page.locator(selector).evaluate((el) => {
    const rgba = (c: string) => (c.match(/[\d.]+/g) ?? []).map(Number).concat(1).slice(0, 4) as number[]
    const over = (top: number[], under: number[]) =>
      top.slice(0, 3).map((v, i) => v * top[3]! + under[i]! * (1 - top[3]!))
    const style = (e: typeof el) => e.ownerDocument.defaultView!.getComputedStyle(e)
    const page = rgba(style(el.ownerDocument.body).backgroundColor)
    const bg = over(rgba(style(el).backgroundColor), page)
    const fg = over(rgba(style(el).color), bg)
    const lum = (c: number[]) => {
      const [r, g, b] = c.map((v) => {
        const s = v / 255
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4
      })
      return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!
    }
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a)
    return (hi! + 0.05) / (lo! + 0.05)
  })
}

/** Seconds of an age label as the UI prints them (`1w 2d`, `6h`, `0s`); undefined for anything else. */
function ageSeconds(label: string): number | undefined {
  if (!/^\d+[wdhms]( \d+[wdhms])?$/.test(label)) return undefined
  const unit: Record<string, number> = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 }
  return label.split(' ').reduce((n, part) => n + Number(part.slice(0, -1)) * unit[part.slice(-1)]!, 0)
}

/** How long a poll waits for the page (the charts load lazily on a busy machine). */
const POLL = { timeout: 20_000 }

const ROUND_STEPS = [
  1, 5, 15, 30, 60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400, 172800, 604800, 1209600,
]

describeWithService('web UI pages, layout and tour in Chromium', chromiumUnavailable(), () => {
  let demo: AppliedRepo
  let large: LargeRepo
  let demoUi: UiProcess
  let largeUi: UiProcess
  let browser: { context: BrowserContext; close(): Promise<void> }

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true })
    demo = await appliedRepo({ now })
    larder('-c', demo.dir, 'materialize-incremental', end.toISOString())
    const entities = join(demo.dir, 'entities.csv')
    writeFileSync(
      entities,
      'driver_id,event_timestamp\n1001,2000-01-01T00:00:00Z\n1002,2000-01-02T00:00:00Z\n',
    )
    larder(
      '-c',
      demo.dir,
      'get-historical-features',
      '--entities',
      entities,
      '--feature-service',
      'driver_activity_v1',
      '--out',
      join(demo.dir, 'data', 'scoring.parquet'),
      '--save-as',
      'scoring_set',
    )
    large = await largeRepo({ now })
    ;[demoUi, largeUi] = await Promise.all([startUi(demo.dir), startUi(large.dir)])
    browser = await launchChromium()
  }, 240_000)

  afterAll(async () => {
    await browser?.close()
    await demoUi?.stop()
    await largeUi?.stop()
    demo?.remove()
    large?.remove()
  })

  const open = async (url: string, viewport = { width: 1280, height: 800 }) => {
    const page = await browser.context.newPage()
    page.setDefaultTimeout(15_000)
    await page.setViewportSize(viewport)
    await page.goto(url)
    return page
  }

  it('says "Entities" in the entity breadcrumb and on its not-found page', async () => {
    const page = await open(`${demoUi.url}/p/${demo.project}/entities/driver`)
    await page.getByRole('heading', { name: 'driver', exact: true }).waitFor()
    expect(await page.locator('.mantine-Breadcrumbs-root').textContent()).toBe('Entities/driver')
    await page.goto(`${demoUi.url}/p/${demo.project}/entities/no_such_entity`)
    const link = page.getByRole('link', { name: 'See all entities' })
    await link.waitFor()
    expect(await page.locator('#main').textContent()).not.toMatch(/entitys/i)
    await link.click()
    await page.waitForURL(/\/entities$/)
    await page.close()
  })

  it('shows a saved dataset with its event range, readable storage and linked features and service', async () => {
    const page = await open(`${demoUi.url}/p/${demo.project}/saved-datasets/scoring_set`)
    const definition = page.getByRole('region', { name: 'Definition' })
    await definition.waitFor()
    // --save-as recorded the entity file's event range in Feast's SavedDatasetMeta: the page prints it
    expect(await definition.textContent()).toContain('2000-01-01 00:00:00Z → 2000-01-02 00:00:00Z')
    const storage = await page.getByTestId('storage').textContent()
    expect(storage).toMatch(/^file: \S*scoring\.parquet$/)
    const feature = definition.getByRole('link', { name: 'driver_hourly_stats:conv_rate' })
    expect(await feature.getAttribute('href')).toBe(
      `/p/${demo.project}/feature-views/driver_hourly_stats#feature-conv_rate`,
    )
    expect(await definition.getByRole('link', { name: 'driver_activity_v1' }).getAttribute('href')).toBe(
      `/p/${demo.project}/feature-services/driver_activity_v1`,
    )
    // a dataset saved without an event range (by an older Larder): the page says so instead of "— → —"
    await page.route(/\/api\/v1\/saved_datasets\?/, async (route) => {
      const response = await route.fetch()
      const body = await response.json()
      for (const d of body.savedDatasets) {
        delete d.meta.minEventTimestamp
        delete d.meta.maxEventTimestamp
      }
      await route.fulfill({ response, json: body })
    })
    await page.reload()
    await definition.waitFor()
    expect(await definition.textContent()).toContain('not recorded')
    await page.unroute(/\/api\/v1\/saved_datasets\?/)
    await page.reload()
    await definition.waitFor()
    await feature.click()
    await page.waitForURL(/\/feature-views\/driver_hourly_stats#feature-conv_rate$/)
    expect(await page.locator('tr[data-highlight]').textContent()).toContain('conv_rate')
    await page.screenshot({ path: join(SHOTS, 'saved-dataset.png'), fullPage: true })
    await page.close()
  })

  it('draws charts with the maxAge label inside the plot, round duration ticks and visible short windows', async () => {
    const t = end.getTime()
    const iso = (ms: number) => new Date(ms).toISOString()
    // the timeline: a long window, a one-second window right after it and another right after that;
    // the freshness chart draws the demo's real run, under a maxAge of 30 days
    const windows = [
      { startTime: iso(t - 2 * 86_400_000), endTime: iso(t - 3_600_000) },
      { startTime: iso(t - 3_600_000), endTime: iso(t - 3_599_000) },
      { startTime: iso(t - 3_599_000), endTime: iso(t - 1_800_000) },
    ]
    const page = await browser.context.newPage()
    await page.route(/\/api\/v1\/feature_views\?/, async (route) => {
      const response = await route.fetch()
      const body = await response.json()
      const view = body.featureViews.find(
        (v: { spec: { name: string } }) => v.spec.name === 'driver_hourly_stats',
      )
      view.spec.tags = { ...view.spec.tags, 'larder.dev/max-age-seconds': String(30 * 86_400) }
      view.meta = { ...view.meta, materializationIntervals: windows }
      await route.fulfill({ response, json: body })
    })
    await page.goto(`${demoUi.url}/p/${demo.project}/feature-views/driver_hourly_stats`)
    const freshness = page.getByRole('img', { name: /^Freshness/ }).locator('svg')
    await expect.poll(() => freshness.locator('text').count(), POLL).toBeGreaterThan(3)
    const { texts, box } = await freshness.evaluate((svg) => {
      const box = (e: typeof svg) => {
        const r = e.getBoundingClientRect()
        return { left: r.left, right: r.right, top: r.top, bottom: r.bottom }
      }
      return {
        box: box(svg),
        texts: [...svg.querySelectorAll('text')].map((t) => ({
          text: t.textContent ?? '',
          box: box(t),
        })),
      }
    })
    const label = texts.find((x) => x.text.startsWith('maxAge'))
    expect(label?.text).toBe('maxAge 4w 2d')
    expect(label!.box.left).toBeGreaterThanOrEqual(box.left)
    expect(label!.box.right).toBeLessThanOrEqual(box.right)
    expect(label!.box.top).toBeGreaterThanOrEqual(box.top)
    expect(label!.box.bottom).toBeLessThanOrEqual(box.bottom)
    const ticks = texts
      .map((x) => ageSeconds(x.text))
      .filter((s) => s !== undefined)
      .sort((a, b) => a - b)
    expect(ticks.length).toBeGreaterThanOrEqual(3)
    expect(ticks[0]).toBe(0)
    expect(ROUND_STEPS).toContain(ticks[1])
    expect(ticks.every((s, i) => s === i * ticks[1]!)).toBe(true)
    const bars = await page
      .getByRole('img', { name: /^Timeline/ })
      .locator('svg path')
      .evaluateAll((paths) =>
        paths
          .map((p) => p.getBoundingClientRect())
          .filter((r) => r.height > 10)
          .map((r) => ({ left: r.left, right: r.right, width: r.width }))
          .sort((a, b) => a.left - b.left),
      )
    expect(bars).toHaveLength(3)
    for (const [i, bar] of bars.entries()) {
      expect(bar.width).toBeGreaterThanOrEqual(3)
      if (i > 0) expect(bar.left).toBeGreaterThanOrEqual(bars[i - 1]!.right + 0.5)
    }
    await page.screenshot({ path: join(SHOTS, 'charts.png'), fullPage: true })
    await page.close()
  })

  it('wraps names in the views table at underscores only, at 1280 px', async () => {
    const page = await open(`${largeUi.url}/p/${large.project}/feature-views`)
    await page.getByRole('table', { name: 'Feature views' }).waitFor()
    const lines = await wrappedLines(page, 'table[aria-label="Feature views"] tbody a')
    expect(lines.length).toBeGreaterThan(100)
    const midWord = lines.filter((l) => l.slice(0, -1).some((line) => !line.endsWith('_')))
    expect(midWord.map((l) => l.join(' | '))).toEqual([])
    await page.screenshot({ path: join(SHOTS, 'feature-views-1280.png'), fullPage: true })
    await page.close()
  })

  it('shows the overview badge "never materialized" whole', async () => {
    const page = await open(`${largeUi.url}/p/${large.project}`)
    const table = page.getByRole('table', { name: 'Feature views by staleness' })
    await table.waitFor()
    const labels = await table
      .locator('.mantine-Badge-label')
      .evaluateAll((els) =>
        els.map((el) => ({ text: el.textContent, cut: el.scrollWidth > el.clientWidth + 1 })),
      )
    expect(labels.length).toBeGreaterThan(0)
    expect(labels.filter((l) => l.cut)).toEqual([])
    await page.close()
  })

  it('fits a phone: the project badge shows its name and the staleness table scrolls in its card', async () => {
    const page = await open(`${demoUi.url}/p/${demo.project}`, { width: 390, height: 844 })
    const table = page.getByRole('table', { name: 'Feature views by staleness' })
    await table.waitFor()
    const badge = await page
      .getByLabel(`project ${demo.project}`)
      .locator('.mantine-Badge-label')
      .evaluate((el) => ({
        width: el.getBoundingClientRect().width,
        cut: el.scrollWidth > el.clientWidth + 1,
      }))
    expect(badge.cut).toBe(false)
    expect(badge.width).toBeGreaterThan(20)
    expect(await page.locator('html').evaluate((html) => html.scrollWidth)).toBeLessThanOrEqual(390)
    // the table stays inside its card (it scrolls there) and the card inside the screen
    const box = await table.evaluate((t) => ({
      table: t.getBoundingClientRect().right,
      card: t.closest('.mantine-Card-root')!.getBoundingClientRect().right,
    }))
    expect(box.table).toBeLessThanOrEqual(box.card)
    expect(box.card).toBeLessThanOrEqual(390)
    await page.screenshot({ path: join(SHOTS, 'overview-phone.png'), fullPage: true })
    await page.close()
  })

  it('keeps the disabled "Fetch online" button readable in dark mode', async () => {
    const page = await open(`${demoUi.url}/p/${demo.project}/feature-views/driver_hourly_stats`)
    await page.getByRole('button', { name: 'Switch to dark mode' }).click()
    const button = page.getByRole('button', { name: 'Fetch online' })
    expect(await button.isDisabled()).toBe(true)
    expect(await contrast(page, 'button:has-text("Fetch online")')).toBeGreaterThanOrEqual(4.5)
    await page.getByRole('region', { name: 'Try it' }).scrollIntoViewIfNeeded()
    await page.screenshot({ path: join(SHOTS, 'try-it-dark.png') })
    await page.getByRole('button', { name: 'Switch to light mode' }).click()
    await page.close()
  })

  it('lists every feature with the services that use it, filtered by text, type, owner and tag', async () => {
    const page = await open(`${demoUi.url}/p/${demo.project}/features`)
    const rows = page.locator('table[aria-label="Features"] tbody tr')
    await page.getByRole('textbox', { name: 'Filter Features' }).fill('driver_hourly_stats:conv_rate')
    await expect.poll(() => rows.count(), POLL).toBe(1)
    const services = await rows.first().getByRole('link').allTextContents()
    expect(new Set(services)).toEqual(
      new Set([
        'conv_rate',
        'driver_hourly_stats',
        'driver_activity_v1',
        'driver_activity_v2',
        'driver_activity_v3',
      ]),
    )
    await page.goto(`${largeUi.url}/p/${large.project}/features`)
    await expect.poll(() => rows.count(), POLL).toBe(50 * 3 + 2)
    const choose = async (filter: string, value: string) => {
      await page
        .getByRole('group', { name: 'Filter features by' })
        .getByLabel(filter, { exact: true })
        .click()
      await page.getByRole('option', { name: value, exact: true }).click()
    }
    await choose('Type', 'INT64')
    await expect.poll(() => rows.count(), POLL).toBe(50)
    await choose('Owner', 'risk@example.com')
    // views 1, 5, …, 49 belong to risk@example.com
    await expect.poll(() => rows.count(), POLL).toBe(13)
    expect(await rows.first().textContent()).toContain('avg_daily_trips')
    await choose('Tag', 'tier=gold')
    await page.getByText('No feature matches these filters').waitFor()
    await page.screenshot({ path: join(SHOTS, 'features-filtered.png'), fullPage: true })
    await page.close()
  })

  it('lists the projects of a shared registry and switches project keeping the page', async () => {
    const page = await open(largeUi.url)
    await page.getByRole('heading', { name: 'Projects' }).waitFor()
    await page.getByRole('link', { name: large.otherProject }).waitFor()
    await page.goto(`${largeUi.url}/p/${large.project}/feature-services/model_scoring_service_v0`)
    await page.getByRole('heading', { name: 'model_scoring_service_v0' }).waitFor()
    await page.getByRole('combobox', { name: 'Project' }).click()
    await page.getByRole('option', { name: large.otherProject, exact: true }).click()
    await page.waitForURL(new RegExp(`/p/${large.otherProject}/feature-services$`))
    await page
      .getByRole('table', { name: 'Feature services' })
      .getByRole('link', { name: 'driver_activity_v1' })
      .waitFor()
    expect(await linksOutsideProject(page, large.otherProject)).toEqual([])
    await page.close()
  })

  it('tours every page of the demo repo with no failed request and no console error', async () => {
    const page = await browser.context.newPage()
    page.setDefaultTimeout(15_000)
    const { visited, problems } = await tour(page, demoUi.url, demo.project)
    expect(visited).toContain(`/p/${demo.project}/feature-views/driver_hourly_stats_fresh`)
    expect(visited).toContain(`/p/${demo.project}/on-demand-views/transformed_conv_rate`)
    expect(visited).toContain(`/p/${demo.project}/saved-datasets/scoring_set`)
    expect(problems).toEqual([])
    await page.close()
  }, 300_000)

  it('tours every page of a 50-view, 20-service repo and of its neighbour project', async () => {
    const page = await browser.context.newPage()
    page.setDefaultTimeout(30_000)
    const big = await tour(page, largeUi.url, large.project)
    for (let i = 0; i < 50; i++)
      expect(big.visited).toContain(`/p/${large.project}/feature-views/${largeViewName(i)}`)
    const other = await tour(page, largeUi.url, large.otherProject)
    expect(other.visited).toContain(`/p/${large.otherProject}/feature-services/driver_activity_v2`)
    expect([...big.problems, ...other.problems]).toEqual([])
    await page.close()
  }, 900_000)
})
