#!/usr/bin/env node
// A small CLI over the AWS Encryption SDK for JavaScript (@aws-crypto/client-node), the peer that
// proves our backup format (docs/backups.md): it must decrypt what module_utils/envelope writes, and
// envelope must decrypt what it writes.
//
//   node esdk.js encrypt|decrypt KEYRING [--context k=v ...] [--frame-length N] < in > out
//   KEYRING is either
//     --raw-aes-key-file F --key-namespace NS --key-name NAME   (F holds the 32 raw key bytes)
//       [--default-sorting]   (the keyring's own default AAD order, localeCompare, as a
//                              user's script would build it; else utf8Sorting: true)
//   or
//     --kms-key-arn ARN [--kms-endpoint URL]    (credentials and region from AWS_* env;
//                                                the endpoint, when given, replaces AWS's)
//
// Encryption always uses algorithm suite 0x0478 (AES-256-GCM, HKDF-SHA512, key commitment, no
// signature) under REQUIRE_ENCRYPT_REQUIRE_DECRYPT: the only suite our format writes. Decryption
// accepts only unsigned messages (decryptUnsignedMessageStream) and, when --context is given,
// checks that every pair is in the message's encryption context; the context found is printed
// on stderr as one JSON line ("context: {...}").
'use strict'

const fs = require('fs')
const { pipeline } = require('stream')
const {
  AlgorithmSuiteIdentifier,
  CommitmentPolicy,
  KmsKeyringNode,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
  buildClient,
  getClient,
  KMS,
} = require('@aws-crypto/client-node')

function usage (msg) {
  process.stderr.write(`esdk.js: ${msg}\n` +
    'usage: node esdk.js encrypt|decrypt (--raw-aes-key-file F --key-namespace NS --key-name NAME |' +
    ' --kms-key-arn ARN [--kms-endpoint URL]) [--context k=v ...] [--frame-length N] < in > out\n')
  process.exit(2)
}

function parseArgs (argv) {
  const opts = { context: {} }
  opts.op = argv[0]
  if (opts.op !== 'encrypt' && opts.op !== 'decrypt') usage('first argument must be encrypt or decrypt')
  for (let i = 1; i < argv.length; i++) {
    const name = argv[i]
    if (name === '--default-sorting') {
      opts.defaultSorting = true
      continue
    }
    const value = argv[++i]
    if (value === undefined) usage(`${name} needs a value`)
    switch (name) {
      case '--raw-aes-key-file': opts.keyFile = value; break
      case '--key-namespace': opts.keyNamespace = value; break
      case '--key-name': opts.keyName = value; break
      case '--kms-key-arn': opts.kmsKeyArn = value; break
      case '--kms-endpoint': opts.kmsEndpoint = value; break
      case '--frame-length': opts.frameLength = parseInt(value, 10); break
      case '--context': {
        const eq = value.indexOf('=')
        if (eq < 1) usage('--context takes k=v')
        opts.context[value.slice(0, eq)] = value.slice(eq + 1)
        break
      }
      default: usage(`unknown option ${name}`)
    }
  }
  return opts
}

function keyring (opts) {
  if (opts.keyFile) {
    if (!opts.keyNamespace || !opts.keyName) usage('--raw-aes-key-file needs --key-namespace and --key-name')
    const key = fs.readFileSync(opts.keyFile)
    if (key.length !== 32) usage(`${opts.keyFile}: expected 32 bytes, found ${key.length}`)
    // utf8Sorting: the keyring's AAD is the context sorted by UTF-8 bytes, as the message header
    // and the other ESDK languages sort it (the JS default, localeCompare, differs for some keys:
    // aws-encryption-sdk-javascript issue 428).
    const input = {
      keyName: opts.keyName,
      keyNamespace: opts.keyNamespace,
      unencryptedMasterKey: new Uint8Array(key),
      wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
    }
    if (!opts.defaultSorting) input.utf8Sorting = true
    return new RawAesKeyringNode(input)
  }
  if (opts.kmsKeyArn) {
    const config = {}
    if (opts.kmsEndpoint) config.endpoint = opts.kmsEndpoint
    const clientProvider = getClient(KMS, config)
    return new KmsKeyringNode({ generatorKeyId: opts.kmsKeyArn, keyIds: [], clientProvider })
  }
  usage('give --raw-aes-key-file or --kms-key-arn')
}

function main () {
  const opts = parseArgs(process.argv.slice(2))
  const ring = keyring(opts)
  const { encryptStream, decryptUnsignedMessageStream } =
    buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
  const done = (err) => {
    if (err) {
      process.stderr.write(`esdk.js: ${opts.op}: ${err.message}\n`)
      process.exit(1)
    }
  }
  if (opts.op === 'encrypt') {
    const suiteId = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY
    if (suiteId !== 0x0478) usage('this @aws-crypto/client-node has no suite 0x0478')
    const params = {
      suiteId,
      encryptionContext: opts.context,
    }
    if (opts.frameLength) params.frameLength = opts.frameLength
    pipeline(process.stdin, encryptStream(ring, params), process.stdout, done)
    return
  }
  const dec = decryptUnsignedMessageStream(ring)
  dec.once('MessageHeader', (header) => {
    const ctx = header.encryptionContext
    process.stderr.write(`context: ${JSON.stringify(ctx)}\n`)
    for (const [k, v] of Object.entries(opts.context)) {
      if (ctx[k] !== v) dec.destroy(new Error(`encryption context ${k}: expected ${v}, found ${ctx[k]}`))
    }
  })
  pipeline(process.stdin, dec, process.stdout, done)
}

main()
