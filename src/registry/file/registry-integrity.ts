import { createHash } from 'node:crypto'
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire'
import { LarderError } from '../../core/index.js'
import type { Registry as RegistryProto } from '../../gen/feast/core/Registry_pb.js'

/**
 * The field number of Larder's integrity header in a registry file: a length-delimited field of the
 * `feast.core.Registry` message that Feast does not define, so Feast's parsers keep it as an unknown
 * field and otherwise ignore it.
 */
export const INTEGRITY_FIELD = 1000

/** The version of the header's layout this code writes. */
const INTEGRITY_FORMAT = 1
const SHA256_BYTES = 32
/** The header's tag, `(1000 << 3) | 2` as a varint. */
const TAG = Uint8Array.of(0xc2, 0x3e)
/** Longer than any header this code writes; a longer one is not Larder's. */
const MAX_HEADER_PAYLOAD = 256

/** A registry file's bytes, split at the integrity header. */
export interface OpenedRegistryFile {
  /** The serialized `Registry` message after the header (the whole file when there is none). */
  readonly body: Uint8Array
  /** Whether the file starts with Larder's header (and so was checked). */
  readonly sealed: boolean
}

/**
 * The bytes Larder writes for a serialized `feast.core.Registry` message: the message preceded by
 * field {@link INTEGRITY_FIELD}, a nested message `{1: format (1), 2: the body's length in bytes,
 * 3: the body's SHA-256}`. The result is still one valid `Registry` message (protobuf fields may come
 * in any order), which Feast reads with the header as an unknown field. Put first, the header survives
 * any truncation of the file, which therefore always shows as a length mismatch.
 *
 * @example await writeAtomically(path, sealRegistry(toBinary(RegistrySchema, proto)))
 */
export function sealRegistry(body: Uint8Array): Uint8Array {
  const payload = new BinaryWriter()
    .tag(1, WireType.Varint)
    .uint32(INTEGRITY_FORMAT)
    .tag(2, WireType.Varint)
    .uint64(body.length)
    .tag(3, WireType.LengthDelimited)
    .bytes(createHash('sha256').update(body).digest())
    .finish()
  const header = new BinaryWriter().tag(INTEGRITY_FIELD, WireType.LengthDelimited).bytes(payload).finish()
  const out = new Uint8Array(header.length + body.length)
  out.set(header)
  out.set(body, header.length)
  return out
}

/**
 * Checks a registry file's bytes and returns the message to decode. A file that starts with Larder's
 * integrity header must hold exactly the length and SHA-256 the header records; one that does not (a
 * file Feast wrote, also one where Feast rewrote a Larder file and so moved the old header to the end
 * with its other unknown fields) is returned whole, unchecked, as before. REGISTRY_CORRUPT naming the
 * file, the expected and found length and the fix, for an empty file (neither Feast nor Larder writes
 * one), a header cut short, a length mismatch (a truncated or extended file) or a checksum mismatch.
 */
export function openRegistryFile(path: string, bytes: Uint8Array): OpenedRegistryFile {
  if (bytes.length === 0) {
    throw damaged(path, 'is empty (0 bytes); neither Larder nor Feast writes an empty registry')
  }
  if (bytes.length < TAG.length || bytes[0] !== TAG[0] || bytes[1] !== TAG[1]) {
    return { body: bytes, sealed: false }
  }
  let payload: Uint8Array
  let bodyStart: number
  try {
    const reader = new BinaryReader(bytes)
    reader.tag()
    const length = reader.uint32()
    if (length > MAX_HEADER_PAYLOAD) throw new Error(`header of ${length} bytes`)
    if (reader.pos + length > bytes.length) {
      throw damaged(
        path,
        `is truncated inside Larder's integrity header: expected at least ${reader.pos + length} bytes, found ${bytes.length}`,
      )
    }
    payload = bytes.subarray(reader.pos, reader.pos + length)
    bodyStart = reader.pos + length
  } catch (e) {
    if (e instanceof LarderError) throw e
    throw damaged(
      path,
      `starts with a malformed integrity header (${(e as Error).message}); it holds ${bytes.length} bytes`,
    )
  }
  const header = readHeader(payload)
  if (!header) {
    throw damaged(path, `starts with an integrity header Larder cannot read; it holds ${bytes.length} bytes`)
  }
  const body = bytes.subarray(bodyStart)
  if (body.length !== header.length) {
    const expected = bodyStart + header.length
    const how = body.length < header.length ? 'truncated' : 'longer than Larder wrote it'
    throw damaged(path, `is ${how}: expected ${expected} bytes, found ${bytes.length}`)
  }
  const sha = createHash('sha256').update(body).digest()
  if (!sha.equals(header.sha256)) {
    throw damaged(
      path,
      `does not match the checksum Larder wrote: ${bytes.length} bytes as expected, but sha256 ` +
        `${sha.toString('hex').slice(0, 16)}… instead of ${Buffer.from(header.sha256).toString('hex').slice(0, 16)}…`,
    )
  }
  return { body, sealed: true }
}

/** Removes Larder's integrity header(s) from the unknown fields of a decoded registry, in place. */
export function stripIntegrityField(proto: RegistryProto): void {
  if (proto.$unknown?.some((f) => f.no === INTEGRITY_FIELD)) {
    proto.$unknown = proto.$unknown.filter((f) => f.no !== INTEGRITY_FIELD)
  }
}

function readHeader(payload: Uint8Array): { length: number; sha256: Uint8Array } | undefined {
  let format: number | undefined
  let length: number | undefined
  let sha256: Uint8Array | undefined
  try {
    const reader = new BinaryReader(payload)
    while (reader.pos < payload.length) {
      const [no, type] = reader.tag()
      if (no === 1 && type === WireType.Varint) format = reader.uint32()
      else if (no === 2 && type === WireType.Varint) length = Number(reader.uint64())
      else if (no === 3 && type === WireType.LengthDelimited) sha256 = reader.bytes()
      else reader.skip(type, no)
    }
  } catch {
    return undefined
  }
  if (format !== INTEGRITY_FORMAT || length === undefined || sha256?.length !== SHA256_BYTES) return undefined
  return { length, sha256 }
}

function damaged(path: string, why: string): LarderError {
  return new LarderError('REGISTRY_CORRUPT', `the registry ${path} ${why}`, {
    hint:
      'Larder left the file untouched: restore it from a backup; or move it away and run `larder apply` ' +
      'to write a new registry from the repo (materialization intervals are lost: materialize again)',
    details: { path },
  })
}
