// `docker run` lines for the discovery services straight from the stack model
// (stacks/paasbox.yaml), for the discovery spec's test host without compose:
// same command, environment, volumes and capabilities as the generated
// compose file.
import { DEFAULT_APPS } from '../../src/settings/apps.js';
import type { ServiceSpec, StackModel } from '../../src/model/model.js';
import { resolveCommand, resolvePlaceholders } from '../../src/stackfile/generate.js';
import { shq } from '../../src/target/shell.js';

export { DISCOVERY as DISCOVERY_SERVICES } from '../../src/bench/orchestration.js';

/**
 * Placeholder values for `service` with the model's default ports: the
 * globals given plus ${PORT_<NAME>}, ${<SERVICE>_PORT_<NAME>} and the
 * default apps: range ${APPS_TCP_PORT_MIN/MAX}, as
 * src/stackfile/generate.ts resolves them without settings overrides (pure).
 */
export function modelVals(
  model: StackModel,
  service: string,
  globals: Record<string, string>,
): Record<string, string> {
  // One host: ZooKeeper's one-server line on the model's client port.
  const zk = model.services['zookeeper']?.ports.find((p) => p.name === 'client')?.port ?? 2181;
  const apps = {
    APPS_TCP_PORT_MIN: String(DEFAULT_APPS.tcpPorts.min),
    APPS_TCP_PORT_MAX: String(DEFAULT_APPS.tcpPorts.max),
  };
  const vals: Record<string, string> = {
    ZK_MY_ID: '1',
    MESOS_QUORUM: '1',
    ...apps,
    ...(globals['IP'] ? { ZK_SERVERS: `server.1=localhost:2888:3888;${globals['IP']}:${zk}` } : {}),
    ...globals,
  };
  for (const [name, spec] of Object.entries(model.services)) {
    const prefix = name.toUpperCase().replace(/-/g, '_');
    for (const p of spec.ports) {
      vals[`${prefix}_PORT_${p.name.toUpperCase()}`] = String(p.port);
      if (name === service) vals[`PORT_${p.name.toUpperCase()}`] = String(p.port);
    }
  }
  return vals;
}

/** One `docker run -d` line for `service` (pure). vals: IP, HOSTNAME, DOMAIN, ... */
export function dockerRunLine(
  name: string,
  spec: ServiceSpec,
  image: string,
  vals: Record<string, string>,
  containerName = name,
): string {
  const r = (s: string) => resolvePlaceholders(s, vals, `services.${name}`);
  const args = ['docker', 'run', '-d', '--init', '--name', containerName, `--restart=${spec.restart}`];
  if (spec.network === 'host') args.push('--network', 'host');
  for (const [k, v] of Object.entries(spec.environment ?? {})) args.push('-e', `${k}=${r(v)}`);
  for (const v of spec.volumes ?? []) args.push('-v', `${r(v.source)}:${v.target}${v.readOnly ? ':ro' : ''}`);
  for (const c of spec.capAdd ?? []) args.push('--cap-add', c);
  // One host: Consul's role arguments are a lone server's.
  args.push(
    image,
    ...resolveCommand(
      spec.command ?? [],
      { CONSUL_ROLE_ARGS: ['-server', '-bootstrap-expect=1'] },
      (c) => r(c),
      `services.${name}.command`,
    ),
  );
  return args.map(shq).join(' ');
}
