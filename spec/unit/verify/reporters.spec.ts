// Reporters: spec text groups by host and service and names failures with
// expected vs got; JUnit XML is well-formed (checked by Python's XML parser)
// with the right counts; JSON keeps the report's shape.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { render, renderJunit, xmlEscape } from '../../../src/verify/reporters.js';
import type { VerifyReport } from '../../../src/verify/types.js';

const report: VerifyReport = {
  target: 'root@10.0.0.5:22',
  startedAt: '2026-11-25T14:00:00.123Z',
  seconds: 2.5,
  passed: 1,
  failed: 1,
  skipped: 1,
  results: [
    {
      id: 'consul/http/http:/ui/',
      service: 'consul',
      host: 'h1',
      description: 'GET :8500/ui/ → HTTP 200',
      status: 'passed',
      expected: 'HTTP 200',
      got: 'HTTP 200 (10 bytes)',
      attempts: 1,
      seconds: 0.1,
    },
    {
      id: 'haproxy/stats/http:/haproxyStats',
      service: 'haproxy',
      host: 'h1',
      description: 'GET :81/haproxyStats → HTTP 200, body includes "Statistics Report"',
      status: 'failed',
      expected: 'HTTP 200, body includes "Statistics <Report>" & more',
      got: 'no answer: curl: (7) Failed to connect \u0001',
      attempts: 2,
      seconds: 1.2,
    },
    {
      id: 'marathon/http/http:/ping',
      service: 'marathon',
      host: 'h1',
      description: 'GET :8080/ping → HTTP 200',
      status: 'skipped',
      expected: '',
      got: '',
      reason: 'not provided by image source "local"',
      attempts: 0,
      seconds: 0,
    },
  ],
};

function python(): boolean {
  try {
    execFileSync('python3', ['-c', 'pass']);
    return true;
  } catch {
    return false;
  }
}

describe('verify reporters', () => {
  it('spec: groups by host and service, each check once, a shared skip reason once per service, one summary line', () => {
    const text = render(report, 'spec');
    expect(text).to.match(/^h1\n {2}consul\n {4}✓ GET :8500\/ui\//);
    expect(text).to.include('  haproxy\n    ✗ GET :81/haproxyStats');
    expect(text).to.include(
      '        expected: HTTP 200, body includes "Statistics <Report>" & more\n        got:      no answer',
    );
    expect(text).to.include(
      '  marathon (skipped: not provided by image source "local")\n    - GET :8080/ping → HTTP 200\n',
    );
    expect(text.match(/not provided by image source/g)).to.have.length(1);
    expect(text.match(/GET :81\/haproxyStats/g)).to.have.length(1);
    expect(text.trim().split('\n').pop()).to.match(/^1 passed, 1 failed, 1 skipped in \d+\.\ds on /);
    expect(text).to.not.include('\x1b[');
    expect(render(report, 'spec', { colour: true })).to.include('\x1b[31m✗\x1b[0m');
  });

  it('junit: well-formed XML with counts, failure and skipped elements', function () {
    const xml = renderJunit([report]);
    if (!python()) {
      console.log('    (skipped: python3 is not installed, cannot parse the XML independently)');
      this.skip();
    }
    const summary = execFileSync(
      'python3',
      [
        '-c',
        `import sys, xml.etree.ElementTree as ET
r = ET.fromstring(sys.stdin.read())
s = r.find('testsuite')
print(r.get('tests'), r.get('failures'), r.get('skipped'), s.get('name'), len(s.findall('testcase')), s.find('testcase/failure').get('message'), s.find('testcase/skipped').get('message'))`,
      ],
      { input: xml },
    ).toString();
    expect(summary.trim()).to.equal(
      '3 1 1 h1 3 expected HTTP 200, body includes "Statistics <Report>" & more, got no answer: curl: (7) Failed to connect  not provided by image source "local"',
    );
  });

  it('escapes XML specials and drops characters XML cannot carry', () => {
    expect(xmlEscape('<a href="x">&\'\u0001')).to.equal('&lt;a href=&quot;x&quot;&gt;&amp;&apos;');
  });

  it('json: the report as is, parseable', () => {
    const back = JSON.parse(render(report, 'json')) as VerifyReport;
    expect(back).to.deep.equal(report);
    expect(Object.keys(back)).to.deep.equal([
      'target',
      'startedAt',
      'seconds',
      'passed',
      'failed',
      'skipped',
      'results',
    ]);
  });
});
