// The one image format (src/docker/images.ts): what docker prints for it parses
// back, and no other `docker image inspect` format is left in src/.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  ALL_IMAGES_COMMAND,
  IMAGE_FORMAT,
  imageInspectCommand,
  parseImageLine,
} from '../../../src/docker/images.js';
import { codeLinesMatching } from '../../helpers/sources.js';
import { isCI } from '../../helpers/ci.js';

describe('docker images: one format', () => {
  it('parses a line: id, tags, digests, layers, labels (null labels: none); anything else is no image', () => {
    const line =
      'sha256:aa\t["p/a:local","p/a:v1"]\t["p/a@sha256:dd"]\t["sha256:l0","sha256:l1"]\t{"paasbox.hash":"h 1"}\n';
    expect(parseImageLine(line)).to.deep.equal({
      id: 'sha256:aa',
      tags: ['p/a:local', 'p/a:v1'],
      digests: ['p/a@sha256:dd'],
      layers: ['sha256:l0', 'sha256:l1'],
      labels: { 'paasbox.hash': 'h 1' },
    });
    expect(parseImageLine('sha256:bb\tnull\t[]\t[]\tnull')).to.deep.equal({
      id: 'sha256:bb',
      tags: [],
      digests: [],
      layers: [],
      labels: {},
    });
    expect(parseImageLine('')).to.equal(undefined);
    expect(parseImageLine('Error: No such image: x')).to.equal(undefined);
  });

  it('builds its commands with the one format, each ref quoted', () => {
    expect(imageInspectCommand(['a b', 'c'])).to.equal(
      `docker image inspect --format '${IMAGE_FORMAT}' 'a b' c`,
    );
    expect(ALL_IMAGES_COMMAND).to.include(`docker image inspect --format '${IMAGE_FORMAT}'`);
  });

  it('no other file of src/ inspects an image with a format of its own', () => {
    const own = codeLinesMatching(
      (code) => /image inspect|'image',\s*'inspect'/.test(code) && !code.includes('IMAGE_FORMAT'),
      join('docker', 'images.ts'),
    );
    expect(own).to.deep.equal([]);
  });

  it("what this machine's docker prints for it parses back", function () {
    const ids = spawnSync('docker', ['image', 'ls', '-q', '--no-trunc'], { encoding: 'utf8' });
    const first = ids.status === 0 ? ids.stdout.split('\n')[0] : undefined;
    if (!first) {
      if (isCI()) throw new Error('docker with at least one image is needed here');
      return this.skip();
    }
    const out = execFileSync('sh', ['-c', imageInspectCommand([first])], { encoding: 'utf8' });
    const img = parseImageLine(out);
    expect(img?.id).to.equal(first);
    expect(img?.layers.length).to.be.greaterThan(0);
  });
});
