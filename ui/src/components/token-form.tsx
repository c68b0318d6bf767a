import { Alert, Button, Divider, Group, PasswordInput, Stack, Text } from '@mantine/core'
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useEffect, useState } from 'react'
import type { ApiError } from '../api'
import {
  type AuthSettings,
  fetchAuthSettings,
  getToken,
  lastSignInError,
  setToken,
  signedInTokenExpired,
  signIn,
  tokenOrigin,
} from '../auth'

/** Whether this page already went to renew an expired signed-in token. */
let renewing = false

/**
 * The server asks for a token. With auth type oidc, "Sign in" runs the identity provider's login (an
 * expired signed-in token is renewed that way at once); in any case a form takes a pasted token (a
 * static service token, or an access token). The token is kept for this tab only; every query is
 * asked again with it.
 */
export function TokenForm({ error }: { error: ApiError }) {
  const queryClient = useQueryClient()
  const [value, setValue] = useState('')
  const hadToken = getToken() !== null
  const settings = useQuery({ queryKey: ['ui-auth'], queryFn: fetchAuthSettings, staleTime: Infinity })
  const oidc = settings.data?.oidc
  const [failure, setFailure] = useState<string | null>(lastSignInError())
  const start = (config: NonNullable<AuthSettings['oidc']>) =>
    signIn(config).catch((e: unknown) => setFailure(e instanceof Error ? e.message : String(e)))
  const expired = signedInTokenExpired()
  useEffect(() => {
    // once per page: React's strict mode runs effects twice, and two sign-ins would race
    if (!oidc || !expired || renewing) return
    renewing = true
    signIn(oidc).catch((e: unknown) => setFailure(e instanceof Error ? e.message : String(e)))
  }, [oidc, expired])
  const submit = (e: FormEvent) => {
    e.preventDefault()
    const token = value.trim()
    if (token === '') return
    setToken(token)
    void queryClient.invalidateQueries()
  }
  return (
    <Alert color="yellow" title="This server asks for a token" role="alert" my="md" maw={640}>
      <form onSubmit={submit} aria-label="Sign in with a token">
        <Stack gap="xs">
          {oidc && (
            <>
              {failure !== null && (
                <Text size="sm" c="red" role="status">
                  Sign-in failed: {failure}
                </Text>
              )}
              {expired && <Text size="sm">Your session has expired; signing in again…</Text>}
              <Group>
                <Button size="xs" onClick={() => void start(oidc)}>
                  Sign in
                </Button>
                <Text size="xs" c="dimmed">
                  with your identity provider
                </Text>
              </Group>
              <Divider label="or" labelPosition="left" />
            </>
          )}
          <Text size="sm">
            {hadToken && !expired
              ? `The token was refused: ${error.message}`
              : 'Paste a bearer token to browse this repository.'}
          </Text>
          <Text size="xs" c="dimmed">
            An access token of your identity provider (OIDC), or a static service token. It is kept for this
            browser tab only.
          </Text>
          <PasswordInput
            label="Access token"
            value={value}
            onChange={(e) => setValue(e.currentTarget.value)}
            autoComplete="off"
            data-autofocus
          />
          <Group>
            <Button type="submit" size="xs" disabled={value.trim() === ''}>
              Use this token
            </Button>
          </Group>
        </Stack>
      </form>
    </Alert>
  )
}

/** Forgets the tab's token ("Sign out" after signing in); the next call is asked without one (and the form shows again). */
export function SignOutButton() {
  const queryClient = useQueryClient()
  return (
    <Button
      size="xs"
      variant="default"
      onClick={() => {
        setToken(null)
        void queryClient.invalidateQueries()
      }}
    >
      {tokenOrigin().signedIn ? 'Sign out' : 'Forget token'}
    </Button>
  )
}
