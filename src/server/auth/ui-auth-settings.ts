import type { AuthConfig } from '../../config/index.js'

/** Where `larder ui` answers `uiAuthSettings`: a public GET beside the UI's files. */
export const UI_AUTH_PATH = '/ui-auth.json'

/** What the web UI learns of the server's authentication: public facts only, never a secret. */
export interface UiAuthSettings {
  readonly type: AuthConfig['type']
  /** With `oidc`: where the UI signs users in (authorization code + PKCE, as a public client). */
  readonly oidc?: { readonly discovery_url: string; readonly client_id: string; readonly scope: string }
}

/**
 * The public part of the `auth:` block for the web UI: its type and, with `oidc` and a discovery
 * document, the client the browser signs in as (`ui_client_id`, Feast's key for the UI, else
 * `client_id`) with the scope `openid`. Without a discovery URL or a client id the UI offers only the
 * pasted-token form.
 *
 * @example server.app.get(UI_AUTH_PATH, (c) => c.json(uiAuthSettings(config.auth)))
 */
export function uiAuthSettings(auth: AuthConfig): UiAuthSettings {
  const clientId = auth.oidc?.uiClientId ?? auth.oidc?.clientId
  const discoveryUrl = auth.oidc?.discoveryUrl
  if (clientId === undefined || discoveryUrl === undefined) return { type: auth.type }
  return { type: auth.type, oidc: { discovery_url: discoveryUrl, client_id: clientId, scope: 'openid' } }
}
