// The options every command that logs in to a host validates alike: address, account, credentials, host key.

import * as z from 'zod/mini';
import '../util/zod-messages.js';

/** Fields of an options schema (spread into its z.object). */
export const hostConnectionFields = {
  host: z.string().check(z.minLength(1)),
  port: z._default(z.int().check(z.gte(1), z.lte(65535)), 22),
  user: z._default(z.string().check(z.minLength(1)), 'root'),
  /** Resolved by the CLI from -p, -p -, --password-file, the environment or a prompt; never logged. */
  password: z.optional(z.string()),
  identityFile: z.optional(z.string()),
  hostKey: z.optional(z.string().check(z.regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'a fingerprint like SHA256:<43 base64 characters>, as ssh-keygen -lf prints it'))),
  knownHosts: z.optional(z.string()),
  acceptNewHostKey: z._default(z.boolean(), false),
  commandSet: z._default(z.enum(['auto', 'vim-cmd', 'vmware-cmd']), 'auto'),
};
