// Joining a swarm without the join token in any process's argv (`docker swarm
// join --token` would put it in docker's): the Docker Engine API's POST
// /swarm/join over the unix socket, its JSON body read from stdin.
import { shq } from '../target/shell.js';

/**
 * The join command: perl (perl-base is Essential on Debian, curl is not on
 * every host) posts swarmJoinBody, read from stdin, to /swarm/join.
 * Prints `HTTP CODE: message` to stderr and exits 1 unless Docker answers 200.
 */
export const swarmJoinCommand = (socket = '/var/run/docker.sock'): string =>
  `perl -MIO::Socket::UNIX -e '${[
    'local $/; my $b = <STDIN>;',
    'my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "$ARGV[0]: $!\\n";',
    'print $s "POST /swarm/join HTTP/1.0\\r\\nHost: docker\\r\\nContent-Type: application/json\\r\\n"',
    '. "Content-Length: " . length($b) . "\\r\\n\\r\\n" . $b;',
    'my $r = <$s>; my ($c) = $r =~ m{^HTTP/\\S+ (\\d+)}; my ($m) = $r =~ m{\\r\\n\\r\\n(.*)}s;',
    'exit 0 if ($c // 0) == 200; print STDERR "HTTP " . ($c // "?") . ": " . ($m // $r // "") . "\\n"; exit 1;',
  ].join(' ')}' ${shq(socket)}`;

/** The body of POST /swarm/join (Docker Engine API): sent over stdin only, it holds the join token. */
export function swarmJoinBody(token: string, remote: string, advertiseAddr?: string): string {
  const advertise = advertiseAddr ? { AdvertiseAddr: advertiseAddr } : {};
  return JSON.stringify({
    ListenAddr: '0.0.0.0:2377',
    ...advertise,
    RemoteAddrs: [remote],
    JoinToken: token,
  });
}
