// Pure parsers for what the discovery benchmark reads back: the instance an
// answer came from, and the host port docker published for the app.

/** The instance id in a SimpleWebappPython answer ("Hello from python1 (instance 3f2a9c0d1e2b)"). */
export function parseInstance(body: string): string | undefined {
  return /\(instance ([^)\s]+)\)/.exec(body)?.[1];
}

/** Host ports from `docker port CONTAINER 8080/tcp` output ("0.0.0.0:49153\n:::49153"). */
export function parseDockerPort(text: string): number | undefined {
  const m = /:(\d+)\s*$/m.exec(text.trim().split('\n')[0] ?? '');
  return m ? Number(m[1]) : undefined;
}
