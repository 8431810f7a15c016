// A view of a target whose every command runs as root (sudo -n for a
// non-root login), for code that calls docker without asking for sudo.

import type { ExecOptions, Target } from './target.js';

export function asRoot(t: Target): Target {
  return {
    name: t.name,
    address: t.address,
    exec: (command: string, opts: ExecOptions = {}) => t.exec(command, { ...opts, sudo: true }),
    copy: (l, r) => t.copy(l, r),
    writeFile: (p, c, m) => t.writeFile(p, c, m),
    forward: (h, p, l) => t.forward(h, p, l),
    facts: () => t.facts(),
    close: () => t.close(),
  };
}
