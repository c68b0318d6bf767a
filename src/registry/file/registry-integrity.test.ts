import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fromBinary, toBinary } from '@bufbuild/protobuf'
import { afterEach, describe, expect, it } from 'vitest'
import { RegistrySchema } from '../../gen/feast/core/Registry_pb.js'
import { sampleContents } from '../../testing/registry-conformance.js'
import { int, msg, str } from '../__fixtures__/proto-wire.js'
import { applyContents } from '../apply-objects.js'
import { FileRegistry } from './file-registry.js'
import { INTEGRITY_FIELD, openRegistryFile, sealRegistry } from './registry-integrity.js'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

async function writtenRegistry(): Promise<{ registry: FileRegistry; bytes: Buffer }> {
  const dir = mkdtempSync(join(tmpdir(), 'larder-integrity-'))
  dirs.push(dir)
  const registry = new FileRegistry({ path: join(dir, 'registry.db'), cacheTtlSeconds: 0 })
  const state = await registry.load()
  const draft = state.draft()
  applyContents(draft, sampleContents('demo'), 1_700_000_000_000_000)
  await registry.commit(state, draft)
  return { registry, bytes: readFileSync(registry.path) }
}

async function loadError(registry: FileRegistry): Promise<{ code?: string; message: string; hint?: string }> {
  return registry.load({ allowCache: false }).then(
    () => ({ message: 'loaded' }),
    (e) => e,
  )
}

describe("the file registry's integrity header", () => {
  it("is an unknown field to Feast's schema, which decodes every object of Larder's file", async () => {
    const { registry, bytes } = await writtenRegistry()
    const decoded = fromBinary(RegistrySchema, bytes)
    const loaded = (await registry.load({ allowCache: false })).proto
    expect(decoded.$unknown?.map((f) => [f.no, f.wireType])).toEqual([[INTEGRITY_FIELD, 2]])
    expect(decoded.versionId).toBe(loaded.versionId)
    expect(decoded.entities.map((e) => e.spec?.name)).toEqual(['driver'])
    expect(decoded.featureViews.map((v) => v.spec?.name)).toEqual(
      loaded.featureViews.map((v) => v.spec?.name),
    )
    expect(decoded.featureServices).toHaveLength(1)
    expect(decoded.dataSources).toHaveLength(3)
    // everything after the header is exactly the message without it, as Feast would serialize it
    const { body, sealed } = openRegistryFile(registry.path, bytes)
    expect(sealed).toBe(true)
    decoded.$unknown = undefined
    expect(Buffer.from(toBinary(RegistrySchema, decoded)).equals(Buffer.from(body))).toBe(true)
    // the loaded registry does not carry the header, so a rewrite holds exactly one
    expect(loaded.$unknown ?? []).toEqual([])
  })

  it('rejects every truncation of a file Larder wrote, naming the file and both lengths', async () => {
    const { registry, bytes } = await writtenRegistry()
    expect(bytes.length).toBeGreaterThan(300)
    const headerLength = bytes.length - openRegistryFile(registry.path, bytes).body.length
    for (let cut = 0; cut < bytes.length; cut++) {
      writeFileSync(registry.path, bytes.subarray(0, cut))
      const error = await loadError(registry)
      expect(error.code, `cut at ${cut}`).toBe('REGISTRY_CORRUPT')
      expect(error.message).toContain(registry.path)
      if (cut === 0) expect(error.message).toContain('is empty')
      else if (cut >= headerLength)
        expect(error.message).toContain(`expected ${bytes.length} bytes, found ${cut}`)
      else if (cut > 3)
        expect(error.message).toContain(`expected at least ${headerLength} bytes, found ${cut}`)
      expect(error.hint).toContain('restore it from a backup')
    }
    writeFileSync(registry.path, bytes)
    expect((await registry.load({ allowCache: false })).catalog('demo').featureViews.size).toBe(1)
  })

  it('rejects a file with a changed byte or bytes appended, and leaves it untouched', async () => {
    const { registry, bytes } = await writtenRegistry()
    const flipped = Buffer.from(bytes)
    flipped[flipped.length - 5]! ^= 0x01
    writeFileSync(registry.path, flipped)
    const changed = await loadError(registry)
    expect(changed.code).toBe('REGISTRY_CORRUPT')
    expect(changed.message).toContain('does not match the checksum')
    expect(readFileSync(registry.path).equals(flipped)).toBe(true)

    writeFileSync(registry.path, Buffer.concat([bytes, Buffer.from(str(3, '1'))]))
    const longer = await loadError(registry)
    expect(longer.code).toBe('REGISTRY_CORRUPT')
    expect(longer.message).toContain(`expected ${bytes.length} bytes, found ${bytes.length + 3}`)
  })

  it('loads a file Feast wrote (no header), and a Larder file Feast rewrote (header moved to the end)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'larder-integrity-'))
    dirs.push(dir)
    const path = join(dir, 'registry.db')
    // Feast's field numbers: entities = 1, registry_schema_version = 3, version_id = 4, projects = 17
    const feastBytes = Buffer.concat([
      msg(1, msg(1, str(1, 'driver'), int(2, 4), str(4, 'driver_id'), str(9, 'feast_demo'))),
      str(3, '1'),
      str(4, 'feast-written-version'),
      msg(17, msg(1, str(1, 'feast_demo'))),
    ])
    writeFileSync(path, feastBytes)
    const registry = new FileRegistry({ path, cacheTtlSeconds: 0 })
    const feast = await registry.load()
    expect(feast.version).toBe('feast-written-version')
    expect(feast.catalog('feast_demo').entity('driver').joinKey).toBe('driver_id')

    // Larder commits on top: the file gets its header, and the objects stay
    const draft = feast.draft()
    applyContents(draft, sampleContents('demo'), 1_700_000_000_000_000)
    await registry.commit(feast, draft)
    const sealed = readFileSync(path)
    expect(openRegistryFile(path, sealed).sealed).toBe(true)

    // Feast's parsers keep unknown fields and serialize them after the known ones: simulate Feast
    // rewriting the file with a new version, which leaves Larder's (now stale) header at the end
    const rewritten = fromBinary(RegistrySchema, sealed)
    rewritten.versionId = 'feast-rewrote-it'
    const feastRewrite = toBinary(RegistrySchema, rewritten)
    expect(feastRewrite[0]).not.toBe(sealed[0])
    writeFileSync(path, feastRewrite)
    const reread = await registry.load({ allowCache: false })
    expect(reread.version).toBe('feast-rewrote-it')
    expect(reread.catalog('demo').featureViews.size).toBe(1)
    expect(reread.catalog('feast_demo').entity('driver').joinKey).toBe('driver_id')

    // and the next Larder write carries exactly one, fresh, header
    await registry.commit(reread, reread.draft())
    const again = fromBinary(RegistrySchema, readFileSync(path))
    expect(again.$unknown?.filter((f) => f.no === INTEGRITY_FIELD)).toHaveLength(1)
    expect(openRegistryFile(path, readFileSync(path)).sealed).toBe(true)
  })

  it('seals any message so that its body comes back unchanged', () => {
    for (const body of [Uint8Array.of(0x1a, 0x01, 0x31), new Uint8Array(100_000).fill(7)]) {
      const sealed = sealRegistry(body)
      const opened = openRegistryFile('registry.db', sealed)
      expect(opened.sealed).toBe(true)
      expect(Buffer.from(opened.body).equals(Buffer.from(body))).toBe(true)
    }
  })
})
