// The model's queries under given settings: which services run, on which
// ports, and where ZooKeeper is. They live with the model; settings only
// supply the overrides.
import type { Settings } from '../settings/settings.js';
import type { PortSpec, StackModel } from './model.js';

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

/** host:port list of ZooKeeper for the masters (ZK_HOSTS). */
export function zkHosts(model: StackModel, s: Settings): string {
  const zk = effectivePorts(model, s, 'zookeeper').find((p) => p.name === 'client')?.port ?? 2181;
  return s.masters.map((m) => `${m}:${zk}`).join(',');
}
