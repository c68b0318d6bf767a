import { toJson } from '@bufbuild/protobuf'
import type { Command } from 'commander'
import { RegistrySchema } from '../../gen/feast/core/Registry_pb.js'
import { createRegistry, registryConfigFor } from '../../registry/index.js'
import type { CommandContext } from '../context.js'

export function registerRegistryDump(program: Command, ctx: CommandContext): void {
  program
    .command('registry-dump')
    .description(
      'print the whole registry (every project) as proto3 JSON; also reads a registry file Feast wrote',
    )
    .option('--registry <path>', "a registry file or SQL registry URL to read instead of the repo's")
    .action(async (opts: { registry?: string }) => {
      const own = opts.registry
        ? await createRegistry(registryConfigFor(opts.registry), process.cwd())
        : undefined
      const registry = own ?? (await ctx.openStore()).registry
      const state = await registry.load({ allowCache: false }).finally(() => own?.close())
      ctx.output.out(JSON.stringify(toJson(RegistrySchema, state.proto), null, 2))
    })
}
