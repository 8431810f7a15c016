import { expect } from 'chai';
import { parseHaproxyCsv } from '../../../src/bench/reach.js';

describe('parseHaproxyCsv (HAProxy /haproxyStats;csv)', () => {
  const csv = [
    '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight',
    'http,FRONTEND,,,0,1,,3,0,0,0,0,0,,,,,OPEN,',
    'svc_python1,10.0.0.2:32768,0,0,0,1,,1,0,0,,0,,0,0,0,0,UP,1',
    'svc_python1,10.0.0.3:32768,0,0,0,1,,1,0,0,,0,,0,0,0,0,DOWN,1',
    'svc_python1,BACKEND,0,0,0,1,,2,0,0,0,0,,0,0,0,0,UP,2',
    'svc_python10,10.0.0.4:32769,0,0,0,1,,1,0,0,,0,,0,0,0,0,UP,1',
    '',
  ].join('\n');

  it('lists the servers of one service backend with their status', () => {
    expect(parseHaproxyCsv(csv, 'python1')).to.deep.equal([
      { backend: 'svc_python1', server: '10.0.0.2:32768', status: 'UP' },
      { backend: 'svc_python1', server: '10.0.0.3:32768', status: 'DOWN' },
    ]);
  });

  it('lists every server without a service and nothing for an unknown one', () => {
    expect(parseHaproxyCsv(csv)).to.have.length(3);
    expect(parseHaproxyCsv(csv, 'nosuch')).to.deep.equal([]);
  });
});
