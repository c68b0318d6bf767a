// `larder ui` on a repo whose feature_store.yaml asks for static tokens, driven by Debian's Chromium:
// the page loads without a token, asks for one when the API answers 401, keeps it for the tab and
// sends it with every call; a refused token is named. Screenshots go to test-artifacts/ui/.
import { appendFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type AppliedRepo, appliedRepo } from '../server/__fixtures__/serve-process.js'
import { tokenSha256 } from '../server/auth/__fixtures__/test-idp.js'
import { describeWithService } from '../testing/services.js'
import { chromiumUnavailable, launchChromium, startUi, type UiProcess } from './__fixtures__/ui-browser.js'

const SHOTS = join(process.cwd(), 'test-artifacts', 'ui')
const TOKEN = 'viewer-token-for-the-web-ui'

describeWithService('web UI with a token (larder ui, auth static)', chromiumUnavailable(), () => {
  let repo: AppliedRepo
  let ui: UiProcess
  let browser: Awaited<ReturnType<typeof launchChromium>>
  let page: Page

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true })
    repo = await appliedRepo()
    appendFileSync(
      join(repo.dir, 'feature_store.yaml'),
      `auth:\n  type: static\n  static_tokens:\n    - { name: viewer, token_sha256: ${tokenSha256(TOKEN)} }\n`,
    )
    ui = await startUi(repo.dir)
    browser = await launchChromium()
    page = await browser.context.newPage()
    page.setDefaultTimeout(10_000)
  })
  afterAll(async () => {
    await browser?.close()
    await ui?.stop()
    repo?.remove()
  })

  it('serves the page without a token, and the API only with one', async () => {
    expect((await fetch(ui.url)).status).toBe(200)
    const refused = await fetch(`${ui.url}/api/v1/projects`)
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="larder"')
    const served = await fetch(`${ui.url}/api/v1/projects`, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(served.status).toBe(200)
  })

  it('asks for a token, names a refused one, and shows the project with the right one', async () => {
    await page.goto(ui.url)
    const form = page.getByRole('form', { name: 'Sign in with a token' })
    await form.waitFor()
    expect(await page.getByText('Paste a bearer token to browse this repository.').isVisible()).toBe(true)
    await page.getByLabel('Access token').fill('wrong-token')
    await page.getByRole('button', { name: 'Use this token' }).click()
    await page
      .getByText("The token was refused: the bearer token is not one of the server's static tokens")
      .waitFor()
    await page.getByLabel('Access token').fill(TOKEN)
    await page.getByRole('button', { name: 'Use this token' }).click()
    await page.waitForURL(/\/p\/demo$/)
    await page.getByRole('heading', { name: 'Overview of demo' }).waitFor()
    expect(await page.evaluate("sessionStorage.getItem('larder.token')")).toBe(TOKEN)
    await page.screenshot({ path: join(SHOTS, 'auth-signed-in.png'), fullPage: true })
  })

  it('keeps the token for the tab across a reload, and forgets it on request', async () => {
    await page.reload()
    await page.getByRole('heading', { name: 'Overview of demo' }).waitFor()
    await page.getByRole('button', { name: 'Forget token' }).click()
    await page.getByRole('form', { name: 'Sign in with a token' }).waitFor()
    expect(await page.evaluate("sessionStorage.getItem('larder.token')")).toBeNull()
    await page.screenshot({ path: join(SHOTS, 'auth-token-form.png'), fullPage: true })
  })
})
