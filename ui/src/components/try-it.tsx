import { Alert, Badge, Button, Group, Stack, Table, Text, TextInput } from '@mantine/core'
import { useMutation } from '@tanstack/react-query'
import { type FormEvent, useState } from 'react'
import { type FeatureJson, getOnlineFeatures, type OnlineResponse } from '../api'
import { formatAge, parseTime } from '../format'
import { ErrorState } from './states'

const NUMERIC = new Set(['INT32', 'INT64', 'FLOAT', 'DOUBLE', 'UNIX_TIMESTAMP'])

const STATUS_COLOR: Record<string, string> = {
  PRESENT: 'teal',
  NULL_VALUE: 'yellow',
  NOT_FOUND: 'gray',
  OUTSIDE_MAX_AGE: 'red',
}

/** A value typed into a key field, as the JSON the server expects for the key's type. */
function keyValue(text: string, valueType: string | undefined): unknown {
  const t = text.trim()
  if (valueType && NUMERIC.has(valueType) && t !== '' && !Number.isNaN(Number(t))) return Number(t)
  return t
}

function show(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  return typeof value === 'string' ? value : JSON.stringify(value)
}

/** The comma-separated values typed into a field, as JSON values of its type. */
function values(text: string | undefined, field: FeatureJson): unknown[] {
  return (text ?? '')
    .split(',')
    .filter((s) => s.trim() !== '')
    .map((s) => keyValue(s, field.valueType))
}

/**
 * Fetches features online (`POST /get-online-features`) for entity keys the user types, several
 * keys separated by commas, and shows value, status and age per feature and key. `requestFields`
 * (what the on-demand views read from the request) are asked for too and sent in the `entities` map,
 * as Feast's feature server takes them; one value typed there is sent for every key.
 */
export function TryIt({
  joinKeys,
  requestFields = [],
  features,
  featureService,
  label,
}: {
  joinKeys: FeatureJson[]
  requestFields?: FeatureJson[]
  features?: string[]
  featureService?: string
  label: string
}) {
  const [keys, setKeys] = useState<Record<string, string>>({})
  const run = useMutation({
    mutationFn: () => {
      const entities: Record<string, unknown[]> = {}
      for (const k of joinKeys) entities[k.name] = values(keys[k.name], k)
      const rows = Math.max(1, ...Object.values(entities).map((v) => v.length))
      for (const f of requestFields) {
        const typed = values(keys[f.name], f)
        entities[f.name] = typed.length === 1 ? Array.from({ length: rows }, () => typed[0]) : typed
      }
      return getOnlineFeatures(
        featureService ? { feature_service: featureService, entities } : { features, entities },
      )
    },
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    run.mutate()
  }
  const ready = [...joinKeys, ...requestFields].every((k) => (keys[k.name] ?? '').trim() !== '')
  return (
    <Stack gap="sm">
      <form onSubmit={submit} aria-label={`Try ${label} online`}>
        <Group align="flex-end">
          {joinKeys.map((k) => (
            <TextInput
              key={k.name}
              label={k.name}
              description={k.valueType ? `${k.valueType}; several keys: 1001, 1002` : 'several keys: a, b'}
              placeholder={k.valueType && NUMERIC.has(k.valueType) ? 'e.g. 1001' : 'a key'}
              value={keys[k.name] ?? ''}
              onChange={(e) => {
                const value = e.currentTarget.value
                setKeys((old) => ({ ...old, [k.name]: value }))
              }}
            />
          ))}
          {requestFields.map((f) => (
            <TextInput
              key={f.name}
              label={f.name}
              description={`request field${f.valueType ? `, ${f.valueType}` : ''}; one value for every key`}
              placeholder={f.valueType && NUMERIC.has(f.valueType) ? 'e.g. 10' : 'a value'}
              value={keys[f.name] ?? ''}
              data-request-field={f.name}
              onChange={(e) => {
                const value = e.currentTarget.value
                setKeys((old) => ({ ...old, [f.name]: value }))
              }}
            />
          ))}
          <Button type="submit" loading={run.isPending} disabled={!ready}>
            Fetch online
          </Button>
        </Group>
      </form>
      {joinKeys.length === 0 && <Alert color="gray">This view has no entity: it is read with no key.</Alert>}
      {run.isError && <ErrorState error={run.error} />}
      {run.data && <OnlineResult response={run.data} keyCount={joinKeys.length} />}
    </Stack>
  )
}

/** The columnar answer as one row per key and feature; the first `keyCount` columns are the join keys. */
export function OnlineResult({ response, keyCount }: { response: OnlineResponse; keyCount: number }) {
  const names = response.metadata.feature_names
  const rows = response.results[0]?.values.length ?? 0
  const now = Date.now()
  const keyIndex = new Set(Array.from({ length: keyCount }, (_, i) => i))
  return (
    <Table aria-label="Online values" striped>
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Key</Table.Th>
          <Table.Th>Feature</Table.Th>
          <Table.Th>Value</Table.Th>
          <Table.Th>Status</Table.Th>
          <Table.Th>Age</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {Array.from({ length: rows }, (_, row) =>
          response.results.map((col, i) => {
            if (keyIndex.has(i)) return null
            const status = col.statuses[row] ?? ''
            const ts = parseTime(col.event_timestamps[row])
            const key = [...keyIndex].map((k) => show(response.results[k]?.values[row])).join(', ')
            return (
              // biome-ignore lint/suspicious/noArrayIndexKey: a response row's position is its identity (keys may repeat)
              <Table.Tr key={`${row}:${names[i]}`}>
                <Table.Td>{key}</Table.Td>
                <Table.Td>{names[i]}</Table.Td>
                <Table.Td>
                  <Text ff="monospace" size="sm">
                    {show(col.values[row])}
                  </Text>
                </Table.Td>
                <Table.Td>
                  <Badge color={STATUS_COLOR[status] ?? 'gray'} variant="light">
                    {status}
                  </Badge>
                </Table.Td>
                <Table.Td>{ts && ts > 0 && status === 'PRESENT' ? formatAge(now - ts) : '—'}</Table.Td>
              </Table.Tr>
            )
          }),
        )}
      </Table.Tbody>
    </Table>
  )
}
