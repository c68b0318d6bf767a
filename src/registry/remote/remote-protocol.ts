import { createHash } from 'node:crypto'
import { type DescMessage, type Message, toBinary } from '@bufbuild/protobuf'

/**
 * Request and response metadata by which Larder's remote registry and `larder serve-registry` add
 * optimistic concurrency and atomic commits to Feast's `RegistryServer` service. A Feast client sends
 * none of them and gets Feast's behaviour.
 */
export const REMOTE_HEADERS = Object.freeze({
  /** Groups Apply/Delete calls sent with `commit: false` until the `Commit` call with the same id. */
  transaction: 'larder-transaction',
  /** On an Apply/Delete: {@link objectHash} of the object as the client read it (`none`: it had none). */
  baseHash: 'larder-base-sha256',
  /** On `Commit`: the `version_id` of the registry the client's changes start from. */
  baseVersion: 'larder-base-version',
  /** On `Commit`: how many calls the transaction holds, so a lost call fails the commit. */
  operations: 'larder-operations',
  /** On `Commit`: who makes the change, recorded as the changer of each object. */
  actor: 'larder-actor',
  /** On `Proto`: the `version_id` the client holds; the answer is then empty when it is still current. */
  knownVersion: 'larder-known-version',
  /** In the answer to `Proto`: `true` when the registry is still at `larder-known-version`. */
  unchanged: 'larder-unchanged',
  /** In an error's metadata: the `LarderError` code, its hint and its details (URI-encoded JSON). */
  errorCode: 'larder-error-code',
  errorHint: 'larder-error-hint',
  errorDetails: 'larder-error-details',
})

/** What {@link objectHash} answers for an object that did not exist. */
export const NO_OBJECT = 'none'

/** The sha256 (hex) of a registry object's protobuf bytes, or `none` for a missing object. */
export function objectHash(schema: DescMessage, message: Message | undefined): string {
  if (!message) return NO_OBJECT
  return createHash('sha256').update(toBinary(schema, message)).digest('hex')
}
