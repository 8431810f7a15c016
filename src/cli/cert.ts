// `paasbox cert add|list|rm|renew`: the certificates of the apps' public
// names that every host's HAProxy serves on :443 (Consul K/V paasbox/certs/,
// src/acme/). add stores the operator's own (checked here first: PEM, the
// key matches, it covers DOMAIN, not expired; ACME never replaces it), renew
// asks the stack's ACME renewer for a new one now and waits for its result.
// Over SSH on the stage (its first master) with the management token, as deploy.

import type { Command } from 'commander';
import { renderTable } from '../scheduler/apps-view.js';
import {
  addOperatorCert,
  askRenewal,
  awaitRenewal,
  CERT_TABLE_HEAD,
  certTableRows,
  consulOnStage,
  operatorBundle,
  removeCert,
} from '../acme/ops.js';
import { certStoreOnTarget, domainArg, type CertStatus, type CertStore } from '../acme/store.js';
import type { Deployment } from '../stackfile/deployment.js';
import { intArg, jsonOption, stageOptions, subcommand } from './program.js';
import { deployedStack, openStage, type StageFlags } from './stage.js';

interface CertFlags extends StageFlags {
  json?: boolean;
  /** cert add: the SSH key (--key is the certificate's). */
  sshKey?: string;
  cert?: string;
  key?: string;
  /** --wait true (default), --no-wait false. */
  wait?: boolean;
  timeout: number;
}

/** The store on the stage, with the deployed stack's record; the target closed after fn. */
async function withStore<T>(
  f: CertFlags,
  fn: (store: CertStore, d: Deployment, domain: (raw: string) => string) => Promise<T>,
): Promise<T> {
  const stage = await openStage(f);
  try {
    const { deployment } = await deployedStack(stage);
    const stackDomain = deployment.meta.domain;
    const store = await certStoreOnTarget(consulOnStage(stage.target, deployment), stackDomain);
    return await fn(store, deployment, (raw) => domainArg(raw, stackDomain));
  } finally {
    await stage.target.close();
  }
}

type Renewed = { domain: string; asked: string; status?: CertStatus };

const out = (f: CertFlags, doc: unknown, human: string) =>
  process.stdout.write(f.json ? JSON.stringify(doc, null, 2) + '\n' : human);

export function defineCert(cmd: Command): Command {
  cmd.description(
    "the certificates of the apps' public names (HTTPS on :443): add your own, list, rm, renew through ACME",
  );

  // --key is the certificate's key here: the SSH key is --ssh-key.
  stageOptions(
    subcommand(cmd, 'add <domain>', 'store your own certificate for DOMAIN (ACME never replaces it)'),
    '--ssh-key',
  )
    .requiredOption('--cert <file>', 'the PEM certificate, its chain after it')
    .requiredOption(
      '--key <file>',
      'its PEM private key (unencrypted; sent on stdin over SSH, never in argv)',
    )
    .addOption(jsonOption())
    .action(async (raw: string, f: CertFlags) => {
      // Checked here, before anything is opened: a bad file touches no host.
      const domain = domainArg(raw);
      const bundle = operatorBundle(domain, f.cert!, f.key!);
      const { sshKey, key: _certKey, ...stage } = f;
      const status = await withStore(
        { ...stage, ...(sshKey ? { key: sshKey } : {}) },
        async (store, _d, checked) => {
          checked(raw);
          return addOperatorCert(store, domain, bundle);
        },
      );
      out(
        f,
        { domain, ...status, names: bundle.facts.names },
        `stored the certificate for ${domain} (until ${status.notAfter}, issuer ${status.issuer}); ` +
          'every HAProxy serves it within seconds\n',
      );
    });

  stageOptions(subcommand(cmd, 'list', 'every certificate and claimed public name, failed ones first'))
    .addOption(jsonOption())
    .action(async (f: CertFlags) => {
      const { rows, directory } = await withStore(f, async (store, d) => ({
        rows: await store.rows(),
        directory: d.meta.acme?.directory,
      }));
      const acme = directory ? `ACME directory ${directory}` : 'no ACME directory (acme: in paasbox.yaml)';
      const kept = "ACME's certificates of names no app claims any more are removed; the operator's stay";
      out(
        f,
        { acme: { directory: directory ?? null }, certificates: rows },
        rows.length
          ? renderTable(CERT_TABLE_HEAD, certTableRows(rows)) + `${acme}; ${kept}\n`
          : `no certificates and no public names yet; ${acme}\n`,
      );
    });

  stageOptions(subcommand(cmd, 'rm <domain>', "remove DOMAIN's certificate (and its last result)"))
    .addOption(jsonOption())
    .action(async (raw: string, f: CertFlags) => {
      domainArg(raw);
      const r = await withStore(f, async (store, d, checked) => {
        const domain = checked(raw);
        return { domain, ...(await removeCert(store, domain)), acme: !!d.meta.acme?.directory };
      });
      const note = !r.claimedBy
        ? ''
        : r.acme
          ? `; app ${r.claimedBy} claims it: the ACME renewer gets it a new one within the hour (paasbox cert renew ${r.domain}: now)`
          : `; app ${r.claimedBy} claims it and is served with the stack's own certificate until one is added`;
      out(
        f,
        { removed: r.domain, claimedBy: r.claimedBy ?? null },
        `removed the certificate of ${r.domain}${note}\n`,
      );
    });

  stageOptions(
    subcommand(cmd, 'renew <domain>', 'ask the ACME renewer for a new certificate now, and wait for it'),
  )
    .option('--no-wait', 'return once the renewal is asked for')
    .option('--timeout <seconds>', 'seconds to wait for the result', intArg('--timeout', 1, 86_400), 300)
    .addOption(jsonOption())
    .action(async (raw: string, f: CertFlags) => {
      domainArg(raw);
      const r = await withStore(f, async (store, d, checked): Promise<Renewed> => {
        const domain = checked(raw);
        const asked = await askRenewal(store, domain, d.meta.acme?.directory);
        if (f.wait === false) return { domain, asked };
        if (!f.json)
          process.stderr.write(`asked for a new certificate for ${domain}; waiting for the renewer\n`);
        const status = await awaitRenewal(store, domain, asked, f.timeout * 1000, (n) => {
          if (!f.json && n % 15 === 0) process.stderr.write(`  still waiting (${n * 2} s)\n`);
        });
        return { domain, asked, status };
      });
      out(
        f,
        r,
        r.status
          ? `new certificate for ${r.domain}: until ${r.status.notAfter}, issuer ${r.status.issuer}\n`
          : `asked for a new certificate for ${r.domain} at ${r.asked}; paasbox cert list shows the result\n`,
      );
    });
  return cmd;
}
