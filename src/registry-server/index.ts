export {
  type RegistryServerListening,
  type RegistryServerOptions,
  startRegistryServer,
} from './registry-server.js'
export {
  jobsService,
  materializationRunsService,
  type RegistryServiceOptions,
  registryRoutes,
  registryService,
} from './registry-service.js'
