import { Alert, Button, Group, PasswordInput, Stack, Text } from '@mantine/core'
import { useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useState } from 'react'
import type { ApiError } from '../api'
import { getToken, setToken } from '../auth'

/**
 * The server asks for a token: a form to paste one (an access token of the identity provider, or a
 * static service token). It is kept for this tab only; every query is asked again with it.
 */
export function TokenForm({ error }: { error: ApiError }) {
  const queryClient = useQueryClient()
  const [value, setValue] = useState('')
  const hadToken = getToken() !== null
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
          <Text size="sm">
            {hadToken
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

/** Forgets the tab's token; the next call is asked without one (and the form shows again). */
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
      Forget token
    </Button>
  )
}
