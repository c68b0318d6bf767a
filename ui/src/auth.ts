// The bearer token the UI sends when the server asks for one (auth type oidc, static or kubernetes).
// It is kept in the tab's sessionStorage: gone when the tab closes, never written to localStorage or a
// cookie. With auth type oidc, "Sign in" runs the identity provider's authorization-code flow with
// PKCE (RFC 7636) as a public client: the verifier, state and nonce live in sessionStorage only for the
// round trip to the provider.
import { useSyncExternalStore } from 'react'

const KEY = 'larder.token'
/** How the tab's token was obtained ('oidc': by signing in) and when it expires (ms since the epoch). */
const ORIGIN_KEY = 'larder.token.origin'
/** The sign-in under way: what the provider's answer is checked against. */
const PENDING_KEY = 'larder.oidc.pending'
const listeners = new Set<() => void>()

/** The token given in this tab, or null. */
export function getToken(): string | null {
  try {
    return sessionStorage.getItem(KEY)
  } catch {
    return null
  }
}

/** Keeps `token` for this tab (null forgets it) and tells the components that show it. */
export function setToken(token: string | null, origin: TokenOrigin = { signedIn: false }): void {
  try {
    if (token === null) {
      sessionStorage.removeItem(KEY)
      sessionStorage.removeItem(ORIGIN_KEY)
    } else {
      sessionStorage.setItem(KEY, token)
      sessionStorage.setItem(ORIGIN_KEY, JSON.stringify(origin))
    }
  } catch {
    // storage refused (private mode quotas): the token lives until the page reloads
  }
  for (const listener of listeners) listener()
}

/** The current token, re-rendering when it changes. */
export function useToken(): string | null {
  return useSyncExternalStore((listener) => {
    listeners.add(listener)
    return () => listeners.delete(listener)
  }, getToken)
}

/** Whether the tab's token came from signing in (and may be renewed that way), and until when it is valid. */
export interface TokenOrigin {
  readonly signedIn: boolean
  /** Milliseconds since the epoch; absent when the provider did not say. */
  readonly expiresAt?: number
}

/** How the tab's token was obtained; a pasted token when nothing was recorded. */
export function tokenOrigin(): TokenOrigin {
  try {
    const text = sessionStorage.getItem(ORIGIN_KEY)
    return text === null ? { signedIn: false } : (JSON.parse(text) as TokenOrigin)
  } catch {
    return { signedIn: false }
  }
}

/** Whether the tab holds a signed-in token whose expiry has passed: it is renewed by signing in again. */
export function signedInTokenExpired(now = Date.now()): boolean {
  const origin = tokenOrigin()
  return getToken() !== null && origin.signedIn && origin.expiresAt !== undefined && origin.expiresAt <= now
}

/** What the server tells the UI about its authentication (`GET /ui-auth.json`). */
export interface AuthSettings {
  readonly type: string
  /** With `oidc`: the provider's discovery document and the UI's client. */
  readonly oidc?: { readonly discovery_url: string; readonly client_id: string; readonly scope: string }
}

/** The server's authentication settings; `{ type: 'no_auth' }` when the server does not say. */
export async function fetchAuthSettings(): Promise<AuthSettings> {
  try {
    const res = await fetch('/ui-auth.json')
    if (!res.ok) return { type: 'no_auth' }
    return (await res.json()) as AuthSettings
  } catch {
    return { type: 'no_auth' }
  }
}

interface PendingSignIn {
  readonly state: string
  readonly nonce: string
  readonly verifier: string
  readonly tokenEndpoint: string
  readonly clientId: string
  readonly redirectUri: string
  readonly returnTo: string
}

/** Why the last sign-in failed, shown by the token form until the next attempt. */
let signInError: string | null = null

/** The failure of the last sign-in in this page, or null. */
export function lastSignInError(): string | null {
  return signInError
}

function randomText(bytes: number): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)))
}

function base64url(bytes: Uint8Array): string {
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

/**
 * Starts signing in: reads the provider's discovery document, makes a code verifier (43 characters
 * from 32 random bytes) and its S256 challenge, a state and a nonce, keeps them for the return, and
 * sends the tab to the authorization endpoint. The provider sends it back to this page's origin with
 * `?code&state`, where `completeSignIn` finishes. Throws when the discovery document cannot be read.
 */
export async function signIn(oidc: NonNullable<AuthSettings['oidc']>): Promise<void> {
  signInError = null
  const res = await fetch(oidc.discovery_url)
  if (!res.ok) throw new Error(`the identity provider's discovery document answered ${res.status}`)
  const doc = (await res.json()) as { authorization_endpoint?: string; token_endpoint?: string }
  if (!doc.authorization_endpoint || !doc.token_endpoint) {
    throw new Error("the identity provider's discovery document names no authorization or token endpoint")
  }
  const verifier = randomText(32)
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))
  const pending: PendingSignIn = {
    state: randomText(16),
    nonce: randomText(16),
    verifier,
    tokenEndpoint: doc.token_endpoint,
    clientId: oidc.client_id,
    redirectUri: `${location.origin}/`,
    returnTo: `${location.pathname}${location.search}${location.hash}`,
  }
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending))
  const url = new URL(doc.authorization_endpoint)
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: pending.clientId,
    redirect_uri: pending.redirectUri,
    scope: oidc.scope,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: 'S256',
  }).toString()
  location.assign(url.toString())
}

/**
 * Finishes a sign-in when this page is the provider's answer (`?code&state`, or `?error`): checks the
 * state against the one this tab sent, exchanges the code with the verifier at the token endpoint,
 * checks the ID token's nonce when one comes back, and keeps the access token with its expiry. The
 * page's URL is then the one the sign-in started from. A failure is kept for `lastSignInError`,
 * never thrown; a page that is not an answer is left alone.
 */
export async function completeSignIn(): Promise<void> {
  const params = new URLSearchParams(location.search)
  if (!params.has('state') || !(params.has('code') || params.has('error'))) return
  let pending: PendingSignIn | null = null
  try {
    pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? 'null') as PendingSignIn | null
    sessionStorage.removeItem(PENDING_KEY)
  } catch {
    pending = null
  }
  if (pending === null) return
  history.replaceState(null, '', pending.returnTo)
  try {
    if (params.get('state') !== pending.state) {
      throw new Error(
        'the answer of the identity provider carries a state this tab did not send (a forged or replayed sign-in); nothing was signed in. Sign in again.',
      )
    }
    const error = params.get('error')
    if (error !== null) {
      throw new Error(`the identity provider refused: ${params.get('error_description') ?? error}`)
    }
    const res = await fetch(pending.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: params.get('code') ?? '',
        redirect_uri: pending.redirectUri,
        client_id: pending.clientId,
        code_verifier: pending.verifier,
      }),
    })
    const body = (await res.json().catch(() => ({}))) as {
      access_token?: string
      expires_in?: number
      id_token?: string
      error?: string
      error_description?: string
    }
    if (!res.ok || typeof body.access_token !== 'string') {
      throw new Error(
        `the identity provider did not exchange the code for a token: ${body.error_description ?? body.error ?? `${res.status}`}`,
      )
    }
    if (body.id_token !== undefined && jwtClaims(body.id_token)?.nonce !== pending.nonce) {
      throw new Error(
        "the identity provider's ID token carries a nonce this tab did not send; nothing was signed in",
      )
    }
    const exp = jwtClaims(body.access_token)?.exp
    const expiresAt =
      typeof exp === 'number'
        ? exp * 1000
        : typeof body.expires_in === 'number'
          ? Date.now() + body.expires_in * 1000
          : undefined
    setToken(body.access_token, { signedIn: true, ...(expiresAt === undefined ? {} : { expiresAt }) })
  } catch (e) {
    signInError = e instanceof Error ? e.message : String(e)
    for (const listener of listeners) listener()
  }
}

/** The claims of a JWT, unverified (the server verifies tokens; the UI only reads exp and nonce). */
function jwtClaims(token: string): Record<string, unknown> | undefined {
  try {
    const part = token.split('.')[1]!.replaceAll('-', '+').replaceAll('_', '/')
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '='))) as Record<
      string,
      unknown
    >
  } catch {
    return undefined
  }
}
