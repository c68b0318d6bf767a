// A protobuf writer that knows only the wire format, so tests can build registry bytes from Feast's
// field numbers without Larder's generated code or writer.

type Part = Uint8Array
const enc = new TextEncoder()

function varint(n: number | bigint): Part {
  let v = BigInt(n)
  const out: number[] = []
  do {
    let byte = Number(v & 0x7fn)
    v >>= 7n
    if (v > 0n) byte |= 0x80
    out.push(byte)
  } while (v > 0n)
  return Uint8Array.from(out)
}

/** The parts one after another. */
export function concat(parts: Part[]): Part {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** A varint field (int32, int64, bool, enum). */
export const int = (field: number, n: number | bigint) => concat([varint((field << 3) | 0), varint(n)])
/** A length-delimited field of raw bytes. */
export const bytes = (field: number, b: Part) => concat([varint((field << 3) | 2), varint(b.length), b])
/** A string field. */
export const str = (field: number, s: string) => bytes(field, enc.encode(s))
/** A message field made of the given parts. */
export const msg = (field: number, ...parts: Part[]) => bytes(field, concat(parts))
/** One entry of a `map<string, string>` field. */
export const mapEntry = (field: number, k: string, v: string) => msg(field, str(1, k), str(2, v))
