// A small history-API router: paths are plain URLs, so every page is a deep link that survives a
// reload (the server answers index.html for any path that is not an API route).
import { type AnchorHTMLAttributes, type MouseEvent, type ReactNode, useSyncExternalStore } from 'react'

const listeners = new Set<() => void>()

function subscribe(listener: () => void): () => void {
  listeners.add(listener)
  window.addEventListener('popstate', listener)
  return () => {
    listeners.delete(listener)
    window.removeEventListener('popstate', listener)
  }
}

const snapshot = () => window.location.pathname + window.location.search + window.location.hash

/** The current path, search and hash; re-renders on navigation. */
export function useLocation(): string {
  return useSyncExternalStore(subscribe, snapshot)
}

/** Goes to `to` without reloading; `replace` keeps the history entry count. */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (options.replace) window.history.replaceState(null, '', to)
  else window.history.pushState(null, '', to)
  for (const l of listeners) l()
  if (!to.includes('#')) window.scrollTo(0, 0)
}

/** Matches `/p/:project/x/:name` against a path; the params decoded, or undefined. */
export function match(pattern: string, path: string): Record<string, string> | undefined {
  const p = pattern.split('/').filter(Boolean)
  const s = path.split('/').filter(Boolean)
  if (p.length !== s.length) return undefined
  const params: Record<string, string> = {}
  for (let i = 0; i < p.length; i++) {
    const part = p[i]!
    const seg = s[i]!
    if (part.startsWith(':')) params[part.slice(1)] = decodeURIComponent(seg)
    else if (part !== seg) return undefined
  }
  return params
}

/** Builds a path from segments, encoding each. */
export function path(...segments: string[]): string {
  return `/${segments.map(encodeURIComponent).join('/')}`
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string; children: ReactNode }

/** An anchor that navigates in the app on a plain left click and behaves as a link otherwise. */
export function Link({ to, children, onClick, ...rest }: LinkProps) {
  const click = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e)
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
    e.preventDefault()
    navigate(to)
  }
  return (
    <a href={to} onClick={click} {...rest}>
      {children}
    </a>
  )
}
