import { expect } from 'chai';
import { PaasboxError } from '../../../src/errors.js';
import { formatHostSpec, parseHostSpec } from '../../../src/target/parse.js';

describe('parseHostSpec', () => {
  const ok: Array<[string, { user: string; host: string; port: number }]> = [
    ['root@10.0.0.5', { user: 'root', host: '10.0.0.5', port: 22 }],
    ['deploy@example.org:2222', { user: 'deploy', host: 'example.org', port: 2222 }],
    ['10.0.0.5', { user: 'root', host: '10.0.0.5', port: 22 }],
    ['vagrant@127.0.0.1:2200', { user: 'vagrant', host: '127.0.0.1', port: 2200 }],
    ['root@[fd00::5]:22', { user: 'root', host: 'fd00::5', port: 22 }],
    ['root@[::1]', { user: 'root', host: '::1', port: 22 }],
    ['  docker@boot2docker  ', { user: 'docker', host: 'boot2docker', port: 22 }],
  ];
  for (const [input, want] of ok) {
    it(`parses "${input}"`, () => expect(parseHostSpec(input)).to.deep.equal(want));
  }

  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['root@', /address is missing/],
    ['root@host:0', /port "0"/],
    ['root@host:70000', /port "70000"/],
    ['root@host:ssh', /port "ssh"/],
    ['root@host:', /port ""/],
    ['root@fd00::5', /brackets/],
    ['root@[fd00::5', /not closed/],
    ['root@[fd00::5]x', /unexpected "x"/],
    ['ro ot@host', /not a user name/],
    ['root@ho st', /not a hostname/],
    ['root@host_name', /not a hostname/],
    ['root@300.1.1.1', /not an IPv4/],
    ['root@1.2.3', /not an IPv4/],
    ['root@-host', /not a hostname/],
  ];
  for (const [input, why] of bad) {
    it(`rejects "${input}" naming the input, the problem and the expected form`, () => {
      let err: unknown;
      try {
        parseHostSpec(input);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(PaasboxError);
      const e = err as PaasboxError;
      expect(e.problem).to.include(`"${input}"`).and.match(why);
      expect(e.fix).to.include('user@address[:port]');
    });
  }

  it('round-trips through formatHostSpec', () => {
    expect(formatHostSpec(parseHostSpec('a@[fd00::1]:2'))).to.equal('a@[fd00::1]:2');
    expect(formatHostSpec(parseHostSpec('h'))).to.equal('root@h:22');
  });
});
