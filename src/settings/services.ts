// The model's queries under given settings: which services run, on which
// ports, and where ZooKeeper is. They live with the model; settings only
// supply the overrides.
import type { Settings } from './settings.js';
import type { PortSpec, StackModel } from '../model/model.js';

/** Whether a service runs: optional services are off unless enabled. */
export function isEnabled(model: StackModel, s: Settings, name: string): boolean {
  const svc = model.services[name];
  if (!svc) return false;
  return s.services[name]?.enabled ?? !svc.optional;
}

/** Enabled services in the model's order. */
export function enabledServices(model: StackModel, s: Settings): string[] {
  return Object.keys(model.services).filter((n) => isEnabled(model, s, n));
}

/** A service's ports with the settings' overrides applied. */
export function effectivePorts(model: StackModel, s: Settings, name: string): PortSpec[] {
  const svc = model.services[name];
  if (!svc) return [];
  const over = s.services[name]?.ports ?? {};
  return svc.ports.map((p) => (over[p.name] !== undefined ? { ...p, port: over[p.name]! } : p));
}

/** ZooKeeper's client port in these settings (2181 unless paasbox.yaml moves it). */
export function zkClientPort(model: StackModel, s: Settings): number {
  return effectivePorts(model, s, 'zookeeper').find((p) => p.name === 'client')?.port ?? 2181;
}

/** host:port list of ZooKeeper for the masters (ZK_HOSTS). */
export function zkHosts(model: StackModel, s: Settings): string {
  const zk = zkClientPort(model, s);
  return s.masters.map((m) => `${m}:${zk}`).join(',');
}

/** ZooKeeper's quorum and leader election ports on each master (server.N=HOST:QUORUM:ELECTION). */
export const ZK_QUORUM_PORTS = { quorum: 2888, election: 3888 } as const;

/**
 * This host's ZooKeeper id (ZOO_MY_ID, its myid): its place among the masters, from 1; 0 on a host that is no
 * master.
 */
export function zkMyId(s: Settings): number {
  return s.masters.indexOf(s.ip) + 1;
}

/**
 * ZooKeeper's server lines (ZOO_SERVERS, space separated): one per master,
 * each with its client address (";ADDRESS:PORT", ZooKeeper's clientPortAddress).
 * One master keeps the one-host line, its quorum ports on localhost.
 */
export function zkServers(model: StackModel, s: Settings): string {
  const zk = zkClientPort(model, s);
  const { quorum, election } = ZK_QUORUM_PORTS;
  if (s.masters.length === 1 && s.masters[0] === s.ip)
    return `server.1=localhost:${quorum}:${election};${s.ip}:${zk}`;
  return s.masters.map((m, i) => `server.${i + 1}=${m}:${quorum}:${election};${m}:${zk}`).join(' ');
}

/**
 * The Mesos masters' quorum (MESOS_QUORUM): a majority of the masters, so a
 * replicated log survives the loss of a minority (1 of 1, 2 of 3, 3 of 5).
 */
export function mesosQuorum(s: Pick<Settings, 'masters'>): number {
  return Math.floor(s.masters.length / 2) + 1;
}

/**
 * Consul's role arguments on this host: a master runs a server that waits for
 * all masters (-bootstrap-expect) and joins the others; any other host runs a
 * client agent that joins the masters. -retry-join keeps trying, so start
 * order does not matter and a returning host finds the cluster again.
 */
export function consulRoleArgs(s: Settings): string[] {
  const join = (hosts: string[]) => hosts.map((h) => `-retry-join=${h}`);
  if (s.masters.includes(s.ip))
    return ['-server', `-bootstrap-expect=${s.masters.length}`, ...join(s.masters.filter((m) => m !== s.ip))];
  return join(s.masters);
}
