import { type Branded, definitionKind } from './brand.js'
import { LarderError } from './errors.js'
import { checkKnownKeys, checkTags, optionalString } from './validate.js'

export interface ProjectOptions {
  name: string
  description?: string
  tags?: Record<string, string>
  owner?: string
}

const PROJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/

/** Throws unless `name` is a valid project name (Feast's rule: letters, digits, `_`, `-`; not leading `_`/`-`). */
export function checkProjectName(name: unknown): string {
  if (typeof name !== 'string' || !PROJECT_NAME.test(name)) {
    throw new LarderError('INVALID_DEFINITION', `project name ${JSON.stringify(name)} is not valid`, {
      hint: 'use letters, digits, "_" and "-", starting with a letter or digit, e.g. "driver_ranking"',
    })
  }
  return name
}

/** A namespace for registry objects; every object belongs to exactly one project. */
export class Project implements Branded<'Project'> {
  readonly [definitionKind] = 'Project' as const
  readonly name: string
  readonly description: string
  readonly tags: Readonly<Record<string, string>>
  readonly owner: string

  constructor(options: ProjectOptions) {
    checkKnownKeys('Project', options, ['name', 'description', 'tags', 'owner'])
    this.name = checkProjectName(options.name)
    const where = `project "${this.name}"`
    this.description = optionalString(where, 'description', options.description)
    this.tags = checkTags(where, options.tags)
    this.owner = optionalString(where, 'owner', options.owner)
    Object.freeze(this)
  }
}
