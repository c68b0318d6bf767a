import { Group, Table, Text, TextInput, UnstyledButton } from '@mantine/core'
import {
  type ColumnDef,
  flexRender,
  getCoreRowModel,
  getFilteredRowModel,
  getSortedRowModel,
  type SortingState,
  useReactTable,
} from '@tanstack/react-table'
import { useState } from 'react'

/**
 * A sortable (click or Enter on a header), filterable table. `filterText` gives the text a row is
 * matched against; the filter matches every word.
 */
export function DataTable<T>({
  rows,
  columns,
  label,
  filterText,
  initialSort = [],
  empty,
}: {
  rows: T[]
  columns: ColumnDef<T, unknown>[]
  label: string
  filterText: (row: T) => string
  initialSort?: SortingState
  empty: React.ReactNode
}) {
  const [sorting, setSorting] = useState<SortingState>(initialSort)
  const [filter, setFilter] = useState('')
  const table = useReactTable({
    data: rows,
    columns,
    state: { sorting, globalFilter: filter },
    onSortingChange: setSorting,
    onGlobalFilterChange: setFilter,
    globalFilterFn: (row, _id, value: string) => {
      const text = filterText(row.original).toLowerCase()
      return value
        .toLowerCase()
        .split(/\s+/)
        .filter(Boolean)
        .every((w) => text.includes(w))
    },
    getCoreRowModel: getCoreRowModel(),
    getSortedRowModel: getSortedRowModel(),
    getFilteredRowModel: getFilteredRowModel(),
  })
  if (rows.length === 0) return <>{empty}</>
  const shown = table.getRowModel().rows
  return (
    <>
      <Group justify="space-between" mb="xs">
        <TextInput
          placeholder="Filter…"
          aria-label={`Filter ${label}`}
          value={filter}
          onChange={(e) => setFilter(e.currentTarget.value)}
          w={280}
        />
        <Text size="sm" c="dimmed">
          {shown.length === rows.length ? `${rows.length}` : `${shown.length} of ${rows.length}`}
        </Text>
      </Group>
      <Table.ScrollContainer minWidth={0}>
        <Table striped highlightOnHover aria-label={label} verticalSpacing={6} horizontalSpacing="xs">
          <Table.Thead>
            {table.getHeaderGroups().map((g) => (
              <Table.Tr key={g.id}>
                {g.headers.map((h) => {
                  const sorted = h.column.getIsSorted()
                  return (
                    <Table.Th
                      key={h.id}
                      aria-sort={
                        sorted === 'asc' ? 'ascending' : sorted === 'desc' ? 'descending' : undefined
                      }
                    >
                      {h.column.getCanSort() ? (
                        <UnstyledButton onClick={h.column.getToggleSortingHandler()} fw={600} fz="sm">
                          {flexRender(h.column.columnDef.header, h.getContext())}
                          {sorted === 'asc' ? ' ▲' : sorted === 'desc' ? ' ▼' : ''}
                        </UnstyledButton>
                      ) : (
                        flexRender(h.column.columnDef.header, h.getContext())
                      )}
                    </Table.Th>
                  )
                })}
              </Table.Tr>
            ))}
          </Table.Thead>
          <Table.Tbody>
            {shown.map((r) => (
              <Table.Tr key={r.id}>
                {r.getVisibleCells().map((c) => (
                  <Table.Td
                    key={c.id}
                    style={
                      (c.column.columnDef.meta as { nowrap?: boolean } | undefined)?.nowrap
                        ? { whiteSpace: 'nowrap' }
                        : { overflowWrap: 'break-word' }
                    }
                  >
                    {flexRender(c.column.columnDef.cell, c.getContext())}
                  </Table.Td>
                ))}
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      {shown.length === 0 && (
        <Text c="dimmed" ta="center" py="md">
          No row matches “{filter}”.
        </Text>
      )}
    </>
  )
}
