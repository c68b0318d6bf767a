/** Seconds from a proto3 JSON Duration (`"86400s"`, `"1.5s"`); 0 when absent. */
export function durationSeconds(d: unknown): number {
  if (typeof d !== 'string') return 0
  const n = Number.parseFloat(d)
  return Number.isFinite(n) ? n : 0
}

/** A duration for people: `1d`, `2h 30m`, `45s`; `none` for 0. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined) return '—'
  if (seconds <= 0) return 'none'
  const units: [string, number][] = [
    ['w', 604800],
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ]
  const parts: string[] = []
  let rest = Math.round(seconds)
  for (const [u, size] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${u}`)
      rest %= size
    }
    if (parts.length === 2) break
  }
  return parts.join(' ') || '0s'
}

/** An age such as `3m` or `2d 4h`, from milliseconds. */
export function formatAge(ms: number): string {
  if (ms < 1000) return '0s'
  return formatDuration(ms / 1000)
}

/** Milliseconds since the epoch from an RFC 3339 string; undefined when absent or invalid. */
export function parseTime(t: unknown): number | undefined {
  if (typeof t !== 'string') return undefined
  const ms = Date.parse(t)
  return Number.isNaN(ms) ? undefined : ms
}

/** A UTC time, shortened: `2026-11-22 14:00:00Z`. */
export function formatTime(ms: number | undefined): string {
  if (ms === undefined) return '—'
  return new Date(ms).toISOString().replace('T', ' ').replace('.000Z', 'Z')
}

/** A run's duration for people: `850 ms` below a second, else as {@link formatDuration}. */
export function formatMillis(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : formatDuration(ms / 1000)
}
