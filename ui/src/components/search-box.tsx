import { Badge, Combobox, Group, Kbd, Text, TextInput, useCombobox } from '@mantine/core'
import { useEffect, useMemo, useRef, useState } from 'react'
import type { RegistryData } from '../api'
import { KIND_LABEL, type SearchItem, search, searchIndex } from '../model'
import { navigate } from '../router'

const KIND_COLOR: Record<SearchItem['kind'], string> = {
  featureView: 'blue',
  onDemandFeatureView: 'grape',
  entity: 'orange',
  dataSource: 'teal',
  featureService: 'indigo',
  savedDataset: 'cyan',
  feature: 'gray',
  tag: 'yellow',
}

function kindLabel(kind: SearchItem['kind']): string {
  return kind === 'feature' ? 'Feature' : kind === 'tag' ? 'Tag' : KIND_LABEL[kind]
}

/** Search over objects, features and tags; `/` focuses it from anywhere, Enter opens the first match. */
export function SearchBox({ data }: { data: RegistryData | undefined }) {
  const [query, setQuery] = useState('')
  const input = useRef<HTMLInputElement>(null)
  const combobox = useCombobox({ onDropdownClose: () => combobox.resetSelectedOption() })
  const index = useMemo(() => (data ? searchIndex(data) : []), [data])
  const results = useMemo(() => search(index, query), [index, query])

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return
      const t = e.target as HTMLElement | null
      if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return
      e.preventDefault()
      input.current?.focus()
      input.current?.select()
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [])

  useEffect(() => {
    if (results.length > 0) combobox.selectFirstOption()
  }, [results, combobox.selectFirstOption])

  const open = (id: string) => {
    const item = results.find((r) => r.id === id)
    if (!item) return
    setQuery('')
    combobox.closeDropdown()
    input.current?.blur()
    navigate(item.href)
  }

  return (
    <Combobox store={combobox} onOptionSubmit={open} withinPortal position="bottom-end">
      <Combobox.Target>
        <TextInput
          ref={input}
          w={{ base: 220, md: 340 }}
          placeholder="Search views, features, tags…"
          aria-label="Search views, features, entities, sources, services and tags"
          value={query}
          disabled={!data}
          rightSection={<Kbd size="xs">/</Kbd>}
          onChange={(e) => {
            setQuery(e.currentTarget.value)
            combobox.openDropdown()
          }}
          onFocus={() => combobox.openDropdown()}
          onBlur={() => combobox.closeDropdown()}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && combobox.getSelectedOptionIndex() < 0 && results[0]) {
              e.preventDefault()
              open(results[0].id)
            } else if (e.key === 'Escape') {
              setQuery('')
              input.current?.blur()
            }
          }}
        />
      </Combobox.Target>
      <Combobox.Dropdown hidden={query.trim() === ''} miw={420}>
        <Combobox.Options mah={420} style={{ overflowY: 'auto' }} aria-label="Search results">
          {results.length === 0 ? (
            <Combobox.Empty>Nothing matches “{query}”</Combobox.Empty>
          ) : (
            results.map((r) => (
              <Combobox.Option value={r.id} key={r.id}>
                <Group gap="xs" wrap="nowrap">
                  <Badge size="xs" variant="light" color={KIND_COLOR[r.kind]} miw={92}>
                    {kindLabel(r.kind)}
                  </Badge>
                  <div style={{ minWidth: 0 }}>
                    <Text size="sm" fw={500} truncate>
                      {r.label}
                    </Text>
                    <Text size="xs" c="dimmed" truncate>
                      {r.description}
                    </Text>
                  </div>
                </Group>
              </Combobox.Option>
            ))
          )}
        </Combobox.Options>
      </Combobox.Dropdown>
    </Combobox>
  )
}
