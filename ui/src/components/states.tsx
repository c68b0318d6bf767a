import { Alert, Button, Center, Code, Group, Loader, Stack, Text, Title } from '@mantine/core'
import type { ReactNode } from 'react'
import { ApiError, needsToken, ServerDownError } from '../api'
import { TokenForm } from './token-form'

export function Loading({ what }: { what: string }) {
  return (
    <Center h={240} role="status" aria-live="polite">
      <Group gap="sm">
        <Loader size="sm" />
        <Text c="dimmed">Loading {what}…</Text>
      </Group>
    </Center>
  )
}

/** An error with what to do about it: start the server, apply the repo, check the name, or give a token. */
export function ErrorState({ error, retry }: { error: unknown; retry?: () => void }) {
  if (needsToken(error)) return <TokenForm error={error} />
  let title = 'Something went wrong'
  let body: ReactNode = error instanceof Error ? error.message : String(error)
  if (error instanceof ServerDownError) {
    title = 'The Larder server is not answering'
    body = (
      <>
        <Text size="sm">
          Start it in your feature repository with <Code>larder ui</Code> (or <Code>larder serve</Code>), then
          retry.
        </Text>
        <Text size="xs" c="dimmed">
          {error.message}
        </Text>
      </>
    )
  } else if (error instanceof ApiError) {
    title = error.status === 404 ? 'Not found' : `The server answered ${error.status}`
    body = (
      <>
        <Text size="sm">{error.message}</Text>
        {error.hint && (
          <Text size="sm" c="dimmed">
            {error.hint}
          </Text>
        )}
      </>
    )
  }
  return (
    <Alert color="red" title={title} role="alert" my="md">
      <Stack gap="xs">
        {typeof body === 'string' ? <Text size="sm">{body}</Text> : body}
        {retry && (
          <Group>
            <Button size="xs" variant="light" color="red" onClick={retry}>
              Retry
            </Button>
          </Group>
        )}
      </Stack>
    </Alert>
  )
}

/** Nothing to show yet, and the command that changes that. */
export function Empty({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Stack align="center" gap={6} py="xl">
      <Title order={4} c="dimmed">
        {title}
      </Title>
      <Text size="sm" c="dimmed" ta="center" maw={520}>
        {children}
      </Text>
    </Stack>
  )
}
