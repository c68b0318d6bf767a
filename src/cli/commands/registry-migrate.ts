import type { Message } from '@bufbuild/protobuf'
import type { Command } from 'commander'
import {
  createRegistry,
  OBJECT_TABLES,
  projectNames,
  redactUrl,
  registryConfigFor,
} from '../../registry/index.js'
import type { CommandContext } from '../context.js'

/**
 * `larder registry migrate --from <file|url> --to <file|url>`: copies every object of one registry
 * into another (typically a file registry into a SQL registry) in one commit. Objects only the target
 * holds are kept; objects both hold are replaced by the source's.
 */
export function registerRegistryMigrate(program: Command, ctx: CommandContext): void {
  const registry =
    program.commands.find((c) => c.name() === 'registry') ??
    program.command('registry').description('registry maintenance: migrate between registry stores')
  registry
    .command('migrate')
    .description('copy a registry (a Feast registry file, or a SQL registry URL) into another registry store')
    .option('--from <path|url>', 'the registry to copy', 'data/registry.db')
    .requiredOption(
      '--to <path|url>',
      'the registry to write, e.g. postgresql://user@host/db or sqlite:///data/registry.sqlite',
    )
    .action(async (opts: { from: string; to: string }) => {
      const source = await createRegistry(registryConfigFor(opts.from), process.cwd())
      try {
        const target = await createRegistry(registryConfigFor(opts.to), process.cwd())
        try {
          const from = await source.load({ allowCache: false })
          const base = await target.load({ allowCache: false })
          const next = base.draft()
          let created = 0
          let replaced = 0
          for (const table of OBJECT_TABLES) {
            const incoming = table.list(from.proto)
            const key = (m: Message) => `${table.projectOf(m)}\u0000${table.nameOf(m)}`
            const names = new Set(incoming.map(key))
            const existing = new Set(table.list(next).map(key))
            for (const k of names) existing.has(k) ? replaced++ : created++
            table.set(next, [...table.list(next).filter((m) => !names.has(key(m))), ...incoming])
          }
          const projects = new Set(from.proto.projectMetadata.map((m) => m.project))
          next.projectMetadata = [
            ...next.projectMetadata.filter((m) => !projects.has(m.project)),
            ...from.proto.projectMetadata,
          ]
          if (from.proto.infra && from.proto.infra.infraObjects.length > 0) next.infra = from.proto.infra
          await target.commit(base, next)
          ctx.output.out(
            `copied ${created + replaced} objects (${created} new, ${replaced} replaced) of ${projectNames(from.proto).length} project(s) from ${redactUrl(opts.from)} to ${redactUrl(opts.to)}`,
          )
        } finally {
          await target.close()
        }
      } finally {
        await source.close()
      }
    })
}
