import { createHash, timingSafeEqual } from 'node:crypto'
import type { StaticTokenEntry } from '../../config/index.js'
import type { Principal } from '../../core/index.js'

/**
 * The server's static service tokens, known by their sha256 only. A presented token is hashed and
 * compared with every entry in constant time per entry, so neither the tokens nor which entry
 * matched leak through timing.
 */
export class StaticTokens {
  readonly #entries: readonly { readonly digest: Buffer; readonly principal: Principal }[]

  constructor(entries: readonly StaticTokenEntry[]) {
    this.#entries = entries.map((e) => ({
      digest: Buffer.from(e.tokenSha256, 'hex'),
      principal: Object.freeze({
        name: e.name,
        roles: e.roles,
        groups: e.groups,
        namespaces: e.namespaces,
        kind: 'token' as const,
      }),
    }))
  }

  /** The principal of the entry whose hash is the token's, or undefined. */
  match(token: string): Principal | undefined {
    const digest = createHash('sha256').update(token, 'utf8').digest()
    let found: Principal | undefined
    for (const entry of this.#entries) {
      if (timingSafeEqual(digest, entry.digest)) found = entry.principal
    }
    return found
  }
}
