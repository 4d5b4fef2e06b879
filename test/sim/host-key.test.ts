// The simulator's ed25519 key pairs are always readable by ssh2 (its generator alone fails about 1 in 256).

import { utils } from 'ssh2';
import { describe, expect, it } from 'vitest';
import { generateEd25519KeyPair } from '../../src/sim/host-key.js';

describe('generateEd25519KeyPair', () => {
  it('makes only pairs whose public and private keys parse back, over enough pairs to meet the bad case', () => {
    // With one bad pair in 256, 3000 pairs contain one with probability 1 - (255/256)^3000 > 0.99999.
    for (let i = 0; i < 3000; i++) {
      const pair = generateEd25519KeyPair();
      const publicKey = utils.parseKey(pair.public);
      const privateKey = utils.parseKey(pair.private);
      if (publicKey instanceof Error || privateKey instanceof Error) {
        expect.fail(`pair ${i} does not parse: ${String(publicKey instanceof Error ? publicKey.message : '')} ${String(privateKey instanceof Error ? privateKey.message : '')}`);
      }
      const parsed = Array.isArray(publicKey) ? publicKey[0]! : publicKey;
      expect(parsed.getPublicSSH().length).toBe(51); // 4+11 ("ssh-ed25519") + 4+32
    }
  });

  it('keeps a passphrase-protected private key readable with its passphrase', () => {
    const pair = generateEd25519KeyPair({ passphrase: 'secret', cipher: 'aes256-ctr', rounds: 4 });
    expect(utils.parseKey(pair.private, 'secret')).not.toBeInstanceOf(Error);
    expect(utils.parseKey(pair.private)).toBeInstanceOf(Error);
  });
});
