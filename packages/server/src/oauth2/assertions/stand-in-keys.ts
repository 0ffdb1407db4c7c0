// What an assertion is checked against when no registered key fits it (an unknown client, an
// unknown kid, an alg the client's keys do not sign with): one public key of each accepted type,
// so the signature check, the expensive step, costs what it costs for a known client and a bad
// signature (RFC 9700 §4; the secret methods' stand-in hash, oauth2/client-auth/secret.ts, is the
// same idea). Their private halves were discarded when they were made, and an assertion checked
// against one is refused whatever the check says.
//
// RSA costs grow with the modulus: the stand-in has 2048 bits, the size most keys have, so a
// client with a larger RSA key still takes longer than a stranger; the elliptic curves have one
// size per alg.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { jwsAlgorithmsFor } from '../../policy/key-types.ts';

const STAND_IN_PEMS: readonly string[] = [
  // ECDSA P-256
  `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE5o4VPBHdTFlzkrEj11dhMLPH/rEL
33jIh8aR4SOABVZQcaM9/WmcsZS6hIR6pnAOaW85j3zxwU7H2y5XUNJTtg==
-----END PUBLIC KEY-----`,
  // ECDSA P-384
  `-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEuuzQTEVDN0oNzxKuzY3w3UWqrTGQggyM
GowCw3psO2I8zU84/KcM5LLJJzydYfHMq6J12xYGyBmf9InXKUSsUcagX55FFHvI
SIBAELIXhGO1/DE5SC+y4fXMCATFf2dc
-----END PUBLIC KEY-----`,
  // Ed25519
  `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEADxAapULgyiShgEXLDupwSK4Uvp5ql/j8FONirmzi1Ww=
-----END PUBLIC KEY-----`,
  // RSA 2048
  `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAlne50+61kgaaxlRV7L1B
kLVpB/+jaH9tUhFFkZt4Rhig88aO1pf62GeIAC37DNKYpHbAPU/rY5kEazwsZ2aj
ghzDb4buYNJOUGW9lMIs8N6qeCgv5T4P7iaUka+NrqqYham4AnUI2qcrTwYbT2MA
0scYxeruS09T1LALFCp4BIyJ/6Hc8hh5mi2PO0uASVHZMhfFmd/+CEbNhM2L8TVF
26YmtFYYJA7ANwKIfis9S2xiW8B0AyU9vJ1JzzAUT6UE2eKHEmEx1u+kN/fZBBWI
Ad6HzOtDEos008Vqhne12NnaYQLk4kjP7yxJVWwldMIoZuCRbzeFG+ecJ+JffFsY
iQIDAQAB
-----END PUBLIC KEY-----`,
];

const STAND_INS: readonly KeyObject[] = STAND_IN_PEMS.map((pem) => createPublicKey(pem));

/** The stand-in that checks `alg` (one of JWS_ALGORITHMS; the key-types table decides which). */
export function standInKey(alg: string): KeyObject {
  const key = STAND_INS.find((candidate) => jwsAlgorithmsFor(candidate).includes(alg));
  if (key === undefined) throw new Error(`no stand-in key checks alg ${alg}; add one of its key type`);
  return key;
}
