// The bearer token the UI sends when the server asks for one (auth type oidc or static). It is kept in
// the tab's sessionStorage: gone when the tab closes, never written to localStorage or a cookie.
import { useSyncExternalStore } from 'react'

const KEY = 'larder.token'
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
export function setToken(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(KEY)
    else sessionStorage.setItem(KEY, token)
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
