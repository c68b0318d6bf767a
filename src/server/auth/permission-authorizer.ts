import {
  type Abortable,
  type AuthObject,
  type AuthObjectType,
  type Authorizer,
  type AuthzAction,
  decidePermission,
  type PermissionDecision,
  type Principal,
  permissionDenied,
} from '../../core/index.js'
import {
  type ProjectPermissions,
  projectPermissions,
  type RegistryState,
  registryAuthObjects,
} from '../../registry/index.js'

/**
 * The registry whose permissions decide, read at every authorization: a server passes its background
 * registry (`() => server.registry.load()`), which answers without I/O and follows the server's
 * reloads, so a permission applied is enforced from the next reload on.
 */
export type PermissionSource = (options?: Abortable) => Promise<RegistryState>

/** What one registry read says about one project: its permissions, and its objects' stored tags. */
interface ProjectView {
  readonly permissions: ProjectPermissions
  tags: Map<string, Readonly<Record<string, string>>> | undefined
}

/** Where an object's stored tags are looked up when a route named the object without them. */
const TAG_LOOKUP: Readonly<Partial<Record<AuthObjectType, readonly AuthObjectType[]>>> = {
  FEATURE_VIEW: ['FEATURE_VIEW', 'STREAM_FEATURE_VIEW', 'ON_DEMAND_FEATURE_VIEW', 'LABEL_VIEW'],
}

/**
 * Feast's permissions as a server's authorizer: for an action on an object, the permissions stored
 * for the object's project decide (`decidePermission`: none defined, everything is allowed;
 * otherwise a covering permission whose policy accepts the principal is needed, and what no
 * permission covers is denied). A refusal throws PERMISSION_DENIED naming the principal, the action
 * and the object. An object named without its tags (a project, a feature reference) is matched against
 * the tags stored for it in the registry. Each registry read is digested once per project.
 *
 * @example const authorizer = new PermissionAuthorizer(() => server.registry.load())
 */
export class PermissionAuthorizer implements Authorizer {
  readonly #source: PermissionSource
  readonly #views = new WeakMap<RegistryState, Map<string, ProjectView>>()

  constructor(source: PermissionSource) {
    this.#source = source
  }

  async authorize(principal: Principal, action: AuthzAction, object: AuthObject): Promise<void> {
    const { decision, object: weighed } = await this.#decide(principal, action, object)
    if (!decision.allowed) throw permissionDenied(principal, action, weighed, decision)
  }

  /** The decision for `principal` doing `action` on `object`, without throwing. */
  async decide(principal: Principal, action: AuthzAction, object: AuthObject): Promise<PermissionDecision> {
    return (await this.#decide(principal, action, object)).decision
  }

  async #decide(
    principal: Principal,
    action: AuthzAction,
    object: AuthObject,
  ): Promise<{ decision: PermissionDecision; object: AuthObject }> {
    const state = await this.#source()
    const view = this.#view(state, object.project)
    const weighed =
      object.tags === undefined && view.permissions.rules.length > 0
        ? { ...object, tags: this.#storedTags(state, view, object) }
        : object
    return { decision: decidePermission(view.permissions.rules, principal, action, weighed), object: weighed }
  }

  #view(state: RegistryState, project: string): ProjectView {
    let byProject = this.#views.get(state)
    if (!byProject) {
      byProject = new Map()
      this.#views.set(state, byProject)
    }
    let view = byProject.get(project)
    if (!view) {
      view = { permissions: projectPermissions(state.proto, project), tags: undefined }
      byProject.set(project, view)
    }
    return view
  }

  #storedTags(state: RegistryState, view: ProjectView, object: AuthObject): Readonly<Record<string, string>> {
    view.tags ??= new Map(
      registryAuthObjects(state.proto, object.project).map((o) => [`${o.type}\u0000${o.name}`, o.tags ?? {}]),
    )
    for (const type of TAG_LOOKUP[object.type] ?? [object.type]) {
      const tags = view.tags.get(`${type}\u0000${object.name}`)
      if (tags) return tags
    }
    return {}
  }
}
