// src/poll.ts is the one way to wait (issue 20): its contract (first value,
// retries, the deadline's PaasboxError, fatal errors, the pause), and the
// check that keeps it the only one: every file under src/ is read, and a
// hand-written polling loop (a setTimeout, a local sleep/until helper, a
// Date.now() deadline loop, a loop that awaits a sleep) fails here as file:line.
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PaasboxError } from '../../src/errors.js';
import { repoPath } from '../../src/paths.js';
import { poll, PollTimeout, sleep } from '../../src/poll.js';

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection, got a value');
}

describe('poll', () => {
  const base = { what: 'the thing', fix: 'start the thing', everyMs: 5 };

  it('returns the first value other than undefined, trying again until then', async () => {
    let calls = 0;
    const v = await poll({ ...base, timeoutMs: 2000 }, (attempt) => {
      calls++;
      return attempt < 3 ? undefined : `ready at ${attempt}`;
    });
    expect(v).to.equal('ready at 3');
    expect(calls).to.equal(3);
  });

  it('returns falsy values other than undefined (0, false, null, "")', async () => {
    for (const x of [0, false, null, '']) {
      expect(await poll({ ...base, timeoutMs: 100 }, () => x)).to.equal(x);
    }
  });

  it('counts a throw as "not yet" and goes on', async () => {
    let calls = 0;
    const v = await poll({ ...base, timeoutMs: 2000 }, async () => {
      calls++;
      if (calls < 3) throw new Error('refused');
      return 'up';
    });
    expect(v).to.equal('up');
    expect(calls).to.equal(3);
  });

  it('at the deadline throws a PaasboxError naming what, the fix and the last error', async () => {
    let calls = 0;
    const e = await rejection(
      poll({ ...base, what: 'a Consul leader on 10.0.0.5', timeoutMs: 60 }, () => {
        calls++;
        throw new Error(`connection refused #${calls}`);
      }),
    );
    expect(e).to.be.instanceOf(PaasboxError);
    const pe = e as PaasboxError;
    expect(pe.problem).to.equal('timed out after 0.1 s waiting for a Consul leader on 10.0.0.5');
    expect(pe.fix).to.equal('start the thing');
    expect(pe.detail).to.equal(`connection refused #${calls}`);
    expect(pe.kind).to.equal('target');
    expect(calls).to.be.greaterThan(1);
  });

  it('keeps the detail of a PaasboxError as the last error, and a given kind', async () => {
    const e = (await rejection(
      poll({ ...base, timeoutMs: 20, kind: 'transient' }, () => {
        throw new PaasboxError('HTTP 503', 'wait', 'no leader');
      }),
    )) as PaasboxError;
    expect(e.detail).to.equal('HTTP 503: no leader');
    expect(e.kind).to.equal('transient');
  });

  it('without an error, the detail is the last "not yet" reason fn noted', async () => {
    const e = (await rejection(
      poll({ ...base, timeoutMs: 30 }, (attempt, note) => {
        note(`2 of 3 running (try ${attempt})`);
        return undefined;
      }),
    )) as PaasboxError;
    expect(e.detail).to.match(/^2 of 3 running \(try \d+\)$/);
  });

  it('an error from an earlier try is not the detail once a later try said "not yet"', async () => {
    const e = (await rejection(
      poll({ ...base, timeoutMs: 40 }, (attempt, note) => {
        if (attempt === 1) throw new Error('first try failed');
        note('still starting');
        return undefined;
      }),
    )) as PaasboxError;
    expect(e.detail).to.equal('still starting');
  });

  it('rethrows a fatal error at once, without another try', async () => {
    let calls = 0;
    const bad = new Error('bad input');
    const t0 = Date.now();
    const e = await rejection(
      poll({ ...base, timeoutMs: 5000, fatal: (x) => x === bad }, () => {
        calls++;
        if (calls === 2) throw bad;
        throw new Error('not yet');
      }),
    );
    expect(e).to.equal(bad);
    expect(calls).to.equal(2);
    expect(Date.now() - t0).to.be.lessThan(1000);
  });

  it('tells onRetry each try that was not done, with its last error', async () => {
    const seen: [number, unknown][] = [];
    const onRetry = (n: number, last: unknown) => seen.push([n, last instanceof Error ? last.message : last]);
    await poll({ ...base, timeoutMs: 2000, onRetry }, (n) => {
      if (n === 1) throw new Error('down');
      return n === 3 ? 'ok' : undefined;
    });
    expect(seen).to.deep.equal([
      [1, 'down'],
      [2, undefined],
    ]);
  });

  it('pauses everyMs between tries (the first try at once)', async () => {
    const at: number[] = [];
    const t0 = Date.now();
    await poll({ ...base, everyMs: 60, timeoutMs: 5000 }, () => {
      at.push(Date.now() - t0);
      return at.length === 4 ? true : undefined;
    });
    expect(at[0]).to.be.lessThan(30);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // Not less than everyMs; the upper bound leaves room for a busy 2-core machine.
    for (const g of gaps) expect(g).to.be.within(55, 400);
  });

  it('the last pause ends at the deadline, not everyMs after it', async () => {
    const t0 = Date.now();
    await rejection(poll({ ...base, everyMs: 5000, timeoutMs: 100 }, () => undefined));
    expect(Date.now() - t0).to.be.within(95, 1000);
  });

  it('a slow fn does not overrun the deadline by much more than one try', async () => {
    const t0 = Date.now();
    await rejection(
      poll({ ...base, everyMs: 100, timeoutMs: 250 }, async () => {
        await sleep(80);
        return undefined;
      }),
    );
    // Tries at ~0 and ~180 ms; the second ends past the deadline (~260 ms) and no pause or try follows:
    // at most one try (80 ms) late, plus slack for a busy machine.
    const took = Date.now() - t0;
    expect(took).to.be.within(250, 250 + 80 + 200);
  });

  it('the deadline is a PollTimeout (a quiet wait catches only that), a fatal error is not', async () => {
    const late = await rejection(poll({ ...base, timeoutMs: 20 }, () => undefined));
    expect(late).to.be.instanceOf(PollTimeout);
    expect(late).to.be.instanceOf(PaasboxError);
    const boom = new PaasboxError('docker failed', 'start docker');
    const early = await rejection(
      poll({ ...base, timeoutMs: 2000, fatal: () => true }, () => Promise.reject(boom)),
    );
    expect(early).to.equal(boom);
    expect(early).to.not.be.instanceOf(PollTimeout);
  });

  it('with attempts, stops after that many tries and throws the last error itself', async () => {
    const pauses: number[] = [];
    let calls = 0;
    const fault = new PaasboxError('connection refused', 'start sshd', undefined, 'transient');
    const e = await rejection(
      poll(
        { ...base, timeoutMs: Number.POSITIVE_INFINITY, attempts: 3, everyMs: (a) => (pauses.push(a), 1) },
        () => {
          calls++;
          throw fault;
        },
      ),
    );
    expect(e).to.equal(fault);
    expect(calls).to.equal(3);
    expect(pauses).to.deep.equal([1, 2]);
  });

  it('with attempts, a value on the last try is returned', async () => {
    const v = await poll({ ...base, timeoutMs: 2000, attempts: 2 }, (a) => {
      if (a < 2) throw new Error('not yet');
      return 'up';
    });
    expect(v).to.equal('up');
  });

  it('sleep waits about ms', async () => {
    const t0 = Date.now();
    await sleep(50);
    expect(Date.now() - t0).to.be.within(45, 200);
  });
});

// ---------------------------------------------------------------- the grep test

export interface LoopFinding {
  line: number;
  rule: string;
}

/**
 * The code of a TypeScript file with the contents of comments, strings and
 * regex literals replaced by spaces (newlines kept, template `${…}` kept as
 * code), so a brace or a word inside a string never counts.
 */
export function codeOnly(text: string): string {
  const out = text.split('');
  const blank = (i: number) => {
    if (out[i] !== '\n') out[i] = ' ';
  };
  const templates: number[] = []; // brace depth at each open `${`
  let depth = 0;
  let i = 0;
  const lastCode = (at: number) => {
    let j = at - 1;
    while (j >= 0 && /\s/.test(out[j]!)) j--;
    return j >= 0 ? out[j]! : '';
  };
  const afterReturn = (at: number) => /\breturn\s*$/.test(text.slice(Math.max(0, at - 12), at));
  const template = () => {
    // Inside a template literal at i (after its backtick or a closing `}` of `${…}`).
    while (i < text.length) {
      const c = text[i]!;
      if (c === '\\') {
        blank(i);
        blank(i + 1);
        i += 2;
      } else if (c === '`') {
        i++;
        return;
      } else if (c === '$' && text[i + 1] === '{') {
        templates.push(depth);
        depth++;
        i += 2;
        return;
      } else {
        blank(i);
        i++;
      }
    }
  };
  while (i < text.length) {
    const c = text[i]!;
    const n = text[i + 1];
    if (c === '/' && n === '/') {
      while (i < text.length && text[i] !== '\n') blank(i++);
    } else if (c === '/' && n === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      while (i < stop) blank(i++);
    } else if (c === '"' || c === "'") {
      i++;
      while (i < text.length && text[i] !== c && text[i] !== '\n') {
        if (text[i] === '\\') blank(i++);
        blank(i++);
      }
      i++;
    } else if (c === '`') {
      i++;
      template();
    } else if (c === '/' && (/^[(,=:[!&|?{};+\-*%<>~^]$/.test(lastCode(i)) || afterReturn(i))) {
      // A regex literal: to its closing slash outside a [class].
      i++;
      let cls = false;
      while (i < text.length && text[i] !== '\n' && (cls || text[i] !== '/')) {
        if (text[i] === '\\') blank(i++);
        else if (text[i] === '[') cls = true;
        else if (text[i] === ']') cls = false;
        blank(i++);
      }
      i++;
    } else if (c === '{') {
      depth++;
      i++;
    } else if (c === '}') {
      depth--;
      i++;
      if (templates.length && templates[templates.length - 1] === depth) {
        templates.pop();
        template();
      }
    } else i++;
  }
  return out.join('');
}

/** What a `{` at `at` opens: a loop body, a function body or another block. */
function blockKind(code: string, at: number): 'loop' | 'function' | 'block' {
  const before = code.slice(0, at).replace(/\s+$/, '');
  if (before.endsWith('=>')) return 'function';
  if (/\bdo$/.test(before)) return 'loop';
  if (!before.endsWith(')')) return 'block';
  let d = 0;
  let j = before.length - 1;
  for (; j >= 0; j--) {
    if (before[j] === ')') d++;
    else if (before[j] === '(' && --d === 0) break;
  }
  const head = before.slice(0, j).replace(/\s+$/, '');
  if (/\b(?:for|while)$/.test(head) || /\bfor\s+await$/.test(head)) return 'loop';
  if (/\b(?:if|switch|catch|with)$/.test(head)) return 'block';
  return 'function';
}

/** Awaiting a pause: a sleep/delay/pause call, or a promise resolved by setTimeout. */
const AWAIT_SLEEP = new RegExp(
  [
    /\bawait\s+(?:[\w$]+\.)*(?:sleep|delay|pause)\s*\(/.source,
    /\bawait\s+new\s+Promise\b[^;]*\bsetTimeout\b/.source,
  ].join('|'),
  'g',
);
/** A function named as a wait, declared or assigned (not a deadline: `const until = Date.now() + 5000`). */
const HELPER = new RegExp(
  [
    /\bfunction\s*\*?\s*(sleep|delay|pause|until|wait)\s*[<(]/.source,
    /\b(?:const|let|var)\s+(sleep|delay|pause|until|wait)\s*=/.source +
      /\s*(?:async\s+)?(?:\(|[\w$]+\s*=>|function\b)/.source,
  ].join('|'),
);

/** Hand-written polling in one file of src/ (by line), judged on its code only. */
export function pollingLoops(text: string): LoopFinding[] {
  const code = codeOnly(text);
  const lines = code.split('\n');
  const found = new Map<number, string[]>();
  const add = (line: number, rule: string) => found.set(line, [...(found.get(line) ?? []), rule]);
  lines.forEach((l, k) => {
    const n = k + 1;
    // The timers, not a socket's or request's own setTimeout method (an idle timeout).
    if (/(?:^|[^.\w$]|\bglobalThis\.)setTimeout\b/.test(l)) add(n, 'setTimeout outside src/poll.ts');
    if (/(?:^|[^.\w$]|\bglobalThis\.)setInterval\b/.test(l)) add(n, 'setInterval');
    const h = HELPER.exec(l);
    if (h) add(n, `a local ${h[1] ?? h[2]} helper`);
    if (/\b(?:while|for)\s*\([^{]*\b(?:Date|performance)\.now\(\)/.test(l)) add(n, 'a deadline loop');
  });
  for (const raw of text.split('\n').entries()) {
    if (/\bfrom\s+['"](?:node:)?timers\/promises['"]/.test(raw[1])) add(raw[0] + 1, 'timers/promises');
  }
  // Loops that await a sleep: the innermost enclosing blocks up to a function body.
  const stack: ('loop' | 'function' | 'block')[] = [];
  const sleeps = [...code.matchAll(AWAIT_SLEEP)].map((m) => m.index);
  let next = 0;
  let line = 1;
  for (let i = 0; i < code.length && next < sleeps.length; i++) {
    if (i === sleeps[next]) {
      next++;
      const lineStart = code.lastIndexOf('\n', i) + 1;
      // A loop whose one statement is the sleep: `for (…) await sleep(1);` (no block between).
      const sameLineLoop = /\b(?:for|while)\s*\([^{}]*$/.test(code.slice(lineStart, i));
      let inLoop = sameLineLoop;
      for (let s = stack.length - 1; s >= 0 && !inLoop; s--) {
        if (stack[s] === 'function') break;
        if (stack[s] === 'loop') inLoop = true;
      }
      if (inLoop) add(line, 'a loop that awaits a sleep');
    }
    const c = code[i];
    if (c === '\n') line++;
    else if (c === '{') stack.push(blockKind(code, i));
    else if (c === '}') stack.pop();
  }
  return [...found.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([l, rules]) => ({ line: l, rule: [...new Set(rules)].join(', ') }));
}

/**
 * Timers and pauses that stay, each a one-shot or a pace, not a wait for a
 * state: a line of `file` containing `code` is allowed, for `why`.
 */
const ALLOWED: { file: string; code: string; why: string }[] = [
  {
    file: 'src/target/local.ts',
    code: 'setTimeout(() => {',
    why: "one-shot: a command's timeout kills its process group",
  },
  {
    file: 'src/target/local.ts',
    code: "setTimeout(() => killGroup(group, 'SIGKILL')",
    why: 'one-shot: SIGKILL after the grace',
  },
  {
    file: 'src/target/ssh.ts',
    code: 'setTimeout(() => {',
    why: "one-shot: a remote command's timeout closes its channel",
  },
  {
    file: 'src/tunnel/tunnel.ts',
    code: "setTimeout(() => p.kill('SIGTERM')",
    why: "one-shot: a tool's timeout",
  },
  {
    file: 'src/tunnel/tunnel.ts',
    code: "setTimeout(() => p.kill('SIGKILL')",
    why: "one-shot: a tool's timeout",
  },
  {
    file: 'src/system/http.ts',
    code: 'const timer = setTimeout(',
    why: "one-shot: a request's --max-time",
  },
  {
    file: 'src/bench/reach.ts',
    code: 'const timer = setTimeout(',
    why: 'one-shot: a DNS query without an answer',
  },
  {
    file: 'src/bench/discovery.ts',
    code: 'await sleep(RELOAD_GAP_MS)',
    why: 'a pace: HAProxy reloads spread over a load run',
  },
  {
    file: 'src/bench/cluster.ts',
    code: 'await sleep(REQUEST_GAP_MS)',
    why: 'a pace: the failover request loop, one request each gap',
  },
];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.ts$/.test(n) && !n.endsWith('.d.ts') ? [p] : [];
  });
}

describe('no polling loop is left outside poll', () => {
  const root = repoPath();
  const sources = files(repoPath('src'))
    .map((f) => ({ file: relative(root, f), text: readFileSync(f, 'utf8') }))
    .filter((s) => s.file !== 'src/poll.ts');

  it('finds the loops it judges, and not what merely looks like them', () => {
    const sample = [
      'const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));', // 1 helper + setTimeout
      'async function until(what: string) {', // 2 helper
      '  while (Date.now() < deadline) {', // 3 deadline loop
      '    await sleep(100);', // 4 loop awaits a sleep
      '  }',
      '  for (;;) {',
      '    if (await ready()) break;',
      '    await this.sys.sleep(200);', // 8 loop awaits a sleep
      '  }',
      '  for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 9));', // 10
      '}',
      "const s = '{ while (Date.now() < x) { await sleep(1) } setTimeout }'; // setTimeout in a string",
      '// while (Date.now() < deadline) await sleep(1) setTimeout', // 13 a comment
      'for (const x of xs) { items.push(async () => { await sleep(5); }); }', // 14 a function body in a loop
      'const until = Date.now() + 5000;', // 15 a deadline, not a helper
      'await sleep(wait);', // 16 a one-off pause
      'const re = /["{]/; while (ok) { await sleep(1); }', // 17 a regex literal with a quote and a brace
      'const t = `${a ? `{` : "}"}`;', // 18 a template in a template
      'do { await delay(5); } while (busy);', // 19
      'sock.setTimeout(5000, () => sock.destroy());', // 20 a socket's idle timeout
      'const id = globalThis.setInterval(tick, 10);', // 21
    ].join('\n');
    expect(pollingLoops(sample)).to.deep.equal([
      { line: 1, rule: 'setTimeout outside src/poll.ts, a local sleep helper' },
      { line: 2, rule: 'a local until helper' },
      { line: 3, rule: 'a deadline loop' },
      { line: 4, rule: 'a loop that awaits a sleep' },
      { line: 8, rule: 'a loop that awaits a sleep' },
      { line: 10, rule: 'setTimeout outside src/poll.ts, a loop that awaits a sleep' },
      { line: 17, rule: 'a loop that awaits a sleep' },
      { line: 19, rule: 'a loop that awaits a sleep' },
      { line: 21, rule: 'setInterval' },
    ]);
  });

  it('reads every source file of src/ (poll.ts aside)', () => {
    expect(sources.length).to.be.greaterThan(100);
    const some = ['src/bench/cluster.ts', 'src/consul/client.ts', 'src/verify/run.ts'];
    expect(sources.map((s) => s.file)).to.include.members(some);
  });

  it('no file under src/ waits by hand: each wait is a poll() call', () => {
    const bad: string[] = [];
    for (const { file, text } of sources) {
      const lines = text.split('\n');
      for (const f of pollingLoops(text)) {
        const src = lines[f.line - 1]!;
        if (ALLOWED.some((a) => a.file === file && src.includes(a.code))) continue;
        bad.push(`${file}:${f.line}: ${f.rule}: ${src.trim().slice(0, 100)}`);
      }
    }
    const say = `hand-written waits (use poll or sleep from src/poll.ts):\n${bad.join('\n')}\n`;
    expect(bad, say).to.deep.equal([]);
  });

  it('every allowed timer is still there (the list stays true)', () => {
    const stale = ALLOWED.filter((a) => {
      const s = sources.find((x) => x.file === a.file);
      return !s || !s.text.split('\n').some((l) => l.includes(a.code));
    }).map((a) => `${a.file}: ${a.code}`);
    expect(stale).to.deep.equal([]);
  });
});
