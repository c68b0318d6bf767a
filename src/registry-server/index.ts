export {
  type RegistryServerListening,
  type RegistryServerOptions,
  startRegistryServer,
} from './registry-server.js'
export {
  materializationRunsService,
  type RegistryServiceOptions,
  registryRoutes,
  registryService,
} from './registry-service.js'
