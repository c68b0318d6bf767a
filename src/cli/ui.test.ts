// End to end: `larder ui` as a child process on a `larder init` repo with materialized data, driven
// by Debian's Chromium through playwright-core. Screenshots of every page go to test-artifacts/ui/.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AppliedRepo, appliedRepo } from '../server/__fixtures__/serve-process.js'
import { describeWithService } from '../testing/services.js'
import {
  BIN,
  chromiumUnavailable,
  launchChromium,
  startUi,
  type UiProcess,
} from './__fixtures__/ui-browser.js'
import { initRepo } from './commands/init.js'

const SHOTS = join(process.cwd(), 'test-artifacts', 'ui')
const now = new Date()
/** The end of the materialized window, as the UI prints times. */
const end = new Date(Math.floor(now.getTime() / 1000) * 1000)
const endText = end.toISOString().replace('T', ' ').replace('.000Z', 'Z')

/**
 * An `xdg-open` (and macOS `open`) first on the PATH that writes the URL it is given to `opened`, so a
 * test sees what `larder ui --open` would have opened.
 */
function fakeOpener(): { dir: string; opened: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(join(tmpdir(), 'larder-opener-'))
  const opened = join(dir, 'opened.txt')
  for (const name of ['xdg-open', 'open']) {
    writeFileSync(
      join(dir, name),
      `#!/bin/sh\nprintf '%s\\n' "$1" > "${opened}.tmp" && mv "${opened}.tmp" "${opened}"\n`,
      {
        mode: 0o755,
      },
    )
  }
  return { dir, opened, env: { PATH: `${dir}${delimiter}${process.env.PATH ?? ''}` } }
}

function larder(...args: string[]): string {
  return execFileSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  })
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
}

describe('larder ui serving (no browser)', () => {
  let repo: AppliedRepo
  let ui: UiProcess
  let opener: { dir: string; opened: string; env: NodeJS.ProcessEnv }
  beforeAll(async () => {
    repo = await appliedRepo({ now })
    opener = fakeOpener()
    ui = await startUi(repo.dir, { env: opener.env })
  })
  afterAll(async () => {
    await ui?.stop()
    repo?.remove()
    if (opener) rmSync(opener.dir, { recursive: true, force: true })
  })

  it('opens the browser with --open, and only then', async () => {
    const opened = await startUi(repo.dir, { args: ['--open'], env: opener.env })
    try {
      for (let waited = 0; !existsSync(opener.opened) && waited < 10_000; waited += 50) {
        await new Promise((r) => setTimeout(r, 50))
      }
      expect(readFileSync(opener.opened, 'utf8').trim()).toBe(opened.url)
    } finally {
      await opened.stop()
    }
    rmSync(opener.opened)
    // the server started without --open (beforeAll) has been up all along and opened nothing
    expect(existsSync(opener.opened)).toBe(false)
  })

  it('answers index.html for deep links, assets as files, and keeps JSON errors for API paths', async () => {
    const deep = await fetch(`${ui.url}/p/demo/feature-views/driver_hourly_stats`)
    expect(deep.status).toBe(200)
    expect(deep.headers.get('content-type')).toMatch(/^text\/html/)
    const html = await deep.text()
    expect(html).toContain('<div id="root">')
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!
    const js = await fetch(`${ui.url}${asset}`)
    expect(js.status).toBe(200)
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/)
    expect(js.headers.get('cache-control')).toContain('immutable')
    expect((await fetch(`${ui.url}/assets/missing.js`)).status).toBe(404)
    expect((await fetch(`${ui.url}/..%2f..%2fpackage.json`)).status).toBe(404)
    const api = await fetch(`${ui.url}/api/v1/nope`)
    expect(api.status).toBe(404)
    expect(await api.json()).toMatchObject({ error_type: 'NOT_FOUND' })
    // the jobs routes answer JSON, never the UI's page
    const jobs = await fetch(`${ui.url}/jobs`)
    expect(jobs.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await jobs.json()).toEqual({ jobs: [] })
    const job = await fetch(`${ui.url}/jobs/nope`)
    expect(job.status).toBe(404)
    expect(await job.json()).toMatchObject({ error_type: 'NOT_FOUND', details: { job: 'nope' } })
    const views = await fetch(`${ui.url}/api/v1/feature_views?project=demo`)
    const listed = (await views.json()) as { featureViews: { spec: { name: string } }[] }
    expect(listed.featureViews.map((v) => v.spec.name)).toEqual([
      'driver_hourly_stats',
      'driver_hourly_stats_fresh',
      'transformed_conv_rate',
    ])
  })
})

describeWithService('web UI in Chromium (larder ui)', chromiumUnavailable(), () => {
  let repo: AppliedRepo
  let ui: UiProcess
  let browser: { context: BrowserContext; close(): Promise<void> }
  let page: Page
  const errors: string[] = []

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true })
    repo = await appliedRepo({ now })
    larder('-c', repo.dir, 'materialize-incremental', end.toISOString())
    const entities = join(repo.dir, 'entities.csv')
    writeFileSync(
      entities,
      'driver_id,event_timestamp\n1001,2000-01-01T00:00:00Z\n1002,2000-01-01T00:00:00Z\n',
    )
    larder(
      '-c',
      repo.dir,
      'get-historical-features',
      '--entities',
      entities,
      '--features',
      'driver_hourly_stats:conv_rate',
      '--out',
      join(repo.dir, 'data', 'training.parquet'),
      '--save-as',
      'training_v1',
    )
    ui = await startUi(repo.dir)
    browser = await launchChromium()
    page = await browser.context.newPage()
    page.setDefaultTimeout(10_000)
    page.on('pageerror', (e) => errors.push(e.message))
  })

  afterAll(async () => {
    await browser?.close()
    await ui?.stop()
    repo?.remove()
  })

  it('opens the overview from the root, with counts, staleness and the last materialization', async () => {
    await page.goto(ui.url)
    await page.waitForURL(/\/p\/demo$/)
    await expect.poll(() => page.getByRole('heading', { name: 'Overview of demo' }).isVisible()).toBe(true)
    expect(await page.getByTestId('count-featureView').textContent()).toBe('2')
    expect(await page.getByTestId('count-featureService').textContent()).toBe('3')
    const staleness = page.getByRole('table', { name: 'Feature views by staleness' })
    expect(await staleness.textContent()).toContain('driver_hourly_stats_fresh')
    expect(await page.getByRole('table', { name: 'Last materializations' }).textContent()).toContain(endText)
    await shot(page, 'overview')
  })

  it('lists feature views in a sortable, filterable table', async () => {
    await page.getByRole('link', { name: 'Feature views', exact: true }).click()
    const table = page.getByRole('table', { name: 'Feature views' })
    await table.waitFor()
    expect(await table.textContent()).toContain('driver_hourly_stats_fresh')
    expect(await table.textContent()).toContain('driver_hourly_stats_source')
    await page.getByRole('textbox', { name: 'Filter Feature views' }).fill('push')
    await expect.poll(async () => page.locator('table[aria-label="Feature views"] tbody tr').count()).toBe(1)
    await page.getByRole('textbox', { name: 'Filter Feature views' }).fill('')
    await shot(page, 'feature-views')
  })

  it('shows a view on a deep link after a reload: schema, durations, intervals, freshness', async () => {
    await page.goto(`${ui.url}/p/demo/feature-views/driver_hourly_stats`)
    await page.reload()
    await page.getByRole('heading', { name: 'driver_hourly_stats', exact: true }).waitFor()
    expect(await page.getByRole('table', { name: 'Schema' }).textContent()).toContain('Average daily trips')
    const definition = await page.getByRole('region', { name: 'Definition' }).textContent()
    expect(definition).toContain('1d (point-in-time look-back)')
    expect(definition).toContain('driver_activity_v1')
    expect(await page.getByRole('region', { name: 'Source' }).textContent()).toContain(
      'data/driver_stats.parquet',
    )
    const intervals = page.getByRole('table', { name: 'Materialized intervals' })
    expect(await intervals.textContent()).toContain(endText)
    // counted from the window end until the run history arrives, then from the newest event
    await expect.poll(() => page.getByTestId('freshness').textContent()).toMatch(/^\d+[smh]( \d+[sm])? old$/)
    for (const chart of [/Timeline of materialized intervals/, /Freshness/]) {
      await expect
        .poll(() => page.getByRole('img', { name: chart }).locator('path').count())
        .toBeGreaterThan(3)
    }
    await shot(page, 'feature-view')
  })

  it('fetches a view online with "Try it": a value with status PRESENT', async () => {
    await page.getByRole('textbox', { name: 'driver_id' }).fill('1001')
    await page.getByRole('button', { name: 'Fetch online' }).click()
    const result = page.getByRole('table', { name: 'Online values' })
    await result.waitFor()
    const row = result.locator('tr', { hasText: 'conv_rate' })
    expect(await row.textContent()).toContain('PRESENT')
    expect(await row.textContent()).toMatch(/0\.\d+/)
    await page.getByRole('region', { name: 'Try it' }).scrollIntoViewIfNeeded()
    await shot(page, 'try-it')
  })

  it('searches with the / shortcut for a feature and lands on its view', async () => {
    await page.goto(`${ui.url}/p/demo/entities`)
    await page.getByRole('table', { name: 'Entities' }).waitFor()
    await page.keyboard.press('/')
    await page.keyboard.type('team=driver')
    await page.getByRole('option', { name: /Tag team=driver_performance/ }).waitFor()
    await page.keyboard.press('Escape')
    await page.keyboard.press('/')
    await page.keyboard.type('avg_daily')
    await page.getByRole('option', { name: /driver_hourly_stats:avg_daily_trips/ }).waitFor()
    await shot(page, 'search')
    await page.keyboard.press('Enter')
    await page.waitForURL(/\/feature-views\/driver_hourly_stats#feature-avg_daily_trips$/)
    await page.getByRole('heading', { name: 'driver_hourly_stats', exact: true }).waitFor()
    expect(await page.locator('tr[data-highlight]').textContent()).toContain('avg_daily_trips')
  })

  it('draws the lineage, highlights a neighbourhood on hover and follows an edge', async () => {
    await page.goto(`${ui.url}/p/demo/lineage`)
    const source = page.locator('.react-flow__node[data-id="dataSource:driver_hourly_stats_source"]')
    await source.waitFor()
    expect(await page.locator('.react-flow__node').count()).toBe(10)
    await page.locator('.react-flow__node[data-id="featureService:driver_activity_v1"]').hover()
    await expect.poll(() => page.locator('.react-flow__node.dim').count()).toBeGreaterThan(0)
    expect(
      await page
        .locator('.react-flow__node[data-id="featureView:driver_hourly_stats"]')
        .getAttribute('class'),
    ).not.toContain('dim')
    await shot(page, 'lineage')
    await page.mouse.move(5, 5)
    await expect.poll(() => page.locator('.react-flow__node.dim').count()).toBe(0)
    await page
      .locator(
        '.react-flow__edge[data-id="dataSource:driver_hourly_stats_source->featureView:driver_hourly_stats"]',
      )
      .click({ force: true })
    await page.waitForURL(/\/feature-views\/driver_hourly_stats$/)
  })

  it('shows entities, data sources, feature services, saved datasets and on-demand views', async () => {
    await page.goto(`${ui.url}/p/demo/entities/driver`)
    await page.getByRole('heading', { name: 'driver', exact: true }).waitFor()
    expect(await page.getByRole('region', { name: 'Definition' }).textContent()).toContain('driver_id')
    await shot(page, 'entity')

    await page.goto(`${ui.url}/p/demo/data-sources`)
    const sources = await page.getByRole('table', { name: 'Data sources' }).textContent()
    expect(sources).toContain('driver_hourly_stats_source')
    expect(sources).toContain('driver_stats_push_source')
    await shot(page, 'data-sources')

    await page.goto(`${ui.url}/p/demo/feature-services/driver_activity_v2`)
    expect(await page.getByRole('table', { name: 'Projections' }).textContent()).toContain('fresh')
    expect(await page.getByLabel('curl request', { exact: true }).textContent()).toContain(
      '"feature_service":"driver_activity_v2"',
    )
    expect(await page.getByLabel('typed client call', { exact: true }).textContent()).toContain(
      "new LarderClient('http://127.0.0.1:",
    )
    await shot(page, 'feature-service')

    await page.goto(`${ui.url}/p/demo/saved-datasets`)
    expect(await page.getByRole('table', { name: 'Saved datasets' }).textContent()).toContain('training_v1')
    await shot(page, 'saved-datasets')

    await page.goto(`${ui.url}/p/demo/on-demand-views`)
    await page.getByRole('heading', { name: 'On-demand views', exact: true }).waitFor()
    await shot(page, 'on-demand-views')
  })

  it('renders an on-demand view as the API returns it: sources, request fields, schema, source and hash', async () => {
    // Larder's on-demand views are being added; the API's Feast shape is what the page must render.
    const source =
      'export function convRatePlusVal(rows) {\n  return { conv_rate_plus_val: rows.conv_rate + rows.val_to_add }\n}'
    const odfv = {
      type: 'onDemandFeatureView',
      spec: {
        name: 'conv_rate_plus_val',
        project: 'demo',
        features: [
          { name: 'conv_rate_plus_val', valueType: 'DOUBLE', description: 'conv_rate plus a request value' },
        ],
        sources: {
          driver_hourly_stats: {
            featureViewProjection: {
              featureViewName: 'driver_hourly_stats',
              featureColumns: [{ name: 'conv_rate', valueType: 'FLOAT' }],
            },
          },
          vals_to_add: {
            requestDataSource: {
              type: 'REQUEST_SOURCE',
              name: 'vals_to_add',
              requestDataOptions: { schema: [{ name: 'val_to_add', valueType: 'INT64' }] },
            },
          },
        },
        featureTransformation: {
          userDefinedFunction: {
            name: 'convRatePlusVal',
            body: Buffer.from(source).toString('base64'),
            bodyText: source,
          },
        },
        mode: 'typescript',
      },
    }
    await page.route(/\/api\/v1\/feature_views\?/, async (route) => {
      const response = await route.fetch()
      const body = await response.json()
      body.featureViews.push(odfv)
      await route.fulfill({ response, json: body })
    })
    await page.goto(`${ui.url}/p/demo/on-demand-views`)
    expect(await page.getByRole('table', { name: 'On-demand views' }).textContent()).toContain(
      'conv_rate_plus_val',
    )
    await page.getByRole('link', { name: 'conv_rate_plus_val' }).click()
    await page.getByRole('heading', { name: 'conv_rate_plus_val', exact: true }).waitFor()
    const sources = await page.getByRole('region', { name: 'Sources' }).textContent()
    expect(sources).toContain('driver_hourly_stats')
    expect(sources).toContain('vals_to_add (request source)')
    expect(await page.getByRole('table', { name: 'Request fields' }).textContent()).toContain('val_to_add')
    expect(await page.getByRole('table', { name: 'Output schema' }).textContent()).toContain('DOUBLE')
    const code = page.getByLabel('transformation source', { exact: true })
    expect(await code.textContent()).toContain('rows.conv_rate + rows.val_to_add')
    expect(await code.locator('.hljs-keyword').count()).toBeGreaterThan(0)
    await expect
      .poll(() => page.getByRole('region', { name: 'Transformation' }).textContent())
      .toMatch(/sha256:[0-9a-f]{64}/)
    await shot(page, 'on-demand-view')
    await page.goto(`${ui.url}/p/demo/lineage`)
    // a link between two nodes on one row is a flat line, which Playwright's "visible" (a box with
    // height) never sees: wait for it to be drawn, then check it has a path
    const link = page.locator(
      '.react-flow__edge[data-id="featureView:driver_hourly_stats->onDemandFeatureView:conv_rate_plus_val"]',
    )
    await link.waitFor({ state: 'attached' })
    expect(await link.locator('path.react-flow__edge-path').getAttribute('d')).toMatch(/^M\s?[\d.-]+/)
    await page.unroute(/\/api\/v1\/feature_views\?/)
  })

  it('says what to do when the server is down, and has a dark mode', async () => {
    await page.route('**/api/v1/**', (route) => route.abort('connectionrefused'))
    await page.goto(`${ui.url}/p/demo/feature-views`)
    await page.getByRole('alert').filter({ hasText: 'larder ui' }).waitFor()
    await shot(page, 'server-down')
    await page.unroute('**/api/v1/**')
    await page.goto(`${ui.url}/p/demo`)
    await page.getByRole('button', { name: 'Switch to dark mode' }).click()
    expect(await page.locator('html').getAttribute('data-mantine-color-scheme')).toBe('dark')
    await page.goto(`${ui.url}/p/demo/feature-views/driver_hourly_stats`)
    await page.getByRole('heading', { name: 'driver_hourly_stats', exact: true }).waitFor()
    await shot(page, 'feature-view-dark')
    expect(errors).toEqual([])
  })
})

/** A features.ts with `views` feature views over 20 sources and `services` services of 4 views each. */
function largeRepoFeatures(views: number, services: number): string {
  const lines = [
    "import { Entity, FeatureService, FeatureView, Field, FileSource, Float32, Int64 } from 'larderjs'",
    "export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })",
  ]
  for (let i = 0; i < 20; i++) {
    lines.push(
      `export const source_${i} = new FileSource({ name: 'source_${i}', path: 'data/driver_stats.parquet', timestampField: 'event_timestamp', createdTimestampColumn: 'created' })`,
    )
  }
  for (let i = 0; i < views; i++) {
    lines.push(
      `export const view_${i} = new FeatureView({ name: 'view_${i}', entities: [driver], ttl: '1d', source: source_${i % 20}, tags: { team: 'team_${i % 7}' }, schema: [new Field({ name: 'conv_rate', dtype: Float32 }), new Field({ name: 'acc_rate', dtype: Float32 }), new Field({ name: 'avg_daily_trips', dtype: Int64 })] })`,
    )
  }
  for (let i = 0; i < services; i++) {
    const picks = [i, (i * 7 + 3) % views, (i * 13 + 5) % views, (i * 31 + 11) % views]
    lines.push(
      `export const service_${i} = new FeatureService({ name: 'service_${i}', features: [${[...new Set(picks)].map((v) => `view_${v}`).join(', ')}] })`,
    )
  }
  return `${lines.join('\n')}\n`
}

describeWithService(
  'web UI in Chromium with 200 feature views and 50 services',
  chromiumUnavailable(),
  () => {
    let root: string
    let ui: UiProcess
    let browser: { context: BrowserContext; close(): Promise<void> }

    beforeAll(async () => {
      root = mkdtempSync(join(tmpdir(), 'larder-ui-large-'))
      const dir = join(root, 'large')
      await initRepo(dir, 'local', now)
      writeFileSync(join(dir, 'features.ts'), largeRepoFeatures(200, 50))
      larder('-c', dir, 'apply')
      ui = await startUi(dir)
      browser = await launchChromium()
    })

    afterAll(async () => {
      await browser?.close()
      await ui?.stop()
      if (root) rmSync(root, { recursive: true, force: true })
    })

    it('loads the overview and the lineage (times printed, not asserted)', async () => {
      const page = await browser.context.newPage()
      page.setDefaultTimeout(20_000)
      const timed = async (path: string, ready: () => Promise<unknown>) => {
        const started = performance.now()
        await page.goto(`${ui.url}${path}`)
        await ready()
        return Math.round(performance.now() - started)
      }
      const project = (/\/p\/([^/]+)$/.exec(
        await page
          .goto(ui.url)
          .then(() => page.waitForURL(/\/p\/[^/]+$/))
          .then(() => page.url()),
      ) ?? [])[1]!
      const overviewMs = await timed(`/p/${project}`, () =>
        expect.poll(() => page.getByTestId('count-featureView').textContent()).toBe('200'),
      )
      await page.screenshot({ path: join(SHOTS, 'large-overview.png') })
      const lineageMs = await timed(`/p/${project}/lineage`, () =>
        page.locator('.react-flow__node[data-id="featureService:service_49"]').waitFor(),
      )
      const nodes = await page.locator('.react-flow__node').count()
      const edges = await page.locator('.react-flow__edge').count()
      await page.screenshot({ path: join(SHOTS, 'large-lineage.png') })
      const hoverStarted = performance.now()
      await page.locator('.react-flow__node[data-id="featureView:view_0"]').hover()
      await page.locator('.react-flow__node.dim').first().waitFor()
      const hoverMs = Math.round(performance.now() - hoverStarted)
      console.log(
        JSON.stringify({
          figure: 'ui load times, 200 feature views and 50 services',
          overviewMs,
          lineageMs,
          lineageHoverMs: hoverMs,
          lineageNodes: nodes,
          lineageEdges: edges,
        }),
      )
      expect(nodes).toBeGreaterThan(250)
      await page.close()
    })
  },
)
