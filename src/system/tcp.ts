// TCP facts on a target: whether a port accepts a connection, and
// ZooKeeper's four-letter words (a word sent, the answer read until the
// server closes). Commands for Target.exec, built on bash's /dev/tcp so the
// target needs no nc.

import { shq } from '../target/shell.js';

/** Send a ZooKeeper four-letter word and print the answer (ZooKeeper closes after it). */
export function fourLetterCommand(address: string, port: number, word: string, timeoutS = 5): string {
  const script = `exec 3<>/dev/tcp/${address}/${port} || exit 7; printf %s ${shq(word)} >&3; timeout ${timeoutS} cat <&3`;
  return `bash -c ${shq(script)}`;
}

export function tcpConnectCommand(address: string, port: number, timeoutS = 5): string {
  return `timeout ${timeoutS} bash -c ${shq(`exec 3<>/dev/tcp/${address}/${port}`)} && echo open`;
}
