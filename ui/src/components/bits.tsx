import { Badge, Group, Table, Text } from '@mantine/core'
import { Fragment, type ReactNode } from 'react'
import type { Tags } from '../api'
import { userTags } from '../model'
import { Link } from '../router'

export function TagList({ tags }: { tags: Tags | undefined }) {
  const list = userTags(tags)
  if (list.length === 0) return <Text c="dimmed">—</Text>
  return (
    <Group gap={4}>
      {list.map(([k, v]) => (
        <Badge
          key={k}
          variant="light"
          color="gray"
          tt="none"
          maw="none"
          styles={{ label: { overflow: 'visible' } }}
        >
          {k}={v}
        </Badge>
      ))}
    </Group>
  )
}

/** A two-column table of labelled values. */
export function Facts({ rows }: { rows: [string, ReactNode][] }) {
  return (
    <Table withRowBorders={false} verticalSpacing={4} layout="fixed">
      <Table.Tbody>
        {rows.map(([k, v]) => (
          <Table.Tr key={k}>
            <Table.Th w={180} fw={500} c="dimmed">
              {k}
            </Table.Th>
            <Table.Td style={{ overflowWrap: 'anywhere' }}>{v}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  )
}

export function LinkList({ items }: { items: { name: string; to: string }[] }) {
  if (items.length === 0) return <Text c="dimmed">none</Text>
  return (
    <Group gap={8}>
      {items.map((i) => (
        <Link key={i.to} to={i.to} className="chip-link">
          {i.name}
        </Link>
      ))}
    </Group>
  )
}

/**
 * A snake_case name that a narrow column wraps after its underscores, never inside a word: the full
 * name stays in the text (and in `title` for a name that is cut).
 */
export function Name({ children }: { children: string }) {
  const parts = children.split(/(?<=_)/)
  return (
    <span className="name" title={children}>
      {parts.map((part, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: the parts of one fixed string
        <Fragment key={i}>
          {part}
          {i < parts.length - 1 && <wbr />}
        </Fragment>
      ))}
    </span>
  )
}
