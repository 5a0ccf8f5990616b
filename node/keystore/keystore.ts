/**
 * The node keystore: the libp2p Ed25519 identity and the Ethereum account, both encrypted
 * with the operator's passphrase.
 *
 * - `ethereum.json`: the standard Web3 Secret Storage JSON (scrypt + AES-128-CTR + keccak MAC)
 *   written by ethers' `encryptKeystoreJson`, so any Ethereum tool can open it.
 * - `identity.json`: the libp2p private key (its protobuf encoding) sealed with scrypt
 *   (RFC 7914) → AES-256-GCM (NIST SP 800-38D), the key type and peer id as associated data so
 *   a file cannot be relabelled. Same KDF parameters as the Ethereum file.
 *
 * Files are written with mode 0600 through a temporary file and an atomic rename.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gcm } from '@noble/ciphers/aes.js';
import { scrypt } from '@noble/hashes/scrypt.js';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { decryptKeystoreJson, encryptKeystoreJson, Wallet } from 'ethers';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { FedmeshError } from '../../protocol/errors.js';
import { utf8, wipe } from '../../protocol/bytes.js';

export type KeystoreErrorCode =
  | 'KEYSTORE_EXISTS'
  | 'KEYSTORE_MISSING'
  | 'KEYSTORE_BAD_PASSPHRASE'
  | 'KEYSTORE_CORRUPT'
  | 'KEYSTORE_NO_PASSPHRASE'
  | 'KEYSTORE_PASSPHRASE_UNREADABLE'
  | 'KEYSTORE_UNREADABLE'
  | 'KEYSTORE_WEAK_PASSPHRASE';
export class KeystoreError extends FedmeshError<KeystoreErrorCode> {}

export const IDENTITY_FILE = 'identity.json';
export const ETHEREUM_FILE = 'ethereum.json';

/** scrypt cost. 2^17 is the Web3 Secret Storage default (~1 s per unlock here); tests lower it. */
export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}
export const DEFAULT_SCRYPT: ScryptParams = { N: 1 << 17, r: 8, p: 1 };

interface SealedIdentity {
  version: 1;
  type: 'libp2p-ed25519';
  peerId: string;
  kdf: 'scrypt';
  kdfparams: { N: number; r: number; p: number; salt: string; dklen: 32 };
  cipher: 'aes-256-gcm';
  iv: string;
  ciphertext: string;
}

export interface NodeKeys {
  readonly privateKey: PrivateKey;
  readonly peerId: string;
  readonly wallet: Wallet;
}

function atomicWrite(path: string, data: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
}

function sealIdentity(key: PrivateKey, passphrase: string, params: ScryptParams): SealedIdentity {
  const peerId = peerIdFromPrivateKey(key).toString();
  const salt = randomBytes(32);
  const iv = randomBytes(12);
  const dk = scrypt(utf8(passphrase), salt, { ...params, dkLen: 32 });
  const plain = privateKeyToProtobuf(key);
  const ciphertext = gcm(dk, iv, utf8(`fedmesh/identity/v1|libp2p-ed25519|${peerId}`)).encrypt(plain);
  wipe(dk);
  wipe(plain);
  return {
    version: 1,
    type: 'libp2p-ed25519',
    peerId,
    kdf: 'scrypt',
    kdfparams: { ...params, salt: bytesToHex(salt), dklen: 32 },
    cipher: 'aes-256-gcm',
    iv: bytesToHex(iv),
    ciphertext: bytesToHex(ciphertext),
  };
}

function openIdentity(json: string, passphrase: string, path: string): PrivateKey {
  let s: SealedIdentity;
  try {
    s = JSON.parse(json) as SealedIdentity;
    if (s.version !== 1 || s.kdf !== 'scrypt' || s.cipher !== 'aes-256-gcm') throw new Error('unsupported format');
  } catch (e) {
    throw new KeystoreError('KEYSTORE_CORRUPT', `${path} is not a fedmesh identity file`, { path, reason: String(e) });
  }
  const { N, r, p, salt } = s.kdfparams;
  const dk = scrypt(utf8(passphrase), hexToBytes(salt), { N, r, p, dkLen: 32 });
  let plain: Uint8Array;
  try {
    plain = gcm(dk, hexToBytes(s.iv), utf8(`fedmesh/identity/v1|libp2p-ed25519|${s.peerId}`)).decrypt(hexToBytes(s.ciphertext));
  } catch {
    throw new KeystoreError('KEYSTORE_BAD_PASSPHRASE', `wrong passphrase for ${path} (or the file was altered)`, { path });
  } finally {
    wipe(dk);
  }
  const key = privateKeyFromProtobuf(plain);
  wipe(plain);
  if (peerIdFromPrivateKey(key).toString() !== s.peerId) {
    throw new KeystoreError('KEYSTORE_CORRUPT', `${path}: key does not match its peer id`, { path, peerId: s.peerId });
  }
  return key;
}

/** Create both keys in `dir`. Refuses to overwrite an existing keystore. */
export async function createKeystore(dir: string, passphrase: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<NodeKeys> {
  if (passphrase.length === 0) throw new KeystoreError('KEYSTORE_NO_PASSPHRASE', 'the passphrase is empty', { dir });
  const idPath = join(dir, IDENTITY_FILE);
  const ethPath = join(dir, ETHEREUM_FILE);
  for (const p of [idPath, ethPath]) {
    if (existsSync(p)) throw new KeystoreError('KEYSTORE_EXISTS', `${p} already exists; refusing to overwrite a key`, { path: p });
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const privateKey = await generateKeyPair('Ed25519');
  const wallet = Wallet.createRandom();
  atomicWrite(idPath, `${JSON.stringify(sealIdentity(privateKey, passphrase, params), null, 2)}\n`);
  const ethJson = await encryptKeystoreJson({ address: wallet.address, privateKey: wallet.privateKey }, passphrase, { scrypt: params });
  atomicWrite(ethPath, `${ethJson}\n`);
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), wallet: new Wallet(wallet.privateKey) };
}

/** A keystore file's text; KEYSTORE_UNREADABLE naming it (permissions, a folder) instead of an fs error. */
function readKeyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    const reason = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'a folder, not a file' : String(e);
    throw new KeystoreError('KEYSTORE_UNREADABLE', `${path}: ${reason} (the node must run as the account that owns the keystore)`, {
      path,
      reason,
    });
  }
}

export async function loadKeystore(dir: string, passphrase: string): Promise<NodeKeys> {
  const idPath = join(dir, IDENTITY_FILE);
  const ethPath = join(dir, ETHEREUM_FILE);
  for (const p of [idPath, ethPath]) {
    if (!existsSync(p)) throw new KeystoreError('KEYSTORE_MISSING', `${p} not found; run \`fedmesh node init\` first`, { path: p });
  }
  const privateKey = openIdentity(readKeyFile(idPath), passphrase, idPath);
  let account: { privateKey: string };
  try {
    account = await decryptKeystoreJson(readKeyFile(ethPath), passphrase);
  } catch (e) {
    const bad = e instanceof Error && 'code' in e && (e as { code?: string }).code === 'INVALID_ARGUMENT';
    throw new KeystoreError(bad ? 'KEYSTORE_BAD_PASSPHRASE' : 'KEYSTORE_CORRUPT', `cannot open ${ethPath}`, {
      path: ethPath,
      reason: String(e),
    });
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), wallet: new Wallet(account.privateKey) };
}

/**
 * A new keystore's passphrase rule. The keystore files can be copied and attacked offline, where
 * only scrypt's cost and the passphrase's entropy stand in the way; NIST SP 800-63B-4 §3.1.1.2
 * asks at least 15 characters for a single-factor password, and at least 8 with a second factor.
 * We ask 12 characters with at least 6 distinct ones: a length floor that rules out short words
 * and PINs, and a variety floor that rules out `aaaaaaaaaaaa`-style fillers.
 */
export const PASSPHRASE_RULE = { minLength: 12, minDistinct: 6 } as const;

/** Throws KEYSTORE_WEAK_PASSPHRASE naming the rule (never the passphrase) when it is too weak. */
export function assertPassphraseStrength(passphrase: string): void {
  const length = [...passphrase].length;
  const distinct = new Set(passphrase).size;
  if (length < PASSPHRASE_RULE.minLength || distinct < PASSPHRASE_RULE.minDistinct) {
    throw new KeystoreError(
      'KEYSTORE_WEAK_PASSPHRASE',
      `the passphrase has ${length} characters (${distinct} distinct); a keystore needs at least ${PASSPHRASE_RULE.minLength} characters with at least ${PASSPHRASE_RULE.minDistinct} distinct`,
      { length, distinct, ...PASSPHRASE_RULE },
    );
  }
}

/**
 * The passphrase, from (in order) an explicit value, a file, or an environment variable.
 * Interactive prompting is the CLI's job; the library never reads a TTY.
 */
export function resolvePassphrase(src: { value?: string; file?: string; env?: NodeJS.ProcessEnv; envVar?: string }): string {
  if (src.value !== undefined && src.value !== '') return src.value;
  if (src.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(src.file, 'utf8');
    } catch (e) {
      const code = (e as { code?: string }).code;
      const reason = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'permission denied' : e instanceof Error ? e.message : String(e);
      throw new KeystoreError('KEYSTORE_PASSPHRASE_UNREADABLE', `passphrase file ${src.file}: ${reason}`, { path: src.file, reason });
    }
    return text.replace(/\r?\n$/, '');
  }
  const v = (src.env ?? process.env)[src.envVar ?? 'FEDMESH_PASSPHRASE'];
  if (v !== undefined && v !== '') return v;
  throw new KeystoreError(
    'KEYSTORE_NO_PASSPHRASE',
    `no passphrase: pass --passphrase-file or set ${src.envVar ?? 'FEDMESH_PASSPHRASE'}`,
    {},
  );
}
