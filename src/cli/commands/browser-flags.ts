import { InvalidArgumentError, Option } from 'commander'
import { type BrowserAccessConfig, normalizeHostPattern, normalizeOrigin } from '../../config/index.js'
import type { RequestGuardOptions } from '../../server/index.js'

/** The options `allowedHostOption` and `allowedOriginOption` add, as commander parses them. */
export interface BrowserFlags {
  allowedHost?: string[]
  allowedOrigin?: string[]
}

/**
 * `--allowed-host <host>` (repeatable) for an HTTP server command; each value is checked as
 * `feature_server.allowed_hosts` entries are, and adds to them.
 */
export function allowedHostOption(): Option {
  return new Option(
    '--allowed-host <host>',
    'also answer requests for this Host name (repeatable; name, name:port, .domain, or * behind a proxy); adds to feature_server.allowed_hosts',
  ).argParser(collect(normalizeHostPattern))
}

/**
 * `--allowed-origin <origin>` (repeatable) for an HTTP server command; each value is checked as
 * `feature_server.allowed_origins` entries are, and adds to them.
 */
export function allowedOriginOption(): Option {
  return new Option(
    '--allowed-origin <origin>',
    'let web pages of this origin call the server (CORS; repeatable); adds to feature_server.allowed_origins',
  ).argParser(collect(normalizeOrigin))
}

/** The request guards of a server: the repo's `feature_server:` keys plus the flags. */
export function guardOptions(config: BrowserAccessConfig, flags: BrowserFlags): RequestGuardOptions {
  return {
    allowedHosts: [...config.allowedHosts, ...(flags.allowedHost ?? [])],
    allowedOrigins: [...config.allowedOrigins, ...(flags.allowedOrigin ?? [])],
    allowCredentials: config.allowCredentials,
  }
}

function collect(normalize: (text: string) => string) {
  return (value: string, previous: string[] | undefined): string[] => {
    try {
      return [...(previous ?? []), normalize(value)]
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message)
    }
  }
}
