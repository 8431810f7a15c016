import { expect } from 'chai';
import {
  chainIds,
  layerFilesToKeep,
  parseInventory,
  planPush,
  resolveLink,
  type ImageLayers,
  type TargetImage,
} from '../../src/images/push-plan.js';

// Real diff ids of paasbox/dnsmasq:local's first three layers and the chain
// ids docker's layer store (/var/lib/docker/image/overlay2/layerdb/sha256/)
// filed them under.
const DIFFS = [
  'sha256:682d9bf079875902f5a8511feff0d366994830e1535c054febcab17950843141',
  'sha256:9f1b4c579a0830d3c63c43b0e358bfb5bc5f847bd8b365b36d0f3884ae9cd51f',
  'sha256:c1aaa9d1007e0cfe539ce5b6c3f7efbba47275c82ed10b97c1d571e22ad60b18',
];
const CHAINS = [
  'sha256:682d9bf079875902f5a8511feff0d366994830e1535c054febcab17950843141',
  'sha256:d6c997fe57063d8e428310e48d00a2de75192f97a09b529a097c13b5fee36847',
  'sha256:08117ab2617e171999663a4ab522f608fc3ab481440073166cd9cd1559ea8dc1',
];

describe('image push planning', () => {
  it('computes chain ids as docker does', () => {
    expect(chainIds(DIFFS)).to.deep.equal(CHAINS);
    expect(chainIds([])).to.deep.equal([]);
  });

  // Five images on one base layer, like the stack's.
  const here: Record<string, ImageLayers> = {
    'p/base:local': { id: 'sha256:base', layers: ['sha256:b0'] },
    'p/a:local': { id: 'sha256:a', layers: ['sha256:b0', 'sha256:a1'] },
    'p/b:local': { id: 'sha256:b', layers: ['sha256:b0', 'sha256:b1', 'sha256:b2'] },
  };
  const refs = ['p/a:local', 'p/b:local'];

  it('a bare host gets everything in one archive, the shared base layer counted once', () => {
    const p = planPush(refs, here, []);
    expect(p).to.deep.include({ present: [], tag: [], load: refs, layersPresent: 0, layersToSend: 4 });
  });

  it('a host lacking one image gets only that one, without the layers it has', () => {
    const there: TargetImage[] = [
      { id: 'sha256:a', layers: ['sha256:b0', 'sha256:a1'], tags: ['p/a:local'] },
    ];
    const p = planPush(refs, here, there);
    expect(p).to.deep.include({
      present: ['p/a:local'],
      tag: [],
      load: ['p/b:local'],
      layersPresent: 1,
      layersToSend: 2,
    });
    expect(p.targetChains.has('sha256:b0')).to.equal(true);
  });

  it('the same image under another name is only tagged; a rebuilt image (same tag, new id) is sent', () => {
    const there: TargetImage[] = [
      { id: 'sha256:a', layers: ['sha256:b0', 'sha256:a1'], tags: ['old/name:1'] },
      { id: 'sha256:b-old', layers: ['sha256:b0', 'sha256:b1'], tags: ['p/b:local'] },
    ];
    const p = planPush(refs, here, there);
    expect(p.tag).to.deep.equal([{ ref: 'p/a:local', id: 'sha256:a' }]);
    expect(p.load).to.deep.equal(['p/b:local']);
    // b0 and the chain b0+b1 are there: only b2 travels.
    expect([p.layersPresent, p.layersToSend]).to.deep.equal([2, 1]);
  });

  it('a layer with the same diff id on another base is not "present" (chains differ)', () => {
    const there: TargetImage[] = [{ id: 'sha256:x', layers: ['sha256:other', 'sha256:a1'], tags: ['x:1'] }];
    expect(planPush(['p/a:local'], here, there)).to.deep.include({ layersPresent: 0, layersToSend: 2 });
  });

  it('keeps only the layer files of missing chains, and the files their symlinks point at', () => {
    const manifest = [
      { Config: 'a.json', Layers: ['l0/layer.tar', 'l1/layer.tar'] },
      { Config: 'b.json', Layers: ['m0/layer.tar', 'm1/layer.tar', 'm2/layer.tar'] },
    ];
    const diffs: Record<string, string[]> = {
      'a.json': ['sha256:b0', 'sha256:a1'],
      'b.json': ['sha256:b0', 'sha256:b1', 'sha256:b2'],
    };
    // m0 is docker save's link to the shared base; m2 links to l1 (the same content at another depth).
    const symlinks = {
      'm0/layer.tar': resolveLink('m0/layer.tar', '../l0/layer.tar'),
      'm2/layer.tar': resolveLink('m2/layer.tar', '../l1/layer.tar'),
    };
    expect(symlinks).to.deep.equal({ 'm0/layer.tar': 'l0/layer.tar', 'm2/layer.tar': 'l1/layer.tar' });
    const targetHas = new Set(chainIds(['sha256:b0', 'sha256:a1']));
    const keep = layerFilesToKeep(manifest, (c) => diffs[c]!, targetHas, symlinks);
    expect([...keep].sort()).to.deep.equal(['l1/layer.tar', 'm1/layer.tar', 'm2/layer.tar']);
  });

  it('parses the target inventory', () => {
    // What docker 20.10 prints for IMAGE_FORMAT (id, tags, digests, layers, labels; tab-separated).
    const out =
      'zstd\nsha256:1\t["p/a:local","p/a:latest"]\t[]\t["sha256:b0","sha256:a1"]\t{"a":"b c"}\n' +
      'sha256:2\t[]\t["p/b@sha256:9"]\t["sha256:b0"]\tnull\ngarbage\n';
    expect(parseInventory(out)).to.deep.equal([
      { id: 'sha256:1', layers: ['sha256:b0', 'sha256:a1'], tags: ['p/a:local', 'p/a:latest'] },
      { id: 'sha256:2', layers: ['sha256:b0'], tags: [] },
    ]);
  });
});
