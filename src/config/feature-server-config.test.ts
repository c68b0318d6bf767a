// The browser keys of `feature_server:` (allowed_hosts, allowed_origins, allow_credentials): parsed,
// normalized, and refused with the key, the value and the fix.
import { describe, expect, it } from 'vitest'
import { LarderError } from '../core/index.js'
import { normalizeHostPattern, normalizeOrigin, splitHost } from './feature-server-config.js'
import { parseRepoConfig } from './repo-config.js'

const parse = (block: string) => parseRepoConfig(`project: demo\nfeature_server:\n${block}`, '/repo')

function fail(block: string): LarderError {
  try {
    parse(block)
  } catch (e) {
    expect(e).toBeInstanceOf(LarderError)
    return e as LarderError
  }
  throw new Error('expected the config to be rejected')
}

describe('feature_server: browser keys', () => {
  it('default to no extra hosts, no origins (CORS off), no credentials', () => {
    expect(parseRepoConfig('project: demo\n', '/repo').featureServer).toEqual({
      allowedHosts: [],
      allowedOrigins: [],
      allowCredentials: false,
    })
  })

  it('are normalized as browsers send Host and Origin, a single string read as a list of one', () => {
    const c = parse(
      [
        '  allowed_hosts: [Features.Example.com, "ML.corp.test:8443", .Corp.Test, "::1", "[fe80::1]:80"]',
        '  allowed_origins: "HTTPS://App.Example.com:443/"',
        '  allow_credentials: true',
        '',
      ].join('\n'),
    )
    expect(c.featureServer).toEqual({
      allowedHosts: ['features.example.com', 'ml.corp.test:8443', '.corp.test', '[::1]', '[fe80::1]:80'],
      allowedOrigins: ['https://app.example.com'],
      allowCredentials: true,
    })
    expect(c.warnings).toEqual([])
  })

  it("warn about Feast's keys only", () => {
    const c = parse('  type: local\n  allowed_hosts: ["*"]\n  metrics:\n    enabled: true\n')
    expect(c.featureServer.allowedHosts).toEqual(['*'])
    expect(c.warnings).toHaveLength(1)
    expect(c.warnings[0]).toMatch(/feature_server: type, metrics ignored/)
  })

  it('refuse a host that is not one, naming the key, the entry and the form to write', () => {
    const e = fail('  allowed_hosts: [ok.test, "https://features.example.com/"]\n')
    expect(e.code).toBe('INVALID_CONFIG')
    expect(e.message).toContain('feature_server.allowed_hosts[1]')
    expect(e.message).toContain('"https://features.example.com/" is not a host name')
    expect(e.message).toContain('features.example.com, optionally with :port')
    expect(e.details).toMatchObject({ path: ['feature_server', 'allowed_hosts', 1] })
    expect(fail('  allowed_hosts: .example.com:443\n').message).toContain('leave the port out')
    expect(fail('  allowed_hosts: [host:99999]\n').message).toContain('"host:99999" is not a host name')
  })

  it('refuse an origin with a path, the null origin, and a scheme other than http(s)', () => {
    const path = fail('  allowed_origins: [https://app.example.com/ui]\n')
    expect(path.message).toContain('feature_server.allowed_origins[0]')
    expect(path.message).toContain('write https://app.example.com')
    expect(fail('  allowed_origins: ["null"]\n').message).toContain('cannot be allowed')
    expect(fail('  allowed_origins: [file:///x]\n').message).toContain('not an http or https origin')
    expect(fail('  allowed_origins: [app.example.com]\n').message).toContain('is not an origin')
  })

  it('refuse "*" among the origins with allow_credentials, naming both keys', () => {
    const e = fail('  allowed_origins: ["*"]\n  allow_credentials: true\n')
    expect(e.message).toContain('feature_server.allow_credentials is true')
    expect(e.message).toContain('feature_server.allowed_origins holds "*"')
    expect(e.hint).toContain('allow_credentials: false')
  })

  it('refuse a value of the wrong type, naming the key', () => {
    expect(fail('  allow_credentials: yes please\n').message).toContain('feature_server.allow_credentials')
    expect(fail('  allowed_hosts: 5\n').message).toContain('feature_server.allowed_hosts')
  })
})

describe('host and origin forms', () => {
  it('splits a Host header into name and port', () => {
    expect(splitHost('LocalHost:6566')).toEqual({ name: 'localhost', port: 6566 })
    expect(splitHost('example.com.')).toEqual({ name: 'example.com', port: undefined })
    expect(splitHost('[::1]:8080')).toEqual({ name: '[::1]', port: 8080 })
    for (const bad of [
      '',
      ':80',
      'a b',
      'a@b',
      'x:0',
      'x:65536',
      '[::1',
      '[nope]:1',
      '::1',
      '.example.com',
      'x:80:80',
    ]) {
      expect(splitHost(bad), bad).toBeUndefined()
    }
  })

  it('keeps the port of a host pattern only when given, and * as it is', () => {
    expect(normalizeHostPattern(' * ')).toBe('*')
    expect(normalizeHostPattern('127.0.0.1:80')).toBe('127.0.0.1:80')
    expect(normalizeHostPattern('Example.COM.')).toBe('example.com')
  })

  it('serializes origins as browsers do', () => {
    expect(normalizeOrigin('http://LOCALHOST:80')).toBe('http://localhost')
    expect(normalizeOrigin('https://[::1]:8443')).toBe('https://[::1]:8443')
    expect(normalizeOrigin('*')).toBe('*')
    expect(() => normalizeOrigin('https://user@app.example.com')).toThrow(/more than scheme/)
    expect(() => normalizeOrigin('https://app.example.com?x')).toThrow(/more than scheme/)
  })
})
