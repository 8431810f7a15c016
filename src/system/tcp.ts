// TCP facts on a target (and from here): whether a port accepts a connection, and
// ZooKeeper's four-letter words (a word sent, the answer read until the
// server closes). Commands for Target.exec, built on bash's /dev/tcp so the
// target needs no nc.

import { connect } from 'node:net';
import { shq } from '../target/shell.js';

/** Send a ZooKeeper four-letter word and print the answer (ZooKeeper closes after it). */
export function fourLetterCommand(address: string, port: number, word: string, timeoutS = 5): string {
  const script = `exec 3<>/dev/tcp/${address}/${port} || exit 7; printf %s ${shq(word)} >&3; timeout ${timeoutS} cat <&3`;
  return `bash -c ${shq(script)}`;
}

export function tcpConnectCommand(address: string, port: number, timeoutS = 5): string {
  return `timeout ${timeoutS} bash -c ${shq(`exec 3<>/dev/tcp/${address}/${port}`)} && echo open`;
}

/** Whether address:port accepts a connection from this machine within timeoutMs ('' = yes, else why not). */
export function tcpRefusalHere(address: string, port: number, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: address, port });
    const done = (why: string) => {
      s.destroy();
      resolve(why);
    };
    s.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs} ms`));
    s.once('connect', () => done(''));
    s.once('error', (e) => done(e.message));
  });
}
