/**
 * What a pool request of Node's own is: its kind (`fs.stat`, `dns.lookup`, `crypto.pbkdf2`,
 * `zlib`, ...) from its async_hooks resource type (seen by a hook, or read from the resource
 * with getProviderType()), refined by the resource's class where one type covers several
 * operations; for fs, the operation is the name of the fs binding function that made the
 * request (fs-requests.ts). Stateless.
 * @internal
 * @module
 */

/** async_hooks resource types of requests that run on libuv's pool, with their kind. */
const KIND_BY_TYPE: Readonly<Record<string, string>> = {
  FSREQCALLBACK: 'fs',
  FSREQPROMISE: 'fs',
  FILEHANDLECLOSEREQ: 'fs.close',
  GETADDRINFOREQWRAP: 'dns.lookup',
  GETNAMEINFOREQWRAP: 'dns.lookupService',
  ZLIB: 'zlib',
  PBKDF2REQUEST: 'crypto.pbkdf2',
  SCRYPTREQUEST: 'crypto.scrypt',
  RANDOMBYTESREQUEST: 'crypto.randomBytes',
  RANDOMPRIMEREQUEST: 'crypto.generatePrime',
  CHECKPRIMEREQUEST: 'crypto.checkPrime',
  HKDFREQUEST: 'crypto.hkdf',
  KEYPAIRGENREQUEST: 'crypto.generateKeyPair',
  KEYGENREQUEST: 'crypto.generateKey',
  SIGNREQUEST: 'crypto.sign',
  HASHREQUEST: 'crypto.digest',
  CIPHERREQUEST: 'crypto.cipher',
  DERIVEBITSREQUEST: 'crypto.deriveBits',
};

/** Classes of DERIVEBITSREQUEST jobs that are a node:crypto function of their own. */
const DERIVE_BITS_BY_CLASS: Readonly<Record<string, string>> = {
  HKDFJob: 'crypto.hkdf',
  PBKDF2Job: 'crypto.pbkdf2',
  ScryptJob: 'crypto.scrypt',
};

/**
 * The kind of a request of type `type`, or undefined when the type is not a pool request.
 * Crypto job types Node adds later (`*REQUEST` resources whose class is a `*Job`) are named
 * after their class.
 */
export function kindOf(type: string, resource: object): string | undefined {
  const known = KIND_BY_TYPE[type];
  const name = resource.constructor?.name;
  if (known !== undefined) {
    if (type === 'DERIVEBITSREQUEST') return DERIVE_BITS_BY_CLASS[name] ?? known;
    // Node 26 reads a whole file in one request of class ReadFileJob.
    if (type === 'FSREQCALLBACK' && isJobClass(name)) return `fs.${operationOfJob(name)}`;
    return known;
  }
  if (!type.endsWith('REQUEST') || type.startsWith('HTTP') || !isJobClass(name)) return undefined;
  return `crypto.${operationOfJob(name)}`;
}

const isJobClass = (name: unknown): name is string => typeof name === 'string' && name.length > 3 && name.endsWith('Job');
/** `ReadFileJob` -> `readFile`, `RandomPrimeJob` -> `randomPrime`. */
const operationOfJob = (name: string) => `${name.charAt(0).toLowerCase()}${name.slice(1, -3)}`;

/** Binding functions whose name is not the operation users know. */
const FS_OPERATION_ALIASES: Readonly<Record<string, string>> = {
  writeBuffer: 'write',
  writeBuffers: 'write',
  writeString: 'write',
  readBuffers: 'read',
  openFileHandle: 'open',
};

/** The fs operation a function of Node's fs binding performs (`writeString` -> `write`). */
export function fsOperationOf(bindingFunction: string): string {
  return FS_OPERATION_ALIASES[bindingFunction] ?? bindingFunction;
}
