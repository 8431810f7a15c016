import { expect } from 'chai';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  hostDebianMirror,
  parseDeb822Sources,
  parseSourcesList,
  pickDebianMirror,
} from '../../src/images/apt-sources.js';

// Example mirror names only; nothing here is contacted.
const DEB822 = `Types: deb
# a comment inside the stanza
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
`;

describe('apt sources', () => {
  it('parses deb822 stanzas, comments and trailing slashes', () => {
    const s = parseDeb822Sources(DEB822);
    expect(s).to.have.length(2);
    expect(s[0]).to.deep.include({
      types: ['deb'],
      uris: ['http://mirror.example/debian/'],
      suites: ['bookworm', 'bookworm-updates'],
      enabled: true,
    });
    expect(pickDebianMirror(s)).to.equal('http://mirror.example/debian');
  });

  it('skips disabled stanzas and deb-src', () => {
    const text = `Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n\nTypes: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://on.example/debian\nSuites: bookworm\n`;
    expect(pickDebianMirror(parseDeb822Sources(text))).to.equal('http://on.example/debian');
  });

  it('parses one-line sources with options and comments', () => {
    const text = `# deb http://commented.example/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main contrib # tail comment
deb http://security.example/debian-security bookworm-security main
`;
    const s = parseSourcesList(text);
    expect(s).to.have.length(2);
    expect(s[0]).to.deep.include({
      uris: ['http://one.example/debian'],
      suites: ['bookworm'],
      components: ['main', 'contrib'],
    });
    expect(pickDebianMirror(s)).to.equal('http://one.example/debian');
  });

  it('never picks a security or updates-only source', () => {
    const s = parseSourcesList(
      'deb http://security.example/debian-security bookworm-security main\ndeb http://x.example/debian bookworm-updates main\n',
    );
    expect(pickDebianMirror(s)).to.equal(undefined);
  });

  it('prefers the source that lists the asked suite', () => {
    const s = parseSourcesList(
      'deb http://old.example/debian bullseye main\ndeb http://new.example/debian bookworm main\n',
    );
    expect(pickDebianMirror(s, 'bookworm')).to.equal('http://new.example/debian');
    expect(pickDebianMirror(s, 'trixie')).to.equal('http://old.example/debian');
  });

  it('reads sources.list and sources.list.d from an apt root, ignoring other files', async () => {
    const root = await mkdtemp(join(tmpdir(), 'apt-'));
    try {
      await mkdir(join(root, 'sources.list.d'));
      await writeFile(join(root, 'sources.list.d', 'debian.sources'), DEB822);
      await writeFile(
        join(root, 'sources.list.d', 'other.list.disabled'),
        'deb http://disabled.example/debian bookworm main\n',
      );
      expect(await hostDebianMirror('bookworm', root)).to.equal('http://mirror.example/debian');
      await writeFile(join(root, 'sources.list'), 'deb http://first.example/debian bookworm main\n');
      expect(await hostDebianMirror('bookworm', root)).to.equal('http://first.example/debian');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
