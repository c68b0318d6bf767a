import { Badge, Group, Stack, Text, TextInput, Title, useComputedColorScheme } from '@mantine/core'
import {
  Background,
  Controls,
  type Edge,
  Handle,
  MiniMap,
  type Node,
  type NodeProps,
  Position,
  ReactFlow,
} from '@xyflow/react'
import { useMemo, useState } from 'react'
import type { RegistryData } from '../api'
import { Empty } from '../components/states'
import { href, KIND_LABEL, type LineageEdge, type LineageNode, lineage, type ObjectKind } from '../model'
import { Link, navigate } from '../router'

const NODE_W = 190
const NODE_H = 44
const GAP_Y = 14
const GAP_X = 140
/** The smallest zoom of the default fit: a node's name stays readable (about 10 px text). */
const READABLE_ZOOM = 0.75
/** Rows of nodes the default fit shows when the whole graph would need a smaller zoom than readable. */
const FIRST_SCREEN_ROWS = 12
/** Above this many nodes, only the nodes and links in view are rendered. */
const RENDER_ALL_UP_TO = 400

const COLOR: Record<ObjectKind, string> = {
  entity: 'var(--mantine-color-orange-6)',
  dataSource: 'var(--mantine-color-teal-6)',
  featureView: 'var(--mantine-color-blue-6)',
  onDemandFeatureView: 'var(--mantine-color-grape-6)',
  featureService: 'var(--mantine-color-indigo-6)',
  savedDataset: 'var(--mantine-color-cyan-6)',
}

type ObjectNode = Node<{ node: LineageNode; to: string }, 'object'>

function ObjectNodeView({ data }: NodeProps<ObjectNode>) {
  const { node, to } = data
  return (
    <Link
      to={to}
      className="lineage-node"
      style={{
        display: 'block',
        borderLeft: `4px solid ${COLOR[node.kind]}`,
        color: 'inherit',
        textDecoration: 'none',
      }}
      title={`${KIND_LABEL[node.kind]} ${node.name}`}
      data-kind={node.kind}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <div className="kind">{KIND_LABEL[node.kind]}</div>
      <div>{node.name}</div>
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </Link>
  )
}

const nodeTypes = { object: ObjectNodeView }

/**
 * A layered layout: one column per layer (sources and entities | views and request sources |
 * on-demand views | services), so a link only ever runs between neighbouring columns, never through
 * another column's handles. Nodes are ordered by the mean position of their upstream neighbours to cut
 * crossings; every column starts at the top, so the first screenful shows the start of each.
 */
export function layout(nodes: LineageNode[], edges: LineageEdge[]): Map<string, { x: number; y: number }> {
  const preds = new Map<string, string[]>()
  for (const e of edges) preds.set(e.target, [...(preds.get(e.target) ?? []), e.source])
  const layers = new Map<number, LineageNode[]>()
  for (const n of nodes) layers.set(n.layer, [...(layers.get(n.layer) ?? []), n])
  const order = new Map<string, number>()
  const positions = new Map<string, { x: number; y: number }>()
  let x = 0
  for (const layer of [...layers.keys()].sort((a, b) => a - b)) {
    const list = layers.get(layer)!
    const rank = (n: LineageNode): number => {
      const ps = (preds.get(n.id) ?? []).map((p) => order.get(p)).filter((v): v is number => v !== undefined)
      return ps.length === 0 ? Number.POSITIVE_INFINITY : ps.reduce((a, b) => a + b, 0) / ps.length
    }
    const ranks = new Map(list.map((n) => [n.id, rank(n)]))
    list.sort(
      (a, b) =>
        ranks.get(a.id)! - ranks.get(b.id)! || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name),
    )
    list.forEach((n, i) => {
      order.set(n.id, i / Math.max(1, list.length - 1))
      positions.set(n.id, { x, y: i * (NODE_H + GAP_Y) })
    })
    x += NODE_W + GAP_X
  }
  return positions
}

/** The nodes the default fit frames: all of them, or the first rows of every column when there are many. */
function firstScreen(
  ids: readonly string[],
  positions: Map<string, { x: number; y: number }>,
): { id: string }[] {
  const limit = FIRST_SCREEN_ROWS * (NODE_H + GAP_Y)
  return ids.filter((id) => (positions.get(id)?.y ?? 0) < limit).map((id) => ({ id }))
}

export default function LineagePage({ data }: { data: RegistryData }) {
  const scheme = useComputedColorScheme('light')
  const graph = useMemo(() => lineage(data), [data])
  const [hovered, setHovered] = useState<string>()
  const [filter, setFilter] = useState('')
  const neighbours = useMemo(() => {
    const out = new Map<string, Set<string>>()
    for (const e of graph.edges) {
      out.set(e.source, (out.get(e.source) ?? new Set()).add(e.target))
      out.set(e.target, (out.get(e.target) ?? new Set()).add(e.source))
    }
    return out
  }, [graph])
  const visible = useMemo(() => {
    const words = filter.toLowerCase().split(/\s+/).filter(Boolean)
    if (words.length === 0) return undefined
    const keep = new Set<string>()
    for (const n of graph.nodes) {
      if (!words.every((w) => n.name.toLowerCase().includes(w))) continue
      keep.add(n.id)
      for (const m of neighbours.get(n.id) ?? []) keep.add(m)
    }
    return keep
  }, [filter, graph, neighbours])
  // a filtered graph is laid out anew, so what is left stands together and the fit frames it
  const positions = useMemo(
    () =>
      visible
        ? layout(
            graph.nodes.filter((n) => visible.has(n.id)),
            graph.edges.filter((e) => visible.has(e.source) && visible.has(e.target)),
          )
        : layout(graph.nodes, graph.edges),
    [graph, visible],
  )
  const lit = useMemo(() => {
    if (!hovered) return undefined
    return new Set([hovered, ...(neighbours.get(hovered) ?? [])])
  }, [hovered, neighbours])

  const nodes = useMemo<ObjectNode[]>(
    () =>
      graph.nodes
        .filter((n) => !visible || visible.has(n.id))
        .map((n) => ({
          id: n.id,
          type: 'object',
          position: positions.get(n.id)!,
          data: { node: n, to: href(data.project, n.kind, n.name) },
          className: lit && !lit.has(n.id) ? 'dim' : undefined,
          width: NODE_W,
          height: NODE_H,
        })),
    [graph, positions, visible, lit, data.project],
  )
  const edges = useMemo<Edge[]>(
    () =>
      graph.edges
        .filter((e) => !visible || (visible.has(e.source) && visible.has(e.target)))
        .map((e) => {
          const hot = hovered !== undefined && (e.source === hovered || e.target === hovered)
          return {
            id: e.id,
            source: e.source,
            target: e.target,
            className: hovered ? (hot ? 'hot' : 'dim') : undefined,
            ariaLabel: `${e.source.split(':').slice(1).join(':')} to ${e.target.split(':').slice(1).join(':')}`,
          }
        }),
    [graph, visible, hovered],
  )
  const byId = useMemo(() => new Map(graph.nodes.map((n) => [n.id, n])), [graph])

  if (graph.nodes.length === 0) {
    return (
      <Empty title="Nothing to draw yet">
        The lineage graph links data sources and entities to feature views, on-demand views and feature
        services. Run <code>larder apply</code> to register some.
      </Empty>
    )
  }
  return (
    <Stack gap="xs" h="calc(100vh - 56px - 2 * var(--mantine-spacing-md))">
      <Group justify="space-between">
        <Title order={2}>Lineage</Title>
        <Group gap="xs">
          {(
            ['dataSource', 'entity', 'featureView', 'onDemandFeatureView', 'featureService'] as ObjectKind[]
          ).map((k) => (
            <Badge key={k} variant="dot" color={COLOR[k]} tt="none">
              {KIND_LABEL[k]}
            </Badge>
          ))}
        </Group>
        <TextInput
          placeholder="Focus on a name…"
          aria-label="Show only nodes whose name matches, with their neighbours"
          value={filter}
          onChange={(e) => setFilter(e.currentTarget.value)}
          w={240}
        />
      </Group>
      <Text size="xs" c="dimmed">
        {graph.nodes.length} objects, {graph.edges.length} links. Hover a node to light up its neighbours;
        click a node or a link to open it. Tab moves through the nodes.
      </Text>
      <div
        style={{
          flex: 1,
          minHeight: 400,
          border: '1px solid var(--mantine-color-default-border)',
          borderRadius: 4,
        }}
      >
        <ReactFlow
          // a new filter remounts the graph, so it is fitted again to what is shown
          key={filter.trim().toLowerCase()}
          nodes={nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          colorMode={scheme}
          fitView
          fitViewOptions={{
            minZoom: READABLE_ZOOM,
            maxZoom: 1.25,
            // the whole graph when filtered (what is left is small), else its first screenful
            nodes: visible
              ? undefined
              : firstScreen(
                  nodes.map((n) => n.id),
                  positions,
                ),
          }}
          minZoom={0.05}
          nodesDraggable={false}
          nodesConnectable={false}
          nodesFocusable={false}
          edgesFocusable={false}
          onlyRenderVisibleElements={nodes.length > RENDER_ALL_UP_TO}
          onNodeMouseEnter={(_, n) => setHovered(n.id)}
          onNodeMouseLeave={() => setHovered(undefined)}
          onEdgeClick={(_, e) => {
            const target = byId.get(e.target)
            if (target) navigate(href(data.project, target.kind, target.name))
          }}
          proOptions={{ hideAttribution: true }}
        >
          <Background />
          <Controls showInteractive={false} />
          {graph.nodes.length <= 400 && <MiniMap pannable zoomable />}
        </ReactFlow>
      </div>
    </Stack>
  )
}
