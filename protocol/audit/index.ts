/**
 * The auditor's pure core (issue #7, docs/auditor-guide.md): checks over an already-fetched
 * FedmeshFederation event stream. node/audit/ fetches the stream and renders the report.
 */
export { checkArtifact } from './artifacts.js';
export { audit } from './audit.js';
export { checkCommittee } from './committee.js';
export { finding, jsonSafe, sortFindings } from './findings.js';
export { MembershipReplay } from './membership.js';
export { checkDeclaredSpend } from './privacy.js';
export { checkFinalizeSignatures, recoverSigner } from './signatures.js';
export * from './types.js';
