/**
 * `fedmesh node init`: a keystore and a commented config template in one folder.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configTemplate } from '../config/node-config.js';
import { assertPassphraseStrength, createKeystore, DEFAULT_SCRYPT, type ScryptParams } from './keystore.js';

export interface InitResult {
  readonly dir: string;
  readonly peerId: string;
  readonly address: string;
  readonly configPath: string;
}

/**
 * Creates DIR/keystore and DIR/config.yaml. The passphrase must meet PASSPHRASE_RULE unless
 * `allowWeak` (the devnet's generated, throw-away passphrases).
 */
export async function initNodeDir(
  dir: string,
  passphrase: string,
  scrypt: ScryptParams = DEFAULT_SCRYPT,
  o: { readonly allowWeak?: boolean } = {},
): Promise<InitResult> {
  if (o.allowWeak !== true) assertPassphraseStrength(passphrase);
  const keys = await createKeystore(join(dir, 'keystore'), passphrase, scrypt);
  const configPath = join(dir, 'config.yaml');
  if (!existsSync(configPath)) {
    writeFileSync(configPath, configTemplate({ keystore: './keystore', peerId: keys.peerId, address: keys.wallet.address }), {
      mode: 0o600,
    });
  }
  return { dir, peerId: keys.peerId, address: keys.wallet.address, configPath };
}
