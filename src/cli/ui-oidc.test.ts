// `larder ui` with auth type oidc against a local OpenID provider (`TestIdp`: discovery, JWKS, an
// authorization endpoint that consents at once, a token endpoint that checks the PKCE verifier),
// driven by Debian's Chromium: "Sign in" goes through the provider and back signed in, the pages load
// with the token, a forged state or a substituted verifier is refused with a clear message, an expired
// token is renewed by signing in again, and "Sign out" forgets it.
import { appendFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type AppliedRepo, appliedRepo } from '../server/__fixtures__/serve-process.js'
import { TestIdp } from '../server/auth/__fixtures__/test-idp.js'
import { describeWithService } from '../testing/services.js'
import { chromiumUnavailable, launchChromium, startUi, type UiProcess } from './__fixtures__/ui-browser.js'

const SHOTS = join(process.cwd(), 'test-artifacts', 'ui')
const TOKEN_KEY = "sessionStorage.getItem('larder.token')"

describeWithService('web UI sign-in with OIDC (larder ui, auth oidc)', chromiumUnavailable(), () => {
  let idp: TestIdp
  let repo: AppliedRepo
  let ui: UiProcess
  let browser: Awaited<ReturnType<typeof launchChromium>>
  let page: Page

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true })
    idp = await TestIdp.start()
    repo = await appliedRepo()
    appendFileSync(
      join(repo.dir, 'feature_store.yaml'),
      [
        'auth:',
        '  type: oidc',
        `  auth_discovery_url: ${idp.discoveryUrl}`,
        '  client_id: larder',
        '  ui_client_id: larder-ui',
        '  clock_tolerance_seconds: 0',
        '',
      ].join('\n'),
    )
    ui = await startUi(repo.dir, { timeoutMs: 90_000 })
    browser = await launchChromium()
    page = await browser.context.newPage()
    page.setDefaultTimeout(30_000)
  }, 240_000)
  afterAll(async () => {
    await browser?.close()
    await ui?.stop()
    repo?.remove()
    await idp?.close()
  })

  it('tells the UI the public settings only', async () => {
    const res = await fetch(`${ui.url}/ui-auth.json`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({
      type: 'oidc',
      oidc: { discovery_url: idp.discoveryUrl, client_id: 'larder-ui', scope: 'openid' },
    })
    expect((await fetch(`${ui.url}/api/v1/projects`)).status).toBe(401)
  })

  it('signs in through the provider with PKCE and loads the pages with the token', async () => {
    await page.goto(`${ui.url}/p/${repo.project}`)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { name: `Overview of ${repo.project}` }).waitFor()
    expect(page.url()).toBe(`${ui.url}/p/${repo.project}`)
    const query = idp.authorizations.at(-1)!
    expect(Object.fromEntries(query)).toMatchObject({
      response_type: 'code',
      client_id: 'larder-ui',
      redirect_uri: `${ui.url}/`,
      scope: 'openid',
      code_challenge_method: 'S256',
    })
    expect(query.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(idp.exchanges).toEqual([{ accepted: true }])
    const token = (await page.evaluate(TOKEN_KEY)) as string
    const served = await fetch(`${ui.url}/api/v1/projects`, { headers: { authorization: `Bearer ${token}` } })
    expect(served.status).toBe(200)
    // the round trip's secrets are gone once it is over
    expect(await page.evaluate("sessionStorage.getItem('larder.oidc.pending')")).toBeNull()
    await page.getByRole('link', { name: 'Feature views' }).first().click()
    await page.getByText('driver_hourly_stats').first().waitFor()
    await page.screenshot({ path: join(SHOTS, 'oidc-signed-in.png'), fullPage: true })
  })

  it('signs out, then refuses a forged state without asking for a token', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByRole('button', { name: 'Sign in' }).waitFor()
    expect(await page.evaluate(TOKEN_KEY)).toBeNull()
    idp.codeFlow.tamperState = true
    const exchanges = idp.exchanges.length
    try {
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page
        .getByText(
          'Sign-in failed: the answer of the identity provider carries a state this tab did not send (a forged or replayed sign-in); nothing was signed in. Sign in again.',
        )
        .waitFor()
    } finally {
      idp.codeFlow.tamperState = false
    }
    expect(idp.exchanges.length).toBe(exchanges)
    expect(await page.evaluate(TOKEN_KEY)).toBeNull()
    expect(page.url()).not.toContain('code=')
    await page.screenshot({ path: join(SHOTS, 'oidc-forged-state.png'), fullPage: true })
  })

  it('shows the provider refusing a substituted code verifier', async () => {
    await page.route(idp.tokenEndpoint, async (route) => {
      const form = new URLSearchParams(route.request().postData() ?? '')
      form.set('code_verifier', 'a'.repeat(43))
      await route.continue({ postData: form.toString() })
    })
    try {
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page
        .getByText(
          'Sign-in failed: the identity provider did not exchange the code for a token: PKCE verification failed: the code_verifier does not match the code_challenge',
        )
        .waitFor()
    } finally {
      await page.unroute(idp.tokenEndpoint)
    }
    expect(idp.exchanges.at(-1)).toEqual({
      accepted: false,
      reason: 'PKCE verification failed: the code_verifier does not match the code_challenge',
    })
    expect(await page.evaluate(TOKEN_KEY)).toBeNull()
  })

  it('sends the user to sign in again once the token has expired', async () => {
    const acceptedBefore = idp.exchanges.filter((e) => e.accepted).length
    idp.codeFlow.expiresIn = 8
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForFunction(`${TOKEN_KEY} !== null`)
    const first = (await page.evaluate(TOKEN_KEY)) as string
    idp.codeFlow.expiresIn = 300
    // wait until the server refuses the first token as expired (no clock tolerance)
    for (;;) {
      const res = await fetch(`${ui.url}/api/v1/projects`, { headers: { authorization: `Bearer ${first}` } })
      if (res.status === 401) {
        expect(((await res.json()) as { details: { reason: string } }).details.reason).toBe('expired')
        break
      }
      await new Promise((r) => setTimeout(r, 250))
    }
    await page.reload()
    await page.waitForFunction(`${TOKEN_KEY} !== null && ${TOKEN_KEY} !== ${JSON.stringify(first)}`)
    // back on the page the sign-in started from (the feature views), its data loaded
    expect(page.url()).toBe(`${ui.url}/p/${repo.project}/feature-views`)
    await page.getByText('driver_hourly_stats').first().waitFor()
    // the first sign-in and at least one renewal, without the user clicking again
    expect(idp.exchanges.filter((e) => e.accepted).length).toBeGreaterThanOrEqual(acceptedBefore + 2)
  })
})
