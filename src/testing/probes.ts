import { connect, createServer } from 'node:net'

// Service probes without a test runner, so that `larderjs/testing` loads in any project.

/**
 * Undefined when a Redis server answers PING at host:port within the timeout, else the reason.
 * Speaks RESP over a plain socket, so it needs no driver.
 */
export function redisUnavailable(host: string, port: number, timeoutMs = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (reason: string | undefined) => {
      socket.destroy()
      resolve(reason)
    }
    socket.setTimeout(timeoutMs, () => done(`no answer from Redis at ${host}:${port} within ${timeoutMs} ms`))
    socket.on('error', (e) =>
      done(`no Redis at ${host}:${port} (${(e as NodeJS.ErrnoException).code ?? e.message})`),
    )
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (data) =>
      done(data.toString().startsWith('+PONG') ? undefined : `Redis at ${host}:${port} answered ${data}`),
    )
  })
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago): for servers to start, or to test a service that is down. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/**
 * Undefined when a NATS server with JetStream enabled answers at host:port within the timeout, else
 * the reason. Reads the server's INFO line over a plain socket, so it needs no driver.
 */
export function natsUnavailable(host: string, port: number, timeoutMs = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    let received = ''
    const done = (reason: string | undefined) => {
      socket.destroy()
      resolve(reason)
    }
    socket.setTimeout(timeoutMs, () => done(`no answer from NATS at ${host}:${port} within ${timeoutMs} ms`))
    socket.on('error', (e) =>
      done(`no NATS at ${host}:${port} (${(e as NodeJS.ErrnoException).code ?? e.message})`),
    )
    socket.on('data', (data) => {
      received += data.toString()
      const end = received.indexOf('\r\n')
      if (end < 0) return
      const line = received.slice(0, end)
      if (!line.startsWith('INFO '))
        return done(`the server at ${host}:${port} is not NATS (it said ${line})`)
      const info = JSON.parse(line.slice(5)) as { jetstream?: boolean }
      done(info.jetstream ? undefined : `NATS at ${host}:${port} runs without JetStream (start it with -js)`)
    })
  })
}
