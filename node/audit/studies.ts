/**
 * Studies on one budget, for the audit (issue 17 item 7; docs/auditor-guide.md "Several
 * studies"): follows the audited study's `predecessor` links back to the first study, fetches
 * each earlier study's event stream (its logs from the deploy block the deployment file lists),
 * checks every study's code is FedmeshFederation's (red team F16: a look-alike predecessor can
 * name any caller) and hands protocol/audit what each member carries in, with the spend per
 * study. Everything read at the audited stream's block.
 */
import { getAddress, ZeroAddress } from 'ethers';
import { checkRuntimeCode } from '../../protocol/audit/code.js';
import type { LocalFinding } from '../../protocol/audit/findings.js';
import {
  carriedInto,
  checkStudyChain,
  type StudySpend,
  type StudyStream,
  studySpendOf,
  studySpendRows,
} from '../../protocol/audit/privacy.js';
import type { AuditDeployment, CompiledCode, StudiesInput, StudyLinkView } from '../../protocol/audit/types.js';
import { FEDMESH_FEDERATION_INTERFACE } from '../chain/federation-ethers.js';
import { MAX_STUDY_CHAIN } from '../chain/study.js';
import { AuditError } from './errors.js';
import { type AuditSource, type FetchCache, fetchAuditStream, openAuditSource } from './fetch.js';

/** `studyChain()` of `address` at `block`; undefined on a deployment from before studies (no such function). */
async function linkOf(source: AuditSource, address: string, block: number): Promise<StudyLinkView | undefined> {
  const data = FEDMESH_FEDERATION_INTERFACE.encodeFunctionData('studyChain', []);
  let raw: string;
  try {
    raw = await source.provider.call({ to: address, data, blockTag: block });
  } catch {
    return undefined;
  }
  try {
    const [predecessor, successor, closed] = FEDMESH_FEDERATION_INTERFACE.decodeFunctionResult('studyChain', raw) as unknown as [
      string,
      string,
      boolean,
    ];
    return {
      ...(predecessor !== ZeroAddress ? { predecessor: getAddress(predecessor) } : {}),
      ...(successor !== ZeroAddress ? { successor: getAddress(successor) } : {}),
      closed,
    };
  } catch {
    return undefined;
  }
}

async function genuine(source: AuditSource, address: string, block: number, compiled: CompiledCode | undefined): Promise<boolean> {
  if (compiled === undefined) return true;
  const code = await source.provider.getCode(address, block);
  return checkRuntimeCode('FedmeshFederation', address, code, compiled) === undefined;
}

/**
 * The chain of studies before `deployment`'s, with its findings, or undefined when the audited
 * study continues none and names no successor. `compiled`: the compiled FedmeshFederation
 * (node/audit/compiled-code.ts), for the code check.
 */
export async function fetchStudies(
  rpc: string,
  source: AuditSource,
  deployment: AuditDeployment,
  block: number,
  cConsts: readonly bigint[],
  compiled: CompiledCode | undefined,
  cache: FetchCache,
): Promise<StudiesInput | undefined> {
  const own = await linkOf(source, deployment.address, block);
  if (own === undefined) return undefined;
  if (own.predecessor === undefined && own.successor === undefined && (deployment.studies ?? []).length === 0) return undefined;
  const blocks = new Map((deployment.studies ?? []).map((s) => [getAddress(s.address), s.deployBlock]));
  const chain: StudyStream[] = [];
  const spends: StudySpend[] = [];
  let at = own.predecessor;
  while (at !== undefined) {
    if (chain.length >= MAX_STUDY_CHAIN) {
      throw new AuditError('AUDIT_CONNECTION', `more than ${MAX_STUDY_CHAIN} studies before ${deployment.address}`, {
        operation: 'follow predecessors',
        reason: 'chain too long',
      });
    }
    const link = (await linkOf(source, at, block)) ?? { closed: false };
    const isGenuine = await genuine(source, at, block, compiled);
    const deployBlock = blocks.get(at);
    let events: StudyStream['events'] = [];
    if (isGenuine && deployBlock !== undefined) {
      // Each earlier study is read like the audited one, at its own address.
      const earlier: AuditDeployment = { ...deployment, address: at, deployBlock, studies: [] };
      const src = await openAuditSource(rpc, earlier);
      try {
        events = (await fetchAuditStream(src, earlier, cache)).events;
      } finally {
        src.close();
      }
    }
    chain.unshift({ address: at, events, link, genuine: isGenuine });
    spends.unshift(studySpendOf(at, events));
    at = link.predecessor;
  }
  chain.push({ address: deployment.address, events: [], link: own, genuine: true });
  let successor: { address: string; genuine: boolean; predecessor?: string } | undefined;
  if (own.closed && own.successor !== undefined && (await source.provider.getCode(own.successor, block)) !== '0x') {
    const link = await linkOf(source, own.successor, block);
    successor = {
      address: own.successor,
      genuine: await genuine(source, own.successor, block, compiled),
      ...(link?.predecessor !== undefined ? { predecessor: link.predecessor } : {}),
    };
  }
  const findings: LocalFinding[] = checkStudyChain(
    chain,
    deployment.studies?.map((s) => s.address),
    successor,
  );
  for (const s of deployment.studies === undefined ? chain.slice(0, -1) : []) {
    if (s.genuine && !blocks.has(s.address)) {
      findings.push({
        code: 'STUDY_CHAIN_MISMATCH',
        severity: 'warning',
        message: `earlier study ${s.address} is not in the deployment file's studies: its records were not read`,
        evidence: { study: s.address },
      });
    }
  }
  return { carried: carriedInto(spends), earlier: studySpendRows(spends, cConsts), link: own, findings };
}
