/**
 * Typed start-up and run-time refusals of the node daemon (STYLE.md §10): each names what was
 * wrong so an operator can act on it without reading the code.
 */
import { FedmeshError } from '../../protocol/errors.js';

export interface DaemonErrorFields {
  /** The manifest this node was given hashes differently from the one fixed on chain. */
  NODE_MANIFEST_MISMATCH: { manifest: string; local: string; onChain: string };
  /** The federation records no manifest hash (zero), so this node cannot check its settings. */
  NODE_MANIFEST_UNRECORDED: { manifest: string; local: string };
  /**
   * The federation's δ is not the manifest's, or a c_α lane is not `cAlpha(δ)` (red team F10):
   * the ε the contract checks caps against would not be the manifest's guarantee. Values are
   * decimal strings: δ as a number (`delta`) or c_α in 1e-6 units (`cAlpha`, with lane/order).
   */
  NODE_PRIVACY_CONSTANTS_MISMATCH: { field: 'delta' | 'cAlpha'; lane?: number; order?: number; manifest: string; onChain: string };
  /** The initial model built from the manifest is not the federation's. */
  NODE_INITIAL_MODEL_MISMATCH: { local: string; onChain: string };
  /** This node's account is not an active member, or is registered with another peer id. */
  NODE_NOT_MEMBER: { address: string; peerId: string; status: string; registeredPeerId: string };
  /** The deployment file is missing or malformed. */
  NODE_DEPLOYMENT_INVALID: { path: string; reason: string };
  /** The data kind is not supported by the daemon. */
  NODE_DATA_UNSUPPORTED: { kind: string };
  /** The state folder cannot be created or written. */
  NODE_STATE_UNWRITABLE: { path: string; reason: string };
  /** A listen address (network.listen or the ops port) is taken or not usable. */
  NODE_PORT_IN_USE: { field: string; address: string };
  /** The own model folder (manifest `model.path`) is not the one the manifest's `model.sourceHash` names. */
  NODE_MODEL_SOURCE_MISMATCH: { field: string; path: string; expected?: string; actual?: string };
  /**
   * The study continues the budgets of an earlier one through a link this node cannot trust (red
   * team F16): an earlier study in the chain is not FedmeshFederation code, or a predecessor
   * does not name the study after it. `findings`: the audit's error codes with the study each names.
   */
  NODE_STUDY_LINEAGE_UNTRUSTED: { study: string; findings: { code: string; study: string }[] };
  /** No connected member could serve the chain's head model. */
  NODE_CATCH_UP_FAILED: { modelHash: string; tried: number; reasons: string[] };
}

export type DaemonErrorCode = keyof DaemonErrorFields;

export class DaemonError<C extends DaemonErrorCode = DaemonErrorCode> extends FedmeshError<C, DaemonErrorFields[C]> {}
