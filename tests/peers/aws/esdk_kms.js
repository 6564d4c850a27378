// The AWS Encryption SDK for JavaScript (@aws-crypto/client-node, tests/peers/esdk) encrypts and
// decrypts with a KMS keyring whose KMS client points at the AWS peer: GenerateDataKey and
// Decrypt as the real SDK calls them (AWS SDK v3 signer, JSON 1.1).
//   node esdk_kms.js KEY_ARN   (AWS_PEER_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION set)
'use strict';
const path = require('path');
const esdkDir = path.join(__dirname, '..', 'esdk', 'node_modules');
const { buildClient, CommitmentPolicy, KmsKeyringNode, getClient, AlgorithmSuiteIdentifier } = require(path.join(esdkDir, '@aws-crypto/client-node'));
const { KMS } = require(path.join(esdkDir, '@aws-sdk/client-kms'));

async function main() {
  const keyArn = process.argv[2];
  const region = process.env.AWS_DEFAULT_REGION;
  const clientProvider = getClient(KMS, { endpoint: process.env.AWS_PEER_URL, region });
  const keyring = new KmsKeyringNode({ generatorKeyId: keyArn, clientProvider });
  const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const plaintext = Buffer.from('etcd snapshot bytes '.repeat(1000));
  const context = { cluster: 'proof', purpose: 'etcd-backup' };
  const { result } = await encrypt(keyring, plaintext, {
    encryptionContext: context,
    suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY, // 0x0478, our backups' suite
  });
  const { plaintext: back, messageHeader } = await decrypt(keyring, result);
  if (!back.equals(plaintext)) throw new Error('round trip differs');
  if (messageHeader.encryptionContext.cluster !== 'proof') throw new Error('context lost');
  if (messageHeader.suiteId !== 0x0478) throw new Error('suite ' + messageHeader.suiteId.toString(16));
  console.log('ok   ESDK encrypt+decrypt through the peer KMS (suite 0x0478, ' + result.length + ' bytes)');
}
main().catch((e) => { console.error('FAIL: ESDK through the peer KMS: ' + (e.stack || e)); process.exit(1); });
