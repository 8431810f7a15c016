// The labels that say whose a container is: compose's project and service
// labels, and those that make a container no stack container whatever compose
// labels it carries (a swarm task, an app). Apart from compose.ts so the
// container parser (facts.ts) and the lookups share them without a cycle.

export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';
export const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service';

/** Labels that make a container no stack container, with what they say it is. */
export const NOT_STACK_LABELS: Record<string, string> = {
  'com.docker.swarm.service.id': 'a swarm task',
  'com.docker.swarm.task.id': 'a swarm task',
  // APP_ID_LABEL of src/scheduler/swarm-service.ts (not imported: docker facts load no scheduler; a unit test
  // ties them).
  'paasbox.marathon.id': 'an app',
};

/** Why a container with these labels is not the stack's (undefined: it may be). Pure. */
export function notStackReason(labels: Record<string, string>): string | undefined {
  const hit = Object.keys(NOT_STACK_LABELS).find((k) => Object.prototype.hasOwnProperty.call(labels, k));
  return hit ? `${NOT_STACK_LABELS[hit]} (label ${hit})` : undefined;
}
